"""A pair's timeline (issue 13), written by the real processor in the same transaction as the state
and read back through the read API's reader, on SQLite and PostgreSQL: the webinar's scenario, the
clock passing its midnights, a rejected message and a rejected absence."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator

import pytest

from adapter.api.reads import Reader, open_reader
from adapter.bootstrap import default_settings, processor
from adapter.domain.model import Process
from adapter.messages.builders import Office, Person, RosterEntry, behandleroversikt, tjenestestatus
from adapter.service.commands import Work
from adapter.store import open_store
from adapter.store.base import Store, TimelineEntry
from adapter.worker.clock import ManualClock

from .support import scenario, write_steps

OSLO = dt.timezone(dt.timedelta(hours=1))
OFFICE, GP = 8141333, "9144900"
ABSENCE_ID = "439f53ee-db72-4866-af0b-713292b36a4b"


@pytest.fixture
async def written(store_url: str) -> AsyncIterator[tuple[Store, Reader, ManualClock]]:
    """The scenario written through the processor, then the clock passing 22 December and 2 January."""
    store = await open_store(store_url)
    reader = await open_reader(store_url)
    try:
        clock = await write_steps(store, scenario(), until=dt.datetime(2023, 12, 20, 15, 5, tzinfo=OSLO))
        service = processor(store, default_settings(http_port=None), clock)
        for midnight in (dt.datetime(2023, 12, 22, tzinfo=OSLO), dt.datetime(2024, 1, 2, tzinfo=OSLO)):
            clock.set(midnight)
            (done,) = await service.process([Work(kind="tick", key=(OFFICE, GP), until=midnight)])
            assert done.ok and done.events >= 1
        yield store, reader, clock
    finally:
        await reader.close()
        await store.close()


def oldest_first(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    return list(reversed(entries))


async def test_the_timeline_tells_the_scenario_in_order_with_metadata_only(written) -> None:
    store, reader, _ = written
    entries = oldest_first(await reader.timeline(OFFICE, GP, 100))
    kinds = [(e.kind, e.detail.get("command") or e.detail.get("action") or e.detail.get("type")) for e in entries]
    assert kinds == [
        ("message", "roster"),
        ("message", "service_status"),
        ("event", "availability.changed"),  # 14:00, all four on
        ("message", "service_status"),
        ("event", "availability.changed"),  # 15:00, three off
        ("absence", "registered"),  # effective at midnight: nothing published now (R11)
        ("clock", None),
        ("event", "availability.changed"),  # 22 December: closed
        ("clock", None),
        ("event", "availability.changed"),  # 2 January
        *[("event", "availability.warning")] * 3,  # R10
    ]
    roster, all_on, first, off = entries[:4]
    assert roster.detail == {
        "message_type": "DIALOG_INNBYGGER_BEHANDLEROVERSIKT",
        "command": "roster",
        "msg_id": "50533d5a-abaa-467e-bcdf-beabfe7e43bc",
        "gen_date": "2023-12-01T10:00:00+01:00",
        "sender_her_id": OFFICE,
        "receipt": "OK",
        "codes": [],
        "practitioners": 3,
    }
    assert roster.at == dt.datetime(2023, 12, 20, 8, tzinfo=OSLO)  # when it was processed
    assert (off.detail["msg_id"], off.detail["source"], off.detail["receipt"]) == (
        "54d63e37-5ec9-40f8-9273-65250f32de9f",
        "EPJ",
        "OK",
    )
    assert off.detail["message_type"] == "DIALOG_INNBYGGER_TJENESTESTATUS"
    assert all_on.detail["gen_date"] == "2023-12-01T10:30:00+01:00"
    assert (first.detail["sequence"], first.detail["caused_by"]) == (
        1,
        {"kind": "message", "id": "07309071-e158-4fa9-ad2a-59c9b7fb3cbb"},
    )
    absence = entries[5]
    assert {k: absence.detail[k] for k in ("absence_id", "from", "to", "by_hpr", "receipt")} == {
        "absence_id": ABSENCE_ID,
        "from": "2023-12-22",
        "to": "2024-01-01",
        "by_hpr": GP,
        "receipt": "OK",
    }
    closed = entries[7]
    assert closed.at == dt.datetime(2023, 12, 22, tzinfo=OSLO)
    assert closed.detail["statuses"] == dict.fromkeys(
        ("TIMEBESTILLING", "RESEPTFORNYELSE", "E_KONSULTASJON", "KONTAKT_LEGEKONTORET"), "TEMPORARILY_CLOSED"
    )
    assert set(closed.detail["reopens_on"].values()) == {"2024-01-02"}
    assert closed.detail["caused_by"] == {"kind": "clock", "id": None}
    warnings = entries[-3:]
    assert [(w.detail["code"], w.detail["service"], w.detail["absence_id"]) for w in warnings] == [
        ("SERVICE_STILL_OFF_AFTER_ABSENCE", s, ABSENCE_ID)
        for s in ("TIMEBESTILLING", "RESEPTFORNYELSE", "E_KONSULTASJON")
    ]
    # Metadata only: no body, no text of a warning, nothing that is not an identifier, date, code or status.
    text = json.dumps([dict(e.detail) for e in entries])
    assert "<" not in text and "fortsatt skrudd av" not in text and "Astrid" not in text
    # The store's own read gives the same, and pages by id.
    assert await store.timeline(OFFICE, GP, 100) == await reader.timeline(OFFICE, GP, 100)
    newest_two = await reader.timeline(OFFICE, GP, 2)
    assert await reader.timeline(OFFICE, GP, 3, before_id=newest_two[-1].id) == list(reversed(entries))[2:5]


async def test_r16_a_roster_without_the_gp_and_a_later_message_about_her_are_on_her_timeline(written) -> None:
    store, reader, clock = written
    service = processor(store, default_settings(http_port=None), clock)
    office, midwife = Office(OFFICE, "Lysaker legesenter"), Person("7310428", "Arna", "Berg")
    without_gp = behandleroversikt(
        office=office, entries=[RosterEntry(midwife, role="99")], gen_date=clock.now(), msg_id="roster-2"
    )
    status = tjenestestatus(
        office=office,
        gp=Person(GP, "Astrid", "Info"),
        gen_date=clock.now(),
        msg_id="status-late",
        statuses={Process.EKONTAKT: True},
        complete=False,
    )
    for body in (without_gp, status):
        (done,) = await service.process([Work(kind="xml", body=body)])
        assert done.ok
    rejected, left, roster = await reader.timeline(OFFICE, GP, 3)
    assert (roster.kind, roster.detail["msg_id"], roster.detail["receipt"]) == ("message", "roster-2", "OK")
    assert left.kind == "event" and set(left.detail["statuses"].values()) == {"NOT_OFFERED"}  # R16
    assert (rejected.detail["msg_id"], rejected.detail["receipt"], rejected.detail["codes"]) == (
        "status-late",
        "REJECTED",
        ["E20"],
    )
    assert rejected.detail["processes"] == {"Dialog_Innbygger_Ekontakt": True}


async def test_rejected_inputs_are_on_the_timeline_with_their_receipt(written) -> None:
    store, reader, clock = written
    service = processor(store, default_settings(http_port=None), clock)
    absence = {
        "type": "absence.registered",
        "absence_id": "by-a-stranger",
        "office_her_id": OFFICE,
        "practitioner_hpr": GP,
        "from": "2024-01-10",
        "to": "2024-01-12",
        "services": ["TIMEBESTILLING"],
        "registered_by_hpr": "1234567",  # not listed at the office (R13)
        "registered_at": "2024-01-02T09:00:00+01:00",
    }
    (done,) = await service.process([Work(kind="absence", body=json.dumps(absence).encode())])
    assert done.ok and done.receipt is not None and done.receipt.status == "REJECTED"
    (latest,) = await reader.timeline(OFFICE, GP, 1)
    assert latest.detail["by_hpr"] == "1234567"
    assert (latest.kind, latest.detail["absence_id"], latest.detail["receipt"], latest.detail["codes"]) == (
        "absence",
        "by-a-stranger",
        "REJECTED",
        ["not_authorised"],
    )


async def test_an_item_that_fails_leaves_no_line_and_its_batch_neighbour_keeps_its_own(store_url: str) -> None:
    """The timeline is staged with the item: a bug in handling one item discards its lines with its
    state (it is redelivered), while the rest of the batch commits with theirs."""
    store = await open_store(store_url)
    try:
        clock = await write_steps(store, scenario(), until=dt.datetime(2023, 12, 20, 8, tzinfo=OSLO))
        office, gp = Office(OFFICE, "Lysaker legesenter"), Person(GP, "Astrid", "Info")
        bodies = [
            tjenestestatus(
                office=office,
                gp=gp,
                gen_date=clock.now(),
                msg_id=msg_id,
                statuses={Process.EKONTAKT: True},
                complete=False,
            )
            for msg_id in ("fails", "passes")
        ]

        def fault(work: Work) -> None:
            if b"<MsgId>fails</MsgId>" in work.body:
                raise RuntimeError("a bug in handling this item")

        service = processor(store, default_settings(http_port=None), clock, fault=fault)
        failed, passed = await service.process([Work(kind="xml", body=body) for body in bodies])
        assert not failed.ok and passed.ok
        lines = oldest_first(await store.timeline(OFFICE, GP, 10))
        assert [(e.kind, e.detail.get("msg_id")) for e in lines] == [
            ("message", "50533d5a-abaa-467e-bcdf-beabfe7e43bc"),  # the roster, written before
            ("message", "passes"),
            ("event", None),
        ]
    finally:
        await store.close()
