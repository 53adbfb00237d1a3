"""The clock's ticks through the real processor and SQLite store (R11, issue 14's midnight burst):
what a tick writes as the pair's next change — worked out while the tick still has it at hand, not
again at the batch's end — is what the rules say of the state written, also when a later item of
the same batch changes the pair again."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from adapter.bootstrap import default_settings, processor
from adapter.domain.engine import next_change
from adapter.domain.model import Service
from adapter.domain.state import PairState
from adapter.messages.builders import absence_registered
from adapter.service.commands import Work
from adapter.store import open_store
from adapter.store.base import Store

from ..api.support import scenario, write_steps

OSLO = dt.timezone(dt.timedelta(hours=1))
OFFICE, GP = 8141333, "9144900"
LAST_STEP = dt.datetime(2023, 12, 20, 15, 5, tzinfo=OSLO)
ABSENCE_BEGINS = dt.datetime(2023, 12, 22, 0, 0, tzinfo=OSLO)
#: R3: a second absence right after the scenario's first extends its run to 5 January
LONGER = absence_registered(
    absence_id="5b0c7a7e-3f2d-4d8e-9a51-0d3c6f0f2b11",
    office_her_id=OFFICE,
    practitioner_hpr=GP,
    from_date=dt.date(2024, 1, 2),
    to_date=dt.date(2024, 1, 5),
    services=list(Service),
    registered_at=ABSENCE_BEGINS,
)


async def stored(store: Store) -> tuple[PairState, dt.datetime | None]:
    async with store.transaction() as tx:
        text, next_change_at = (await tx.get_pair_rows([(OFFICE, GP)]))[(OFFICE, GP)]
    return PairState.from_json(text), next_change_at


async def test_r11_a_tick_writes_the_next_change_of_the_state_it_wrote(tmp_path: Path):
    store = await open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        clock = await write_steps(store, scenario(), until=LAST_STEP)
        assert await store.next_due() == ABSENCE_BEGINS
        keys = await store.due_pairs(ABSENCE_BEGINS, 512)
        assert (OFFICE, GP) in keys
        clock.set(ABSENCE_BEGINS)
        service = processor(store, default_settings(http_port=None), clock)
        done = await service.process([Work(kind="tick", key=key, until=ABSENCE_BEGINS) for key in keys])
        assert all(d.ok for d in done) and sum(d.events for d in done) >= 1  # the absence closed the services
        pair, next_change_at = await stored(store)
        assert pair.sequence >= 1 and pair.as_of == ABSENCE_BEGINS
        # R3/R10: the run ends on 1 January, so time alone changes the pair next on 2 January
        assert next_change_at == next_change(pair) == dt.datetime(2024, 1, 2, 0, 0, tzinfo=OSLO)
    finally:
        await store.close()


async def test_r11_a_pair_ticked_then_changed_in_one_batch_is_written_with_its_last_next_change(tmp_path: Path):
    store = await open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        clock = await write_steps(store, scenario(), until=LAST_STEP)
        clock.set(ABSENCE_BEGINS)
        service = processor(store, default_settings(http_port=None), clock)
        done = await service.process(
            [
                Work(kind="tick", key=(OFFICE, GP), until=ABSENCE_BEGINS),
                Work(kind="absence", body=json.dumps(LONGER).encode()),
            ]
        )
        assert all(d.ok for d in done), done
        pair, next_change_at = await stored(store)
        assert "5b0c7a7e-3f2d-4d8e-9a51-0d3c6f0f2b11" in pair.facts.absences
        # not the tick's 2 January: the absence item's state, whose run now ends on 5 January
        assert next_change_at == next_change(pair) == dt.datetime(2024, 1, 6, 0, 0, tzinfo=OSLO)
    finally:
        await store.close()
