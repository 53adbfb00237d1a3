"""A resync in the service layer against the real store (SQLite file, PostgreSQL): due clock changes
are published before a snapshot (R11), a resync walks the pairs in chunks that each commit, and one
interrupted resumes after its last committed chunk."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapter.bootstrap import default_settings, processor
from adapter.service import resync
from adapter.service.commands import ResyncRequest, Work
from adapter.store import Store, open_store
from adapter.worker.clock import ManualClock
from tests.api.support import expected_at, replayed_events, scenario, write_steps
from tests.support.synthetic import roster_xml, status_xml

OSLO = dt.timezone(dt.timedelta(hours=1))
OFFICE, GP = 8141333, "9144900"
LAST_STEP = dt.datetime(2023, 12, 20, 15, 5, tzinfo=OSLO)  # the absence is registered; nothing after
PORTAL = default_settings().portal_queue


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    url = (
        f"sqlite:///{tmp_path / 'store.sqlite3'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_schema_url")
    )
    opened = await open_store(url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(scope="module")
def replayed() -> list[dict[str, Any]]:
    return replayed_events()


async def _portal_events(store: Store) -> list[dict[str, Any]]:
    return [json.loads(row.body) for row in await store.outbox_pending(10_000) if row.routing_key == PORTAL]


def _request(request_id: str, office: int | None = None) -> Work:
    body = {"type": "resync.requested", "request_id": request_id, "office_her_id": office}
    return Work(kind="resync", body=json.dumps(body).encode())


async def test_r11_a_change_due_before_the_resync_is_published_first_and_the_snapshot_carries_its_sequence(
    store: Store, replayed: list[dict[str, Any]]
) -> None:
    """The absence began at midnight 12-22 and the clock has not ticked: the resync publishes that
    change (caused by the clock) and then the snapshot, with the change's sequence; the pair is
    saved ticked, so the clock has nothing left to publish."""
    await write_steps(store, scenario(), LAST_STEP)
    before = len(await _portal_events(store))
    at = dt.datetime(2023, 12, 27, 12, tzinfo=OSLO)
    service = processor(store, default_settings(http_port=None), ManualClock(at))
    (done,) = await service.process([_request("due-1")])
    assert done.ok and done.receipt is not None and done.receipt.status == "OK"

    new = (await _portal_events(store))[before:]
    assert [e["type"] for e in new] == ["availability.changed", "availability.snapshot", "resync.completed"]
    change, snapshot, completed = new
    assert change["caused_by"] == {"kind": "clock", "id": None}
    assert change["effective_at"] == "2023-12-22T00:00:00+01:00"
    assert snapshot["sequence"] == change["sequence"] == 3
    wanted = expected_at(replayed, OFFICE, GP, at)
    assert {f: snapshot[f] for f in wanted} == wanted
    assert completed["pairs"] == 1
    assert (await store.next_due()) > at  # type: ignore[operator]  # ticked and saved: nothing due


async def test_a_resync_walks_in_chunks_and_one_interrupted_resumes_after_its_last_committed_chunk(
    store: Store,
) -> None:
    """Chunks of one pair: the first commits, then the process "crashes"; meanwhile a message
    changes that first pair; the redelivered request resumes with the second pair (it does not
    snapshot the first again), and resync.completed counts every pair once."""
    office, hprs = 7001234, ("1000001", "1000002", "1000003")
    now = dt.datetime(2024, 3, 1, 9, tzinfo=OSLO)
    service = processor(store, default_settings(http_port=None), ManualClock(now))
    assert (await service.process([Work(kind="xml", body=roster_xml(office, hprs, msg_id="r", gen_date=now))]))[0].ok
    for n, hpr in enumerate(hprs):
        xml = status_xml(office, hpr, {"Dialog_Innbygger_Ekontakt": True}, msg_id=f"s{n}", gen_date=now)
        assert (await service.process([Work(kind="xml", body=xml)]))[0].ok
    request = ResyncRequest(type="resync.requested", request_id="chunks-1", office_her_id=office)

    def crash() -> None:
        raise RuntimeError("the process died after the first chunk's commit")

    with pytest.raises(RuntimeError):
        await resync.run(store, request, lambda: now, PORTAL, chunk=1, on_chunk=crash)
    async with store.transaction() as tx:
        assert await tx.get_meta(resync.progress_key("chunks-1")) is not None

    later = now + dt.timedelta(minutes=1)
    off = status_xml(office, hprs[0], {"Dialog_Innbygger_Ekontakt": False}, msg_id="off", gen_date=later)
    assert (await service.process([Work(kind="xml", body=off)]))[0].ok
    changes = [
        (e["practitioner_hpr"], e["sequence"])
        for e in await _portal_events(store)
        if e["type"] == "availability.changed"
    ]
    assert changes[-1] == (hprs[0], 2)  # the first pair changed after its snapshot
    done = await resync.run(store, request, lambda: now, PORTAL, chunk=1)
    assert done.ok and done.events == 3

    snapshots = [e for e in await _portal_events(store) if e["type"] == "availability.snapshot"]
    assert [(s["practitioner_hpr"], s["sequence"]) for s in snapshots] == [(hprs[0], 1), (hprs[1], 1), (hprs[2], 1)]
    completed = [e for e in await _portal_events(store) if e["type"] == "resync.completed"]
    assert [c["pairs"] for c in completed] == [3]
    async with store.transaction() as tx:
        assert await tx.get_meta(resync.progress_key("chunks-1")) is None  # forgotten once done

    again = await resync.run(store, request, lambda: now, PORTAL, chunk=1)
    assert again.receipt is not None and again.receipt.status == "DUPLICATE"
    assert len([e for e in await _portal_events(store) if e["type"] == "resync.completed"]) == 1


async def test_a_resync_between_two_messages_of_one_batch_sees_the_first_and_not_the_second(store: Store) -> None:
    """Between batches, never inside one: the batch is split around the request, in order."""
    office, hpr = 7001234, "1000001"
    now = dt.datetime(2024, 3, 1, 9, tzinfo=OSLO)
    service = processor(store, default_settings(http_port=None), ManualClock(now))
    assert (await service.process([Work(kind="xml", body=roster_xml(office, [hpr], msg_id="r", gen_date=now))]))[0].ok
    on = status_xml(office, hpr, {"Dialog_Innbygger_Ekontakt": True}, msg_id="on", gen_date=now)
    later = now + dt.timedelta(minutes=1)
    off = status_xml(office, hpr, {"Dialog_Innbygger_Ekontakt": False}, msg_id="off", gen_date=later)
    done = await service.process([Work(kind="xml", body=on), _request("mid-1"), Work(kind="xml", body=off)])
    assert [d.ok for d in done] == [True, True, True]
    events = [(e["type"], e.get("sequence")) for e in await _portal_events(store)]
    assert events == [
        ("availability.changed", 1),
        ("availability.snapshot", 1),
        ("resync.completed", None),
        ("availability.changed", 2),
    ]
