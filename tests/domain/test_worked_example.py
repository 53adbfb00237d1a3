"""DOMAIN.md's worked example (the webinar's "recommended solution 1"), row by row, and the contract's
example events it produces.

Two runs: the worked example as DOMAIN.md tells it (all four services on), and the scenario as
`contract/examples/scenario.yaml` replays it, whose AR report leaves Reseptfornyelse off.
"""

from __future__ import annotations

from adapter.domain import engine
from adapter.domain.events import AvailabilityChanged, AvailabilityWarning, DialogueClosed, WarningCode
from adapter.domain.model import Process, RegisterAbsence, Service, Source

from .builders import (
    ASTRID,
    AV,
    MIDWIFE,
    NO,
    OFFICE,
    TC,
    World,
    d,
    example,
    gp,
    note,
    oslo,
    roster,
    status,
    vikar,
)

ABSENCE_ID = "f3a9c2d1-5b7e-4c8a-9d10-2e4f6a8b0c13"


def registered_absence() -> RegisterAbsence:
    """`absence-registered.json` as the message layer hands it to the engine."""
    wire = example("absence-registered.json")
    fields = {k: v for k, v in wire.items() if k not in ("type", "from", "to")}
    return RegisterAbsence.model_validate({**fields, "from_date": wire["from"], "to_date": wire["to"]})


def christmas(ar_processes: tuple[Process, ...]) -> tuple[World, dict[str, list]]:
    """Replays the scenario; returns the world and the events published at each step."""
    world = World(gp(), now=oslo(2023, 12, 20, 8))
    steps: dict[str, list] = {}

    def step(name: str, outcome: engine.Outcome) -> None:
        assert outcome.accepted, (name, outcome.rejection)
        steps[name] = list(outcome.events)

    office_list = roster(
        oslo(2023, 12, 1, 10),
        gp(),
        vikar(start=d("2024-07-01"), end=d("2024-07-31")),
        MIDWIFE,
        msg_id="7a9f2b64-3c1d-4e8a-b0f5-2d6c8e4a9b31",
    )
    step("roster", world.send(office_list))
    ar = status(
        oslo(2023, 12, 1, 7, 30),
        on=ar_processes,
        complete=True,
        source=Source.AR,
        msg_id="e3c1a7d2-1f0b-4c55-8d2e-9b7f3a6c1d44",
    )
    step("12-20 14:00", world.send(ar, at=oslo(2023, 12, 20, 14)))
    epj = status(
        oslo(2023, 12, 20, 15),
        off=(Process.TIMERESERVASJON, Process.RESEPTFORNYELSE, Process.EKONSULTASJON),
        msg_id="5b0d9c1e-6a43-4f8e-9a51-0c2f4d6e7a10",
    )
    step("12-20 15:00", world.send(epj, at=oslo(2023, 12, 20, 15)))
    step("absence", world.send(registered_absence(), at=oslo(2023, 12, 20, 15, 5)))
    closing = note("0a8c6e4d-7b2f-4e1a-b9c3-5d8e7f6a4b21", "13", gen=oslo(2023, 12, 21, 11, 20))
    step("dialogue", world.send(closing, at=oslo(2023, 12, 21, 11, 20)))
    steps["12-22 00:00"] = world.tick(oslo(2023, 12, 22))
    steps["during"] = world.tick(oslo(2024, 1, 1, 23, 59, 59))
    steps["2024-01-02 00:00"] = world.tick(oslo(2024, 1, 2))
    steps["after"] = world.tick(oslo(2024, 1, 3))
    return world, steps


ALL_FOUR = (Process.TIMERESERVASJON, Process.RESEPTFORNYELSE, Process.EKONSULTASJON, Process.EKONTAKT)
SCENARIO_AR = (Process.TIMERESERVASJON, Process.EKONSULTASJON, Process.EKONTAKT)


def row(event: AvailabilityChanged) -> tuple:
    services = event.services
    return (
        event.to_json()["effective_at"],
        tuple(services.of(s).status for s in Service),
        tuple(services.of(s).reopens_on for s in Service),
        event.panel_info_visible,
    )


def test_worked_example_table_row_by_row():
    world, steps = christmas(ALL_FOUR)
    assert steps["roster"] == []  # Astrid offers nothing yet; Ingar's period is in July
    (at_1400,) = steps["12-20 14:00"]
    (at_1500,) = steps["12-20 15:00"]
    assert steps["absence"] == []  # registered on the 20th, effective on the 22nd (R11)
    (at_1222,) = steps["12-22 00:00"]
    assert steps["during"] == []
    at_0102, *warnings = steps["2024-01-02 00:00"]
    assert steps["after"] == []

    reopen = d("2024-01-02")
    assert row(at_1400) == ("2023-12-20T14:00:00+01:00", (AV, AV, AV, AV), (None,) * 4, True)
    assert row(at_1500) == ("2023-12-20T15:00:00+01:00", (NO, NO, NO, AV), (None,) * 4, True)
    assert row(at_1222) == ("2023-12-22T00:00:00+01:00", (TC, TC, TC, TC), (reopen,) * 4, True)
    assert at_1222.services.E_KONSULTASJON.accepts_replies is False
    assert row(at_0102) == ("2024-01-02T00:00:00+01:00", (NO, NO, NO, AV), (None,) * 4, True)
    assert [e.sequence for e in (at_1400, at_1500, at_1222, at_0102)] == [1, 2, 3, 4]
    assert at_1400.services.TIMEBESTILLING.booking_mode == "CALENDAR"

    assert all(isinstance(w, AvailabilityWarning) for w in warnings)
    assert [(w.code, w.service, w.absence_id, w.to_json()["effective_at"]) for w in warnings] == [
        (WarningCode.SERVICE_STILL_OFF_AFTER_ABSENCE, s, ABSENCE_ID, "2024-01-02T00:00:00+01:00")
        for s in (Service.TIMEBESTILLING, Service.RESEPTFORNYELSE, Service.E_KONSULTASJON)
    ]
    assert world.availability().services == at_0102.services  # and that is what stays after the 2nd


def test_worked_example_event_of_12_22_is_the_contract_example():
    _, steps = christmas(ALL_FOUR)
    (event,) = steps["12-22 00:00"]
    assert event.to_json() == example("availability-changed.json")


def test_worked_example_closes_the_conversation_once():
    _, steps = christmas(ALL_FOUR)
    (closed,) = steps["dialogue"]
    assert isinstance(closed, DialogueClosed)
    assert closed.to_json() == example("dialogue-closed.json")


def test_scenario_yaml_expectations_hold():
    """The scenario's `expect` entries: the latest availability.changed at or before each `at`."""
    world, _ = christmas(SCENARIO_AR)

    def latest(at):
        return [e for e in world.changes(ASTRID) if e.effective_at <= at and e.office_her_id == OFFICE][-1]

    first = latest(oslo(2023, 12, 22)).services
    assert (first.TIMEBESTILLING.status, first.TIMEBESTILLING.reopens_on) == (TC, d("2024-01-02"))
    assert (first.E_KONSULTASJON.status, first.E_KONSULTASJON.accepts_replies) == (TC, False)
    second = latest(oslo(2024, 1, 2)).services
    assert (second.TIMEBESTILLING.status, second.KONTAKT_LEGEKONTORET.status) == (NO, AV)


def test_scenario_event_of_12_22_matches_the_contract_example_except_reseptfornyelse():
    """The scenario's AR report never switched Reseptfornyelse on, so R4 does not show it, while
    `availability-changed.json` (which follows DOMAIN.md's "all four services on") shows it closed.
    Every other field the two share is the same."""
    _, steps = christmas(SCENARIO_AR)
    (event,) = steps["12-22 00:00"]
    emitted, expected = event.to_json(), example("availability-changed.json")
    assert emitted["services"].pop("RESEPTFORNYELSE") == {
        "status": "NOT_OFFERED",
        "reopens_on": None,
        "info_visible": False,
    }
    assert expected["services"].pop("RESEPTFORNYELSE")["status"] == "TEMPORARILY_CLOSED"
    assert emitted.pop("changed") == ["TIMEBESTILLING", "E_KONSULTASJON", "KONTAKT_LEGEKONTORET"]
    assert expected.pop("changed") == [s.value for s in Service]
    assert emitted == expected


def test_scenario_warning_for_e_konsultasjon_is_the_contract_example():
    _, steps = christmas(SCENARIO_AR)
    warnings = [e for e in steps["2024-01-02 00:00"] if isinstance(e, AvailabilityWarning)]
    assert [w.service for w in warnings] == [Service.TIMEBESTILLING, Service.E_KONSULTASJON]
    assert warnings[1].to_json() == example("availability-warning.json")
