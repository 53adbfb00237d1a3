"""The issue's race through the real service: two processors on two connections, two different
status messages for a practitioner with no stored pair (nor office row) yet, both reading "no
pair" before either writes. The store refuses to let the second overwrite the first's new row (StoreContention); the
batch is run again (retry_on_contention) and then sees it: two events, sequences 1 and 2, each id
minted once, the second carrying both messages, both answered OK.

The service layer locks a batch's offices first (Transaction.lock_offices), so the two never
read "no pair" together; this test skips that lock and holds them together on purpose to pin the
store's second line, and the processor's own retry (Processor.on_contention counts it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from adapter.domain.model import Practitioner
from adapter.service.handlers import Routing
from adapter.service.processor import Processor, Work
from adapter.store import PairKey, Store, StoreContention, open_store
from tests.support.synthetic import status_xml

pytestmark = pytest.mark.postgres

OFFICE, HPR = 8141333, "9144900"
NOW = dt.datetime(2024, 1, 2, 12, tzinfo=dt.UTC)


class ReadTogether:
    """A store whose first transaction waits, after reading pairs, until the other store's first
    transaction has read them too: the interleaving of two replicas, every time."""

    def __init__(self, store: Store, barrier: asyncio.Barrier) -> None:
        self._store = store
        self._barrier = barrier
        self._first = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self._store.transaction() as tx:
            yield _Tx(tx, self)


class _Tx:
    def __init__(self, tx: Any, owner: ReadTogether) -> None:
        self._tx = tx
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    async def lock_offices(self, office_her_ids: Iterable[int]) -> None:
        """Skipped: without the first line, both read "no pair" (what the barrier arranges)."""

    async def get_pairs(self, keys: Iterable[PairKey]) -> dict[PairKey, str]:
        found: dict[PairKey, str] = await self._tx.get_pairs(keys)
        if self._owner._first:
            self._owner._first = False
            await asyncio.wait_for(self._owner._barrier.wait(), timeout=10)
        return found


async def test_two_first_messages_for_a_new_pair_on_two_replicas_make_two_events(postgres_schema_url: str) -> None:
    a, b = await open_store(postgres_schema_url), await open_store(postgres_schema_url)
    try:
        routing = Routing()
        gen = NOW - dt.timedelta(hours=1)
        # No office row either: its practitioners come from the directory (R13), as in the issue.
        directory = {OFFICE: {HPR: Practitioner(hpr=HPR, role="6")}}
        barrier = asyncio.Barrier(2)
        retried: list[StoreContention] = []
        first, second = (
            Processor(ReadTogether(s, barrier), routing, lambda: NOW, directory, on_contention=retried.append)  # type: ignore[arg-type]
            for s in (a, b)
        )
        booking = status_xml(
            OFFICE, HPR, {"Dialog_Innbygger_Timereservasjon": True}, msg_id="m1", gen_date=gen, complete=False, ack="J"
        )
        renewal = status_xml(
            OFFICE, HPR, {"Dialog_Innbygger_Reseptfornyelse": True}, msg_id="m2", gen_date=gen, complete=False, ack="J"
        )
        results = await asyncio.gather(
            first.process([Work(kind="xml", body=booking)]), second.process([Work(kind="xml", body=renewal)])
        )
        assert len(retried) == 1  # one of the two found its new row taken, and ran again
        assert [(d.ok, d.receipt and d.receipt.status) for (d,) in results] == [(True, "OK"), (True, "OK")]
        rows = await a.outbox_pending(100)
        published = [json.loads(row.body) for row in rows if row.routing_key == routing.portal_queue]
        events = [e for e in published if e["type"] == "availability.changed"]
        assert [(e["event_id"], e["sequence"]) for e in events] == [(f"{OFFICE}-{HPR}-1", 1), (f"{OFFICE}-{HPR}-2", 2)]
        # Bestill time on makes the GP bookable: one booking list, whichever replica went first
        lists = [e for e in published if e["type"] == "office.practitioners.changed"]
        assert [(e["event_id"], [p["hpr"] for p in e["practitioners"]]) for e in lists] == [
            (f"{OFFICE}-practitioners-1", [HPR])
        ]
        last = events[-1]["services"]
        assert (last["TIMEBESTILLING"]["status"], last["RESEPTFORNYELSE"]["status"]) == ("AVAILABLE", "AVAILABLE")
        apprecs = [row.message_id for row in rows if row.routing_key == routing.receipts_queue(OFFICE)]
        assert sorted(apprecs) == ["apprec-m1", "apprec-m2"]
    finally:
        await a.close()
        await b.close()
