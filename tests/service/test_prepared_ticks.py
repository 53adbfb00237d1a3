"""Clock ticks worked out ahead of their midnight (`service.prepared`, issue 14's midnight burst):
a tick prepared from a pair's stored text publishes and stores exactly what the same tick worked
out at the midnight does (R11, R12), a pair changed after it was prepared is ticked from its new
state, and the prepared work is really what the midnight uses (the engine is not asked again)."""

from __future__ import annotations

import datetime as dt
import json
import weakref
from pathlib import Path

import pytest

from adapter.bootstrap import default_settings, processor
from adapter.domain import engine
from adapter.domain.state import OfficeState, PairState
from adapter.messages.portal import portal_message
from adapter.service.commands import Work
from adapter.service.prepared import PreparedTicks
from adapter.service.processor import Processor
from adapter.service.timeline import event_entry
from adapter.store import open_store
from adapter.store.base import PairKey, Store
from adapter.worker.clock import ManualClock

from ..api.support import scenario, write_steps
from .test_ticks import ABSENCE_BEGINS, GP, LAST_STEP, LONGER, OFFICE, OSLO


async def written(tmp_path: Path, name: str) -> tuple[Store, ManualClock, Processor, list[PairKey]]:
    """The scenario's store up to the day before the absence begins, and the pairs due then."""
    store = await open_store(f"sqlite:///{tmp_path / name}")
    clock = await write_steps(store, scenario(), until=LAST_STEP)
    assert await store.next_due() == ABSENCE_BEGINS
    keys = await store.due_pairs(ABSENCE_BEGINS, 512)
    assert (OFFICE, GP) in keys
    return store, clock, processor(store, default_settings(http_port=None), clock), keys


async def outcome(store: Store, keys: list[PairKey]) -> tuple[list[tuple[object, ...]], dict[PairKey, object], object]:
    """What a run left to publish (in order) and stored: outbox rows, the pairs' rows, the office."""
    rows = [
        (r.routing_key, r.message_id, r.body, r.headers, r.content_type) for r in await store.outbox_pending(10_000)
    ]
    async with store.transaction() as tx:
        pairs = await tx.get_pair_rows(keys)
        office = await tx.get_office(OFFICE)
    return rows, dict(pairs), office


async def midnight(service: Processor, clock: ManualClock, keys: list[PairKey], *before: Work) -> None:
    clock.set(ABSENCE_BEGINS)
    works = [*before, *(Work(kind="tick", key=key, until=ABSENCE_BEGINS) for key in keys)]
    done = await service.process(works)
    assert all(d.ok for d in done), done


@pytest.mark.parametrize("changed_meanwhile", [False, True], ids=["unchanged", "changed after preparing"])
async def test_r11_r12_a_prepared_midnight_publishes_and_stores_what_an_unprepared_one_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changed_meanwhile: bool
):
    plain, plain_clock, plain_service, keys = await written(tmp_path, "plain.sqlite3")
    ahead, ahead_clock, ahead_service, ahead_keys = await written(tmp_path, "ahead.sqlite3")
    before = [Work(kind="absence", body=json.dumps(LONGER).encode())] if changed_meanwhile else []
    try:
        await midnight(plain_service, plain_clock, keys, *before)

        ahead_clock.set(ABSENCE_BEGINS - dt.timedelta(seconds=60))
        assert await ahead_service.prepare_ticks(ABSENCE_BEGINS, ahead_keys) == len(ahead_keys)
        ticks: list[PairKey] = []
        original = engine.tick

        def tick(pair: PairState, now: dt.datetime) -> tuple[PairState, list[engine.Event]]:
            ticks.append(pair.key)
            return original(pair, now)

        monkeypatch.setattr(engine, "tick", tick)
        await midnight(ahead_service, ahead_clock, ahead_keys, *before)

        expected = await outcome(plain, keys)
        assert any(b'"availability.changed"' in row[2] for row in expected[0])  # R11: the absence closed it
        assert await outcome(ahead, ahead_keys) == expected
        # unchanged, every tick was the prepared one; the changed pair was ticked from its new state
        assert ticks == ([(OFFICE, GP)] if changed_meanwhile else [])
    finally:
        await plain.close()
        await ahead.close()


async def test_prepared_ticks_are_of_one_instant_and_found_only_for_the_pair_decoded_from_their_text(
    tmp_path: Path,
):
    store, _, _, _ = await written(tmp_path, "store.sqlite3")
    async with store.transaction() as tx:
        text = (await tx.get_pair_rows([(OFFICE, GP)]))[(OFFICE, GP)][0]
        office_text = await tx.get_office(OFFICE)
    assert office_text is not None
    await store.close()
    prepared = PreparedTicks()
    prepared.add(ABSENCE_BEGINS, text, "portal")
    pair = prepared.decode(text)
    entry = prepared.of(pair, ABSENCE_BEGINS)
    assert entry is not None and entry.pair is pair
    ticked, events = engine.tick(PairState.from_json(text), ABSENCE_BEGINS)
    assert (entry.ticked.to_json(), [e.model_dump_json() for e in entry.events]) == (
        ticked.to_json(),
        [e.model_dump_json() for e in events],
    )
    assert entry.next_change == engine.next_change(ticked) == dt.datetime(2024, 1, 2, 0, 0, tzinfo=OSLO)
    assert prepared.text_of(entry.ticked) == entry.ticked_text == ticked.to_json()
    assert prepared.text_of(ticked) == ticked.to_json()  # not prepared: written when asked
    assert prepared.of(pair, ABSENCE_BEGINS + dt.timedelta(days=1)) is None  # another instant
    assert prepared.of(prepared.decode(text + " "), ABSENCE_BEGINS) is None  # another text: decoded anew
    assert prepared.of(PairState.from_json(text), ABSENCE_BEGINS) is None  # an equal, other object
    (event,) = entry.events
    message, timeline_entry = prepared.published(event, "portal", timeline=True)
    assert message == portal_message(event, "portal") and timeline_entry == event_entry(event)
    assert prepared.published(event, "portal", timeline=False) == (message, None)  # a replay keeps none
    assert prepared.published(event, "other", timeline=True)[0] == portal_message(event, "other")
    assert prepared.office(office_text) is not prepared.office(office_text)  # not decoded ahead: each time anew
    prepared.add_office(ABSENCE_BEGINS, office_text, "portal")
    office = prepared.office(office_text)
    assert office is prepared.office(office_text) and office.to_json() == OfficeState.from_json(office_text).to_json()
    prepared.add(ABSENCE_BEGINS + dt.timedelta(days=1), text, "portal")  # another midnight: the first forgotten
    assert prepared.of(pair, ABSENCE_BEGINS) is None and len(prepared) == 1
    assert prepared.office(office_text) is not office
    full = PreparedTicks()
    full.LIMIT = 0  # bounded memory: past the limit a pair is ticked when due, as without preparing
    full.add(ABSENCE_BEGINS, text, "portal")
    assert len(full) == 0 and full.of(full.decode(text), ABSENCE_BEGINS) is None


async def test_forgotten_ticks_are_found_no_more_at_once_and_their_memory_goes_in_the_steps(tmp_path: Path):
    store, _, _, _ = await written(tmp_path, "store.sqlite3")
    async with store.transaction() as tx:
        text = (await tx.get_pair_rows([(OFFICE, GP)]))[(OFFICE, GP)][0]
    await store.close()
    prepared = PreparedTicks()
    prepared.add(ABSENCE_BEGINS, text, "portal")
    entry = prepared.of(prepared.decode(text), ABSENCE_BEGINS)
    assert entry is not None
    (event,) = entry.events
    assert prepared.messages() == [portal_message(event, "portal")]
    alive = weakref.ref(entry)
    del entry

    steps = prepared.forget(step=1)
    assert len(prepared) == 0 and prepared.at is None and prepared.messages() == []
    again = prepared.decode(text)
    assert prepared.of(again, ABSENCE_BEGINS) is None  # forgotten at once: decoded anew, not prepared
    assert alive() is not None  # its memory not let go yet
    assert sum(1 for _ in steps) >= 4  # one entry a step: each of its dicts' entries
    assert alive() is None

    prepared.add(ABSENCE_BEGINS, text, "portal")  # a new preparation is not touched by letting go
    kept = prepared.forget()
    assert len(prepared) == 0
    del kept  # dropped unstepped: let go at once
    prepared.add(ABSENCE_BEGINS, text, "portal")
    prepared.clear()
    assert len(prepared) == 0 and prepared.at is None
