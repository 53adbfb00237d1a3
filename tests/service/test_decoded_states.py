"""Stored states decoded once per text and kept across batches (`service/decoded.py`, issue 14):
a batch is handed a remembered state only for the very text it read in its own transaction, so
another replica's writes on the same store, a resync's and a rolled-back attempt's are all seen
exactly as decoding every batch would see them (R12: sequences and event ids never repeat)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapter.bootstrap import default_settings, processor
from adapter.domain.state import OfficeState
from adapter.service.commands import Work
from adapter.service.decoded import ByText
from adapter.service.processor import Processor
from adapter.store import Store, open_store
from adapter.worker.clock import ManualClock
from tests.support.synthetic import BOOKING_LISTS, roster_xml, status_xml

from .test_resync import _absence, _request

OSLO = dt.timezone(dt.timedelta(hours=1))
OFFICE = 7001234
GP1, GP2, GP3 = "1000001", "1000002", "1000003"
NOW = dt.datetime(2024, 3, 1, 9, tzinfo=OSLO)
TAKEN = NOW + dt.timedelta(minutes=10)  # the workers' clock: after every message's GenDate
PORTAL = default_settings().portal_queue
BOOKING = "Dialog_Innbygger_Timereservasjon"


# -- the map itself --------------------------------------------------------------------------------


class Counting:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, text: str) -> tuple[str]:
        self.texts.append(text)
        return (text,)


def test_the_same_text_is_decoded_once_and_a_different_one_again() -> None:
    decode = Counting()
    texts: ByText[str, tuple[str]] = ByText(decode, size=4)
    first = texts.decoded("a", "one")
    assert texts.decoded("a", "o" + "ne") is first  # an equal text read again: the very state
    assert texts.decoded("a", "two") == ("two",)  # another writer's text: decoded, not remembered
    assert texts.decoded("a", "one") == ("one",) and decode.texts == ["one", "two", "one"]


def test_the_least_recently_used_key_is_forgotten_first_and_the_size_is_kept() -> None:
    decode = Counting()
    texts: ByText[str, tuple[str]] = ByText(decode, size=2)
    texts.decoded("a", "A")
    texts.decoded("b", "B")
    texts.decoded("a", "A")  # used: b is now the least recent
    texts.decoded("c", "C")
    assert len(texts) == 2
    texts.decoded("a", "A")
    assert decode.texts == ["A", "B", "C"]  # a was kept
    texts.decoded("b", "B")
    assert decode.texts == ["A", "B", "C", "B"]  # b was forgotten


def test_a_text_that_does_not_decode_leaves_nothing_remembered() -> None:
    texts: ByText[int, OfficeState] = ByText(OfficeState.from_json, size=2)
    with pytest.raises(ValueError):
        texts.decoded(1, "{not json")
    assert len(texts) == 0


# -- through the processor, on a real store ----------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@pytest.fixture
async def stores(store_url: str) -> AsyncIterator[list[Store]]:
    """Two writers of one database: on PostgreSQL two stores (two replicas' connections); a SQLite
    store serves one process, so there both writers share it (each processor has its own states)."""
    first = await open_store(store_url)
    second = await open_store(store_url) if store_url.startswith("postgresql") else first
    try:
        yield [first, second]
    finally:
        await first.close()
        if second is not first:
            await second.close()


def _status(hpr: str, on: bool, msg_id: str, minute: int, day: dt.datetime = NOW) -> bytes:
    """Bestill time on or off, written `minute` minutes into `day` (R1: later reports win)."""
    return status_xml(OFFICE, hpr, {BOOKING: on}, msg_id=msg_id, gen_date=day + dt.timedelta(minutes=minute))


async def _portal_events(store: Store) -> list[dict[str, Any]]:
    return [json.loads(row.body) for row in await store.outbox_pending(10_000) if row.routing_key == PORTAL]


async def _take(service: Processor, body: bytes, kind: str = "xml") -> None:
    (done,) = await service.process([Work(kind=kind, body=body)])
    assert done.ok and done.receipt is not None and done.receipt.status == "OK", done


#: (which replica takes it, the message): each replica has read the office and every pair before
#: the other one changes them, so a state remembered by key alone would be stale.
TURNS = [
    (0, roster_xml(OFFICE, (GP1, GP2, GP3), msg_id="roster", gen_date=NOW)),
    (0, _status(GP1, True, "gp1-on", 1)),
    (0, _status(GP2, True, "gp2-on", 2)),
    (1, _status(GP3, True, "gp3-on", 3)),  # the second replica: reads what the first wrote
    (1, _status(GP1, False, "gp1-off", 4)),
    (0, _status(GP2, False, "gp2-off", 5)),  # the first again: GP1's pair and the office changed meanwhile
    (1, _status(GP1, True, "gp1-on-again", 6)),
    (0, _status(GP3, False, "gp3-off", 7)),
]


async def test_r12_two_replicas_changing_one_office_publish_what_one_worker_would(
    stores: list[Store], tmp_path: Path
) -> None:
    """Two processors on one store, each keeping its decoded states, take turns at one office's
    practitioners: every event is the one a single worker on a store of its own publishes — each
    booking list from every pair as the store holds it, sequences 1, 2, 3 … with no id twice."""
    replicas = [processor(store, default_settings(http_port=None), ManualClock(TAKEN)) for store in stores]
    for replica, body in TURNS:
        await _take(replicas[replica], body)
    shared = await _portal_events(stores[0])

    alone = await open_store(f"sqlite:///{tmp_path / 'alone.sqlite3'}")
    try:
        single = processor(alone, default_settings(http_port=None), ManualClock(TAKEN))
        for _, body in TURNS:
            await _take(single, body)
        assert shared == await _portal_events(alone)
    finally:
        await alone.close()

    lists = [e for e in shared if e["type"] == BOOKING_LISTS]
    assert [(e["sequence"], [p["hpr"] for p in e["practitioners"]]) for e in lists] == [
        (1, [GP1]),
        (2, [GP1, GP2]),
        (3, [GP1, GP2, GP3]),
        (4, [GP2, GP3]),
        (5, [GP3]),
        (6, [GP1, GP3]),
        (7, [GP1]),
    ]
    assert len({e["event_id"] for e in shared}) == len(shared)
    assert all(len(replica.decoded.offices) == 1 for replica in replicas)  # both did remember


async def test_r11_a_resync_between_batches_is_seen_by_the_next_batch_of_the_same_worker(stores: list[Store]) -> None:
    """A resync writes the office's list and the pairs it ticks in transactions of its own: the
    processor's next batch, which had remembered both as they were, reads the resync's texts."""
    clock = ManualClock(TAKEN)
    service = processor(stores[0], default_settings(http_port=None), clock)
    await _take(service, roster_xml(OFFICE, (GP1, GP2), msg_id="roster", gen_date=NOW))
    await _take(service, _status(GP1, True, "gp1-on", 1))
    await _take(service, _status(GP2, True, "gp2-on", 2))
    absence = _absence(OFFICE, GP1, dt.date(2024, 3, 2), dt.date(2024, 3, 5), NOW)
    await _take(service, absence.body, kind="absence")
    # remembered: the office and both pairs' published parts, as written
    assert len(service.decoded.offices) == 1 and len(service.decoded.published) == 2

    clock.set(dt.datetime(2024, 3, 2, 12, tzinfo=OSLO))  # GP1's absence began; nothing ticked it
    (done,) = await service.process([_request("due", OFFICE)])
    assert done.ok
    await _take(service, _status(GP2, False, "gp2-off", 5, day=dt.datetime(2024, 3, 2, 12, tzinfo=OSLO)))

    lists = [e for e in await _portal_events(stores[0]) if e["type"] == BOOKING_LISTS]
    assert [(e["sequence"], [p["hpr"] for p in e["practitioners"]], e["caused_by"]["kind"]) for e in lists] == [
        (1, [GP1], "message"),
        (2, [GP1, GP2], "message"),
        (3, [GP2], "clock"),  # the resync's: GP1 closed at midnight (R3)
        (4, [], "message"),  # after it, not a second 3
    ]


async def test_r12_states_written_by_a_batch_that_did_not_commit_are_not_seen_by_the_next(
    stores: list[Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch hands what it writes to the next batch that reads the very same text; when its
    commit fails, the store still holds the earlier text, and that is what the next batch reads."""
    store = stores[0]
    service = processor(store, default_settings(http_port=None), ManualClock(TAKEN))
    await _take(service, roster_xml(OFFICE, (GP1, GP2), msg_id="roster", gen_date=NOW))
    await _take(service, _status(GP1, True, "gp1-on", 1))
    committing = store.transaction

    @asynccontextmanager
    async def rolled_back() -> AsyncIterator[Any]:  # the batch is written, then its commit fails
        async with committing() as tx:
            yield tx
            raise RuntimeError("the commit failed")

    monkeypatch.setattr(store, "transaction", rolled_back)
    with pytest.raises(RuntimeError, match="the commit failed"):
        await _take(service, _status(GP1, False, "gp1-off", 2))  # written, remembered, rolled back
    monkeypatch.undo()
    await _take(service, _status(GP2, True, "gp2-on", 3))

    lists = [e for e in await _portal_events(stores[0]) if e["type"] == BOOKING_LISTS]
    assert [(e["sequence"], [p["hpr"] for p in e["practitioners"]]) for e in lists] == [
        (1, [GP1]),
        (2, [GP1, GP2]),  # GP1 as committed: still bookable
    ]
