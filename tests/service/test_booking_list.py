"""The booking list through the whole adapter: the seeds' situations replayed with the real runtime,
service layer, store and clock scheduler — a July substitute, a GP on holiday, a practitioner who
leaves (R9, R3–R5, R16) — and `office.practitioners.changed` published exactly when the list changes."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapter.cli import main
from adapter.domain.model import Process, Role, Service
from adapter.messages.builders import (
    Office,
    Person,
    RosterEntry,
    absence_registered,
    behandleroversikt,
    tjenestestatus,
)
from adapter.replay.runner import ReplayResult, run_scenario

AMQP_URL = os.environ.get("DDFL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
OSLO = dt.timezone(dt.timedelta(hours=2))  # summer 2024
LYSAKER = Office(8141333, "Lysaker legesenter")
ASTRID = Person("9144900", "Astrid", "Info")
INGAR = Person("5522113", "Ingar", "Vik")
ARNA = Person("7310428", "Arna", "Berg")
BJORN = Person("6677889", "Bjørn", "Aas")
ALL_ON = dict.fromkeys(Process, True)
START = dt.datetime(2024, 6, 10, 8, 0, tzinfo=OSLO)

ASTRID_LINE, BJORN_LINE = "Astrid Info fastlege", "Bjørn Aas fastlege"
INGAR_LINE, ARNA_LINE = "Ingar Vik (vikar for fastlege)", "Arna Berg (jordmor)"


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, month, day, hour, minute, tzinfo=OSLO)


def _roster(*people: Person) -> list[RosterEntry]:
    entries = {
        ASTRID: RosterEntry(ASTRID),
        INGAR: RosterEntry(
            INGAR, Role.VIKAR_FOR_FASTLEGE.value, (ASTRID.hpr, dt.date(2024, 7, 1), dt.date(2024, 7, 31))
        ),
        ARNA: RosterEntry(ARNA, "99"),
        BJORN: RosterEntry(BJORN),
    }
    return [entries[p] for p in people]


def _write_scenario(directory: Path) -> Path:
    """Lysaker as the booking guide shows it, through a summer: Astrid (GP) with Ingar covering
    July, Arna (midwife) with her own Bestill time, and Bjørn (GP) who takes a week off and leaves."""
    messages: list[tuple[dt.datetime, str, bytes]] = [
        (START, "roster-1", behandleroversikt(office=LYSAKER, entries=_roster(ASTRID, INGAR, ARNA, BJORN), gen_date=START, msg_id="roster-1")),
        (at(6, 10, 8, 5), "astrid-on", tjenestestatus(office=LYSAKER, gp=ASTRID, gen_date=at(6, 10, 8, 5), msg_id="astrid-on", statuses=ALL_ON, complete=True)),
        (at(6, 10, 8, 6), "arna-on", tjenestestatus(office=LYSAKER, gp=ARNA, gen_date=at(6, 10, 8, 6), msg_id="arna-on", statuses={Process.TIMERESERVASJON: True}, complete=True)),
        (at(6, 10, 8, 7), "bjorn-on", tjenestestatus(office=LYSAKER, gp=BJORN, gen_date=at(6, 10, 8, 7), msg_id="bjorn-on", statuses=ALL_ON, complete=True)),
        # unrelated to the list: Forny resept off for Astrid
        (at(6, 10, 8, 10), "astrid-resept-off", tjenestestatus(office=LYSAKER, gp=ASTRID, gen_date=at(6, 10, 8, 10), msg_id="astrid-resept-off", statuses={Process.RESEPTFORNYELSE: False}, complete=False)),
        (at(8, 5, 9), "roster-2", behandleroversikt(office=LYSAKER, entries=_roster(ASTRID, INGAR, ARNA), gen_date=at(8, 5, 9), msg_id="roster-2")),
    ]  # fmt: skip
    steps: list[dict[str, Any]] = []
    for when, name, body in messages:
        (directory / f"{name}.xml").write_bytes(body)
        steps.append({"at": when.isoformat(), "xml": f"{name}.xml"})
    holiday = absence_registered(
        absence_id="bjorn-ferie",
        office_her_id=LYSAKER.her_id,
        practitioner_hpr=BJORN.hpr,
        from_date=dt.date(2024, 6, 17),
        to_date=dt.date(2024, 6, 21),
        services=list(Service),
        registered_at=at(6, 10, 8, 15),
    )
    steps.insert(5, {"at": at(6, 10, 8, 15).isoformat(), "absence": holiday})
    steps.append({"at": at(8, 6, 9).isoformat()})
    scenario = {
        "name": "the booking list through a summer at Lysaker",
        "start": START.isoformat(),
        "steps": steps,
        "expect": [
            {"at": at(7, 1).isoformat(), "office_her_id": LYSAKER.her_id, "practitioner_hpr": ASTRID.hpr,
             "substitute": {"hpr": INGAR.hpr, "name": "Ingar Vik"}},
        ],
    }  # fmt: skip
    path = directory / "booking-summer.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_scenario(tmp_path_factory.mktemp("booking"))


@functools.cache
def _replayed(path: Path) -> ReplayResult:
    return run_scenario(path)


@pytest.fixture(scope="module")
def result(scenario: Path) -> ReplayResult:
    replayed = _replayed(scenario)
    assert replayed.failures == [], [f.describe() for f in replayed.failures]
    assert [r["status"] for r in replayed.receipts] == ["OK"] * 7
    return replayed


def lists(result: ReplayResult) -> list[dict[str, Any]]:
    return [e for e in result.events if e["type"] == "office.practitioners.changed"]


def test_the_list_follows_the_summer_one_event_per_change(result: ReplayResult) -> None:
    published = [
        (e["sequence"], e["effective_at"], e["caused_by"]["kind"], [p["label"] for p in e["practitioners"]])
        for e in lists(result)
    ]
    assert published == [
        (1, "2024-06-10T08:05:00+02:00", "message", [ASTRID_LINE]),
        (2, "2024-06-10T08:06:00+02:00", "message", [ASTRID_LINE, ARNA_LINE]),
        (3, "2024-06-10T08:07:00+02:00", "message", [ASTRID_LINE, BJORN_LINE, ARNA_LINE]),
        # Bjørn's holiday: temporarily closed, off the list at its first midnight, back after it (R3–R5)
        (4, "2024-06-17T00:00:00+02:00", "clock", [ASTRID_LINE, ARNA_LINE]),
        (5, "2024-06-22T00:00:00+02:00", "clock", [ASTRID_LINE, BJORN_LINE, ARNA_LINE]),
        # Ingar covers Astrid in July: on the list from the period's first midnight until after its last (R9)
        (6, "2024-07-01T00:00:00+02:00", "clock", [ASTRID_LINE, BJORN_LINE, INGAR_LINE, ARNA_LINE]),
        (7, "2024-08-01T00:00:00+02:00", "clock", [ASTRID_LINE, BJORN_LINE, ARNA_LINE]),
        # Bjørn leaves: a new behandleroversikt without him (R16)
        (8, "2024-08-05T09:00:00+02:00", "message", [ASTRID_LINE, ARNA_LINE]),
    ]
    assert [e["event_id"] for e in lists(result)] == [f"{LYSAKER.her_id}-practitioners-{n}" for n in range(1, 9)]
    ingar = lists(result)[5]["practitioners"][2]
    assert (ingar["hpr"], ingar["covers_hpr"], ingar["role"]) == (INGAR.hpr, ASTRID.hpr, "15")
    assert {e["caused_by"]["id"] for e in lists(result) if e["caused_by"]["kind"] == "message"} == {
        "astrid-on",
        "arna-on",
        "bjorn-on",
        "roster-2",
    }


def test_nothing_is_published_when_the_list_does_not_change(result: ReplayResult) -> None:
    """The first roster lists nobody bookable yet (the empty baseline); Forny resept going off
    changes Astrid's availability but not the list; the absence's registration changes nothing today."""
    by_step: dict[int, list[str]] = {}
    for step, event in zip(result.event_steps, result.events, strict=True):
        by_step.setdefault(step, []).append(event["type"])
    assert "office.practitioners.changed" not in by_step.get(1, [])
    assert by_step[5] == ["availability.changed"], "Forny resept off: the pair's event, no list"
    assert "office.practitioners.changed" not in by_step.get(6, []), "the absence starts next week"
    published = [[p["label"] for p in e["practitioners"]] for e in lists(result)]
    assert all(a != b for a, b in itertools.pairwise(published))


def test_every_list_is_the_one_the_pairs_events_imply(result: ReplayResult) -> None:
    """Each list is what the pairs' availability.changed events said up to it: a GP or the midwife
    while their Bestill time is AVAILABLE, Ingar while Astrid's availability carries him."""
    latest: dict[str, dict[str, Any]] = {}
    for event in result.events:
        if event["type"] == "availability.changed":
            latest[event["practitioner_hpr"]] = event
        elif event["type"] == "office.practitioners.changed":
            bookable = {hpr for hpr, e in latest.items() if e["services"]["TIMEBESTILLING"]["status"] == "AVAILABLE"}
            substitutes = {
                e["substitute"]["hpr"] for hpr, e in latest.items() if hpr in bookable and e["substitute"] is not None
            }
            assert {p["hpr"] for p in event["practitioners"]} == bookable | substitutes, event["event_id"]


def test_show_prints_the_list_in_the_guides_words(scenario: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["show", "--office", str(LYSAKER.her_id), "--replay", str(scenario), "--at", at(7, 10, 12).isoformat()])
        == 0
    )
    out = capsys.readouterr().out
    assert out.endswith(
        "Velg behandler:\n  Astrid Info fastlege\n  Bjørn Aas fastlege\n  Ingar Vik (vikar for fastlege)\n"
        "  Arna Berg (jordmor)\n"
    )
    assert (
        main(["show", "--office", str(LYSAKER.her_id), "--replay", str(scenario), "--at", at(6, 18, 12).isoformat()])
        == 0
    )
    assert capsys.readouterr().out.endswith("Velg behandler:\n  Astrid Info fastlege\n  Arna Berg (jordmor)\n")


def test_show_from_an_events_file_says_when_nobody_can_be_booked(
    tmp_path: Path, result: ReplayResult, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = {**lists(result)[0], "practitioners": [], "effective_at": "2024-06-10T08:05:00+02:00"}
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in [*result.events[:1], empty]) + "\n", encoding="utf-8")
    assert main(["show", "--office", str(LYSAKER.her_id), "--events", str(events)]) == 0
    assert (
        capsys.readouterr()
        .out.rstrip()
        .endswith("Velg behandler: ingen behandler kan bestilles time hos på Helsenorge nå")
    )


@pytest.mark.broker
def test_on_rabbitmq_the_same_lists_are_published(scenario: Path, result: ReplayResult) -> None:
    real = run_scenario(scenario, amqp_url=AMQP_URL)
    assert real.events == result.events


def test_two_gps_closing_at_the_same_midnight_make_one_list_for_that_instant(tmp_path: Path) -> None:
    """Both GPs of the office go on holiday the same week: at its first midnight the first clock
    tick publishes the list of that instant (nobody bookable), the second finds it unchanged."""
    steps: list[dict[str, Any]] = []
    roster = behandleroversikt(office=LYSAKER, entries=_roster(ASTRID, BJORN), gen_date=START, msg_id="r")
    (tmp_path / "r.xml").write_bytes(roster)
    steps.append({"at": START.isoformat(), "xml": "r.xml"})
    for minute, person in ((1, ASTRID), (2, BJORN)):
        body = tjenestestatus(
            office=LYSAKER,
            gp=person,
            gen_date=at(6, 10, 8, minute),
            msg_id=f"on-{person.hpr}",
            statuses=ALL_ON,
            complete=True,
        )
        (tmp_path / f"on-{person.hpr}.xml").write_bytes(body)
        steps.append({"at": at(6, 10, 8, minute).isoformat(), "xml": f"on-{person.hpr}.xml"})
        holiday = absence_registered(
            absence_id=f"ferie-{person.hpr}",
            office_her_id=LYSAKER.her_id,
            practitioner_hpr=person.hpr,
            from_date=dt.date(2024, 6, 17),
            to_date=dt.date(2024, 6, 21),
            services=list(Service),
            registered_at=at(6, 10, 9, minute),
        )
        steps.append({"at": at(6, 10, 9, minute).isoformat(), "absence": holiday})
    steps.sort(key=lambda step: str(step["at"]))  # one offset: the text orders as the instants do
    steps.append({"at": at(6, 25).isoformat()})
    path = tmp_path / "both-on-holiday.yaml"
    scenario = {"name": "both GPs on holiday", "start": START.isoformat(), "steps": steps}
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    result = run_scenario(path)
    published = [(e["sequence"], e["effective_at"], [p["hpr"] for p in e["practitioners"]]) for e in lists(result)]
    assert published == [
        (1, "2024-06-10T08:01:00+02:00", [ASTRID.hpr]),
        (2, "2024-06-10T08:02:00+02:00", [ASTRID.hpr, BJORN.hpr]),
        (3, "2024-06-17T00:00:00+02:00", []),
        (4, "2024-06-22T00:00:00+02:00", [ASTRID.hpr, BJORN.hpr]),
    ]
    midnight = [
        e["type"] for e in result.events if e["effective_at"] == "2024-06-17T00:00:00+02:00"
    ]  # the first GP's tick, the list of the instant, the second GP's tick
    assert midnight == ["availability.changed", "office.practitioners.changed", "availability.changed"]
