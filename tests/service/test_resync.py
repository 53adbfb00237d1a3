"""A resync in the service layer against the real store (SQLite file, PostgreSQL): due clock changes
are published before a snapshot (R11), of a pair and of an office's booking list, a resync walks
the pairs and then the offices in chunks that each commit, and one interrupted resumes after its
last committed chunk."""

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
    assert [e["type"] for e in new] == [
        "availability.changed",
        "availability.snapshot",
        "office.practitioners.snapshot",
        "resync.completed",
    ]
    change, snapshot, listed, completed = new
    assert change["caused_by"] == {"kind": "clock", "id": None}
    assert change["effective_at"] == "2023-12-22T00:00:00+01:00"
    assert snapshot["sequence"] == change["sequence"] == 3
    wanted = expected_at(replayed, OFFICE, GP, at)
    assert {f: snapshot[f] for f in wanted} == wanted
    assert completed["pairs"] == 1 and completed["offices"] == 1
    # the absence does not change the list (Bestill time was switched off before it): the last one
    last_list = [e for e in await _portal_events(store) if e["type"] == "office.practitioners.changed"][-1]
    assert (
        (listed["sequence"], listed["practitioners"]) == (last_list["sequence"], last_list["practitioners"]) == (2, [])
    )
    assert listed["event_id"] == f"{OFFICE}-practitioners-2-s-due-1" and listed["request_id"] == "due-1"
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
    assert done.ok and done.events == 4  # three pairs, one office

    snapshots = [e for e in await _portal_events(store) if e["type"] == "availability.snapshot"]
    assert [(s["practitioner_hpr"], s["sequence"]) for s in snapshots] == [(hprs[0], 1), (hprs[1], 1), (hprs[2], 1)]
    completed = [e for e in await _portal_events(store) if e["type"] == "resync.completed"]
    assert [(c["pairs"], c["offices"]) for c in completed] == [(3, 1)]
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
        ("office.practitioners.snapshot", 0),  # nobody bookable: the baseline list
        ("resync.completed", None),
        ("availability.changed", 2),
    ]


def _absence(office: int, hpr: str, first: dt.date, last: dt.date, registered_at: dt.datetime) -> Work:
    body = {
        "type": "absence.registered",
        "absence_id": f"absence-{hpr}",
        "office_her_id": office,
        "practitioner_hpr": hpr,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "services": ["TIMEBESTILLING", "RESEPTFORNYELSE", "E_KONSULTASJON", "KONTAKT_LEGEKONTORET"],
        "registered_by_hpr": hpr,
        "registered_at": registered_at.isoformat(),
    }
    return Work(kind="absence", body=json.dumps(body).encode())


async def test_r11_a_booking_list_change_due_at_the_resync_is_published_before_the_list_snapshot(
    store: Store,
) -> None:
    """A GP citizens can book with is absent from midnight and the clock has not ticked: the resync
    publishes the pair's change and then, before the office's list snapshot, the list without the
    GP (caused by the clock) — the snapshot carries that list's sequence. A second resync finds
    nothing due and repeats the same list, sequence unchanged."""
    office, gp, other = 7001234, "1000001", "1000002"
    now = dt.datetime(2024, 3, 1, 9, tzinfo=OSLO)
    service = processor(store, default_settings(http_port=None), ManualClock(now))
    works = [
        Work(kind="xml", body=roster_xml(office, (gp, other), msg_id="r", gen_date=now)),
        *(
            Work(
                kind="xml",
                body=status_xml(office, hpr, {"Dialog_Innbygger_Timereservasjon": True}, msg_id=hpr, gen_date=now),
            )
            for hpr in (gp, other)
        ),
        _absence(office, gp, dt.date(2024, 3, 2), dt.date(2024, 3, 5), now),
    ]
    assert all(d.ok for d in await service.process(works))
    lists = [e for e in await _portal_events(store) if e["type"] == "office.practitioners.changed"]
    assert [p["hpr"] for p in lists[-1]["practitioners"]] == [gp, other]
    before = len(await _portal_events(store))

    at = dt.datetime(2024, 3, 2, 12, tzinfo=OSLO)
    later = processor(store, default_settings(http_port=None), ManualClock(at))
    assert (await later.process([_request("list-due", office)]))[0].ok
    new = (await _portal_events(store))[before:]
    assert [e["type"] for e in new] == [
        "availability.changed",
        "availability.snapshot",
        "availability.snapshot",
        "office.practitioners.changed",
        "office.practitioners.snapshot",
        "resync.completed",
    ]
    change, listed, completed = new[3], new[4], new[5]
    assert change["caused_by"] == {"kind": "clock", "id": None} and change["sequence"] == lists[-1]["sequence"] + 1
    assert [p["hpr"] for p in change["practitioners"]] == [other]
    assert (listed["sequence"], listed["practitioners"]) == (change["sequence"], change["practitioners"])
    assert (completed["pairs"], completed["offices"], completed["office_her_id"]) == (2, 1, office)

    again = len(await _portal_events(store))
    assert (await later.process([_request("list-again", office)]))[0].ok
    repeated = (await _portal_events(store))[again:]
    assert [e["type"] for e in repeated] == [
        "availability.snapshot",
        "availability.snapshot",
        "office.practitioners.snapshot",
        "resync.completed",
    ]
    assert (repeated[2]["sequence"], repeated[2]["practitioners"]) == (listed["sequence"], listed["practitioners"])


async def test_a_resync_of_everything_walks_the_offices_in_chunks_and_resumes_after_the_last_committed_one(
    store: Store,
) -> None:
    """Offices one per chunk: the pairs' chunk and the first office's commit, then the process
    "crashes"; the redelivered request resumes with the second office, and every office's list is
    sent once, in HER-id order, equal to its last office.practitioners.changed."""
    offices = (7001234, 7005678)
    now = dt.datetime(2024, 3, 1, 9, tzinfo=OSLO)
    service = processor(store, default_settings(http_port=None), ManualClock(now))
    for office in offices:
        hpr = f"{office}"
        works = [
            Work(kind="xml", body=roster_xml(office, [hpr], msg_id=f"r{office}", gen_date=now)),
            Work(
                kind="xml",
                body=status_xml(
                    office, hpr, {"Dialog_Innbygger_Timereservasjon": True}, msg_id=f"s{office}", gen_date=now
                ),
            ),
        ]
        assert all(d.ok for d in await service.process(works))
    request = ResyncRequest(type="resync.requested", request_id="offices-1", office_her_id=None)
    commits = 0

    def crash_after_the_first_office() -> None:
        nonlocal commits
        commits += 1
        if commits == 2:  # the pairs' chunk, then the first office's
            raise RuntimeError("the process died after the first office's commit")

    with pytest.raises(RuntimeError):
        await resync.run(
            store, request, lambda: now, PORTAL, chunk=10, office_chunk=1, on_chunk=crash_after_the_first_office
        )
    done = await resync.run(store, request, lambda: now, PORTAL, chunk=10, office_chunk=1)
    assert done.ok and done.events == 4  # two pairs, two offices

    events = await _portal_events(store)
    snapshots = [e for e in events if e["type"] == "office.practitioners.snapshot"]
    assert [s["office_her_id"] for s in snapshots] == list(offices)
    last = {e["office_her_id"]: e for e in events if e["type"] == "office.practitioners.changed"}
    for snapshot in snapshots:
        told = last[snapshot["office_her_id"]]
        assert (snapshot["sequence"], snapshot["practitioners"]) == (told["sequence"], told["practitioners"])
        assert snapshot["practitioners"], "each office's GP is bookable"
    assert [(e["pairs"], e["offices"]) for e in events if e["type"] == "resync.completed"] == [(2, 2)]
