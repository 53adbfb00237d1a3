"""The booking list per item without reading every pair (issue 14, `booking.relisted`): random
traffic at one office — status reports, absences registered, moved and deleted, new rosters
(a substitute period, a GP who leaves), the clock catching up, items batched together or not —
through the processor twice, once with the list always built from every pair; every outbox row
(events, AppRecs) and every stored state must be the same, byte for byte."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.bootstrap import default_settings, processor
from adapter.domain import booking
from adapter.domain.model import Process, Role, Service
from adapter.messages.builders import Office, Person, RosterEntry, behandleroversikt, tjenestestatus
from adapter.service.commands import Work
from adapter.service.unit_of_work import BatchUnitOfWork
from adapter.store import open_store
from adapter.worker.clock import ManualClock

OSLO = dt.timezone(dt.timedelta(hours=2))
START = dt.datetime(2024, 7, 1, 8, tzinfo=OSLO)
OFFICE = Office(8141333, "Lysaker legesenter")
GPS = [Person(f"91449{n:02d}", name, "Lege") for n, name in enumerate(["Astrid", "Bjørn", "Cecilie", "Dag"])]
VIKAR = Person("5522113", "Ingar", "Vik")
MIDWIFE = Person("7310428", "Arna", "Berg")
PRACTITIONERS = [*GPS, VIKAR, MIDWIFE]


def _roster(variant: int) -> list[RosterEntry]:
    """0: everyone, the substitute covering Astrid 3–6 July; 1: Dag has left; 2: the period moved."""
    period = (GPS[0].hpr, dt.date(2024, 7, 3), dt.date(2024, 7, 6))
    if variant == 2:
        period = (GPS[1].hpr, dt.date(2024, 7, 2), dt.date(2024, 7, 9))
    gps = GPS[:3] if variant == 1 else GPS
    return [
        *(RosterEntry(gp) for gp in gps),
        RosterEntry(VIKAR, Role.VIKAR_FOR_FASTLEGE.value, period),
        RosterEntry(MIDWIFE, "99"),
    ]


STEP_GAPS = [dt.timedelta(minutes=5), dt.timedelta(hours=3), dt.timedelta(hours=17), dt.timedelta(days=1)]
statuses = st.dictionaries(st.sampled_from(list(Process)), st.booleans(), min_size=1)
actions = st.one_of(
    st.tuples(st.just("status"), st.sampled_from(PRACTITIONERS), statuses, st.booleans()),
    st.tuples(
        st.just("absence"),
        st.sampled_from(GPS),
        st.sampled_from(["a1", "a2", "a3"]),
        st.integers(0, 4),
        st.integers(0, 3),
        st.frozensets(st.sampled_from(list(Service)), min_size=1),
    ),
    st.tuples(st.just("delete"), st.sampled_from(["a1", "a2", "a3"])),
    st.tuples(st.just("roster"), st.integers(0, 2)),
    st.tuples(st.just("clock")),
)
steps = st.lists(st.tuples(st.sampled_from(STEP_GAPS), st.booleans(), actions), min_size=1, max_size=14)


def _work(action: tuple[Any, ...], at: dt.datetime, number: int) -> Work:
    kind, *args = action
    msg_id = f"m-{number}"
    if kind == "status":
        person, on, complete = args
        body = tjenestestatus(office=OFFICE, gp=person, gen_date=at, msg_id=msg_id, statuses=on, complete=complete)
        return Work(kind="xml", body=body)
    if kind == "roster":
        return Work(
            kind="xml", body=behandleroversikt(office=OFFICE, entries=_roster(args[0]), gen_date=at, msg_id=msg_id)
        )
    if kind == "absence":
        person, absence_id, first, days, services = args
        start = at.date() + dt.timedelta(days=first)
        document = {
            "type": "absence.registered",
            "absence_id": absence_id,
            "office_her_id": OFFICE.her_id,
            "practitioner_hpr": person.hpr,
            "from": start.isoformat(),
            "to": (start + dt.timedelta(days=days)).isoformat(),
            "services": sorted(services),
            "registered_by_hpr": person.hpr,
            "registered_at": at.isoformat(),
        }
    else:
        document = {
            "type": "absence.deleted",
            "absence_id": args[0],
            "office_her_id": OFFICE.her_id,
            "deleted_by_hpr": GPS[0].hpr,
            "deleted_at": at.isoformat(),
        }
    return Work(kind="absence", body=json.dumps(document).encode())


async def _run(plan: list[tuple[dt.timedelta, bool, tuple[Any, ...]]]) -> tuple[list[Any], list[str | None]]:
    """The plan through a processor on a store of its own: every outbox row, and the stored states."""
    store = await open_store("sqlite:///:memory:")
    clock = ManualClock(START)
    service = processor(store, default_settings(), clock)
    try:
        await service.process([_work(("roster", 0), START, 0)])
        at, batch = START, []
        for number, (gap, together, action) in enumerate(plan, start=1):
            if batch and (not together or action[0] == "clock"):
                await service.process(batch)
                batch = []
            at += gap
            clock.set(at)
            if action[0] != "clock":
                batch.append(_work(action, at, number))
                continue
            while (due := await store.next_due()) is not None and due <= at:
                await service.process(
                    [Work(kind="tick", key=key, until=due) for key in await store.due_pairs(due, 256)]
                )
        if batch:
            await service.process(batch)
        rows = [(r.routing_key, r.message_id, r.body, r.headers) for r in await store.outbox_pending(100_000)]
        async with store.transaction() as tx:
            hprs = await tx.pairs_of_office(OFFICE.her_id)
            states = [await tx.get_office(OFFICE.her_id), *[await tx.get_pair(OFFICE.her_id, hpr) for hpr in hprs]]
        return rows, states
    finally:
        await store.close()


@contextmanager
def _every_pair_read() -> Iterator[None]:
    """The list built from every pair at every item, as before `booking.relisted`."""

    async def always(self: BatchUnitOfWork, office_her_id: int, hprs: object, by: dt.datetime) -> bool:
        return True

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BatchUnitOfWork, "any_due", always)
        yield


@contextmanager
def _relisted_counted() -> Iterator[list[int]]:
    calls = [0]
    relisted = booking.relisted

    def counted(*args: Any) -> booking.BookingList:
        calls[0] += 1
        return relisted(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(booking, "relisted", counted)
        yield calls


@settings(
    max_examples=int(__import__("os").environ.get("PROPERTY_EXAMPLES", 60)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps)
def test_the_list_per_item_is_the_list_from_every_pair(plan: list[tuple[dt.timedelta, bool, tuple[Any, ...]]]) -> None:
    with _every_pair_read():
        expected = asyncio.run(_run(plan))
    assert asyncio.run(_run(plan)) == expected


def test_a_status_report_relists_without_reading_the_other_pairs_and_publishes_the_same() -> None:
    all_on = dict.fromkeys(Process, True)
    plan: list[tuple[dt.timedelta, bool, tuple[Any, ...]]] = [
        (dt.timedelta(minutes=5), False, ("status", GPS[0], all_on, True)),
        (dt.timedelta(minutes=5), False, ("status", GPS[1], all_on, True)),
        (dt.timedelta(minutes=5), True, ("status", MIDWIFE, {Process.TIMERESERVASJON: True}, True)),
        (dt.timedelta(minutes=5), False, ("status", GPS[0], {Process.TIMERESERVASJON: False}, False)),
        (dt.timedelta(days=1), False, ("absence", GPS[1], "a1", 1, 1, frozenset(Service))),
        (dt.timedelta(days=1), False, ("clock",)),
        (dt.timedelta(minutes=5), False, ("status", GPS[2], all_on, True)),
    ]
    with _every_pair_read():
        expected = asyncio.run(_run(plan))
    with _relisted_counted() as calls:
        assert asyncio.run(_run(plan)) == expected
    lists = [json.loads(body) for key, _, body, _ in expected[0] if b"office.practitioners.changed" in body]
    assert [[p["label"] for p in e["practitioners"]] for e in lists][-1] == [
        "Astrid Lege fastlege",
        "Cecilie Lege fastlege",
        "Ingar Vik (vikar for fastlege)",  # covering Astrid from 3 July (R9)
        "Arna Berg (jordmor)",
    ]
    assert calls[0] >= 3  # the reports after the first list: relisted, not rebuilt from every pair


async def test_an_office_stored_before_the_list_existed_gets_the_list_of_every_pair() -> None:
    """Its first list is built from every pair (the published one, empty, was never built from them)."""
    store = await open_store("sqlite:///:memory:")
    clock = ManualClock(START)
    service = processor(store, default_settings(), clock)
    all_on = dict.fromkeys(Process, True)
    try:
        await service.process([_work(("roster", 0), START, 0)])
        for number, gp in enumerate(GPS[:2], start=1):
            await service.process([_work(("status", gp, all_on, True), START, number)])
        async with store.transaction() as tx:  # as a release before the booking list wrote it
            document = json.loads(await tx.get_office(OFFICE.her_id) or "")
            del document["booking"]
            await tx.put_office(OFFICE.her_id, json.dumps(document))
        service = processor(store, default_settings(), clock)
        await service.process([_work(("status", GPS[2], all_on, True), START, 3)])
        async with store.transaction() as tx:
            office = json.loads(await tx.get_office(OFFICE.her_id) or "")
    finally:
        await store.close()
    assert office["booking"]["sequence"] == 1
    assert [p["label"] for p in office["booking"]["practitioners"]] == [f"{gp.name} fastlege" for gp in GPS[:3]]
