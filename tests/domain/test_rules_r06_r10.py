"""R6–R10: replies, closing conversations, information messages, substitutes, the forgotten switch."""

from __future__ import annotations

from adapter.domain.events import AvailabilityWarning, DialogueClosed, WarningCode
from adapter.domain.model import Process, Service, Status

from .builders import (
    ALL_FOUR_ON,
    ASTRID,
    EKONS,
    INGAR,
    KONTAKT,
    NOW,
    TC,
    World,
    absence,
    d,
    delete,
    example,
    gp,
    note,
    offering,
    oslo,
    roster,
    status,
    switched_on,
    vikar,
)

STILL_OFF = WarningCode.SERVICE_STILL_OFF_AFTER_ABSENCE
OVERRIDES = WarningCode.ABSENCE_OVERRIDES_SUBSTITUTE


def replies(world: World) -> bool:
    return world.availability().services.E_KONSULTASJON.accepts_replies


# --- R6 ----------------------------------------------------------------------------------------


def test_r6_accepts_replies_during_an_absence_while_the_process_is_still_on():
    world = offering(Process.EKONSULTASJON)
    world.send(absence("a1", "2024-01-15", "2024-01-20", [EKONS]))
    world.tick(oslo(2024, 1, 15))
    assert world.status(EKONS) is TC and replies(world) is True  # no new ones, but answers go through
    world.send(status(oslo(2024, 1, 16), off=[Process.EKONSULTASJON]), at=oslo(2024, 1, 16))
    assert world.status(EKONS) is TC and replies(world) is False  # still shown (R4), no replies (R6)


def test_r6_accepts_replies_follows_the_process_outside_absences():
    world = offering(Process.EKONSULTASJON)
    assert replies(world) is True
    world.send(status(NOW, off=[Process.EKONSULTASJON]))
    assert replies(world) is False


def test_r6_accepts_replies_is_published_for_e_konsultasjon_only():
    world = offering()
    services = world.events[-1].to_json()["services"]
    assert [s for s, view in services.items() if "accepts_replies" in view] == ["E_KONSULTASJON"]


# --- R7 ----------------------------------------------------------------------------------------


def test_r7_code_13_closes_the_conversation_once():
    world = World(now=NOW)
    first = world.send(note("conv-1", "13", gen=NOW))
    assert first.closed_conversations == ("conv-1",)
    assert [e.conversation_ref for e in first.events] == ["conv-1"]
    again = world.send(note("conv-1", "13", gen=NOW))  # another note closing it again
    assert again.accepted and again.events == () and again.closed_conversations == ()
    assert len(world.closings()) == 1
    assert world.changes() == []  # closing changes no availability


def test_r7_code_27_closes_the_conversation():
    world = World(now=NOW)
    outcome = world.send(note("conv-2", "27", gen=NOW))
    assert [(e.conversation_ref, e.code) for e in outcome.events] == [("conv-2", "27")]


def test_r7_other_codes_change_nothing():
    world = World(now=NOW)
    for code in ("12", "1", "130", None):
        outcome = world.send(note("conv-3", code, gen=NOW))
        assert outcome.accepted and outcome.events == () and outcome.closed_conversations == (), code
    assert world.closed == set()


def test_r7_code_13_from_another_code_system_changes_nothing():
    world = World(now=NOW)
    outcome = world.send(note("conv-4", "13", system="2.16.578.1.12.4.1.1.9999", gen=NOW))
    assert outcome.accepted and outcome.events == () and world.closed == set()


def test_r7_closing_event_matches_the_contract_example():
    expected = example("dialogue-closed.json")
    world = World(now=oslo(2023, 12, 21, 11, 20))
    outcome = world.send(note(expected["conversation_ref"], "13", gen=oslo(2023, 12, 21, 11, 20)))
    (event,) = outcome.events
    assert isinstance(event, DialogueClosed)
    assert event.to_json() == expected


# --- R8 ----------------------------------------------------------------------------------------


def test_r8_panel_message_visible_when_one_service_is_offered():
    world = offering(Process.EKONTAKT)
    availability = world.availability()
    assert availability.panel_info_visible is True
    assert {s: availability.services.of(s).info_visible for s in Service} == {s: s is KONTAKT for s in Service}


def test_r8_panel_message_hidden_when_nothing_is_offered():
    world = offering(Process.EKONTAKT)
    world.send(status(NOW, off=[Process.EKONTAKT]))
    availability = world.availability()
    assert availability.panel_info_visible is False
    assert not any(availability.services.of(s).info_visible for s in Service)


def test_r8_information_stays_visible_while_temporarily_closed():
    world = offering(Process.EKONTAKT)
    world.send(absence("a1", "2024-01-15", "2024-01-20", [KONTAKT]))
    world.tick(oslo(2024, 1, 15))
    availability = world.availability()
    assert world.status(KONTAKT) is TC
    assert availability.services.KONTAKT_LEGEKONTORET.info_visible and availability.panel_info_visible


# --- R9 ----------------------------------------------------------------------------------------

JULY = {"start": d("2024-07-01"), "end": d("2024-07-31")}


def summer(*extra, now=oslo(2024, 6, 20)) -> World:  # noqa: B008 (an immutable instant)
    world = World(gp(), vikar(**JULY), *extra, now=now)
    switched_on(world, now, *ALL_FOUR_ON)
    return world


def test_r9_substitute_is_carried_during_the_period_and_statuses_are_unchanged():
    world = summer()
    assert world.availability().substitute is None
    (start,) = world.tick(oslo(2024, 7, 1))
    assert start.effective_at == oslo(2024, 7, 1) and start.caused_by.kind == "clock"
    assert start.changed == []  # engine reading: a substitute alone changes no service
    assert set(world.statuses().values()) == {Status.AVAILABLE}
    assert start.to_json()["substitute"] == {
        "hpr": INGAR,
        "name": "Ingar Vik",
        "from": "2024-07-01",
        "to": "2024-07-31",
    }
    world.tick(oslo(2024, 7, 31, 23, 59))
    assert world.availability().substitute is not None
    (end,) = world.tick(oslo(2024, 8, 1))
    assert end.effective_at == oslo(2024, 8, 1) and end.substitute is None


def test_r9_open_ended_substitute_stays():
    world = World(gp(), vikar(start=d("2024-07-01"), end=None), now=oslo(2024, 6, 20))
    switched_on(world, oslo(2024, 6, 20), Process.EKONTAKT)
    world.tick(oslo(2025, 7, 1))
    assert world.availability().substitute.to_date is None
    assert world.availability().substitute.hpr == INGAR


def test_r9_absence_inside_a_substitute_period_still_closes_and_warns_once_per_absence_and_substitute():
    world = summer()
    registered = world.send(absence("a1", "2024-07-10", "2024-07-12"))
    (warning,) = [e for e in registered.events if isinstance(e, AvailabilityWarning)]
    assert (warning.code, warning.absence_id, warning.substitute_hpr, warning.service) == (OVERRIDES, "a1", INGAR, None)
    assert warning.effective_at == oslo(2024, 6, 20)  # engine reading: when the overlap becomes known

    changed = world.send(absence("a1", "2024-07-10", "2024-07-14", at=oslo(2024, 6, 21)))  # new content
    assert changed.accepted and not [e for e in changed.events if isinstance(e, AvailabilityWarning)]

    world.tick(oslo(2024, 7, 10))
    assert set(world.statuses().values()) == {TC}  # the absence still applies
    assert world.availability().substitute.hpr == INGAR  # and the substitute is still listed

    world.send(absence("a2", "2024-07-20", "2024-07-21"))  # a second absence: a second warning
    assert [(w.absence_id, w.substitute_hpr) for w in world.warnings(OVERRIDES)] == [("a1", INGAR), ("a2", INGAR)]


def test_r9_a_second_substitute_over_the_same_absence_warns_again():
    world = summer()
    world.send(absence("a1", "2024-07-10", "2024-07-12"))
    other = vikar("6600001", start=d("2024-07-05"), end=d("2024-07-15"), given="Vera", family="Dahl")
    world.send(roster(oslo(2024, 6, 25), gp(), vikar(**JULY), other), at=oslo(2024, 6, 25))
    assert [(w.absence_id, w.substitute_hpr) for w in world.warnings(OVERRIDES)] == [("a1", INGAR), ("a1", "6600001")]


def test_r9_substitute_arriving_after_the_absence_warns():
    world = World(gp(), now=oslo(2024, 6, 20))
    switched_on(world, oslo(2024, 6, 20), *ALL_FOUR_ON)
    world.send(absence("a1", "2024-07-10", "2024-07-12"))
    assert world.warnings() == []
    world.send(roster(oslo(2024, 6, 25), gp(), vikar(**JULY)), at=oslo(2024, 6, 25))
    assert [(w.absence_id, w.substitute_hpr) for w in world.warnings(OVERRIDES)] == [("a1", INGAR)]


def test_r9_absence_outside_the_substitute_period_does_not_warn():
    world = summer()
    world.send(absence("a1", "2024-06-28", "2024-06-30"))
    world.send(absence("a2", "2024-08-01", "2024-08-02"))
    assert world.warnings() == []


# --- R10 ---------------------------------------------------------------------------------------


def holiday_with_ekons_off() -> World:
    world = World(now=oslo(2024, 1, 10))
    switched_on(world, oslo(2024, 1, 10), Process.EKONSULTASJON, Process.EKONTAKT)
    world.send(status(oslo(2024, 1, 12, 15), off=[Process.EKONSULTASJON]), at=oslo(2024, 1, 12, 15))
    world.send(absence("a1", "2024-01-15", "2024-01-17", [EKONS, KONTAKT]))
    return world


def test_r10_service_still_off_when_the_absence_ends_is_warned_about():
    world = holiday_with_ekons_off()
    world.tick(oslo(2024, 1, 15))
    assert world.warnings() == []
    events = world.tick(oslo(2024, 1, 18))
    change, warning = events
    assert world.statuses()[EKONS] is Status.NOT_OFFERED and world.status(KONTAKT) is Status.AVAILABLE
    assert isinstance(warning, AvailabilityWarning)
    assert (warning.code, warning.service, warning.absence_id) == (STILL_OFF, EKONS, "a1")
    assert warning.effective_at == change.effective_at == oslo(2024, 1, 18)
    assert warning.text == "Fraværet er slutt, men E-konsultasjon er fortsatt skrudd av i journalsystemet."


def test_r10_no_warning_when_switched_back_on_before_the_end():
    world = holiday_with_ekons_off()
    world.tick(oslo(2024, 1, 16))
    switched_on(world, oslo(2024, 1, 17, 20), Process.EKONSULTASJON)
    world.tick(oslo(2024, 1, 20))
    assert world.warnings() == []
    assert world.status(EKONS) is Status.AVAILABLE


def test_r10_warning_names_the_absence_that_ends_the_run():
    world = holiday_with_ekons_off()
    world.send(absence("a0-later", "2024-01-18", "2024-01-19", [EKONS]))
    world.tick(oslo(2024, 1, 18))
    assert world.warnings() == []  # the run goes on
    world.tick(oslo(2024, 1, 25))
    assert [(w.service, w.absence_id, w.effective_at) for w in world.warnings()] == [
        (EKONS, "a0-later", oslo(2024, 1, 20))
    ]


def test_r10_deleting_the_absence_during_its_run_warns_too():
    """R10: deleting the absence ends the run; the service is still off, so the GP is warned."""
    world = holiday_with_ekons_off()
    world.tick(oslo(2024, 1, 16))
    world.send(delete("a1"), at=oslo(2024, 1, 16, 9))
    assert [(w.service, w.absence_id, w.effective_at) for w in world.warnings()] == [
        (EKONS, "a1", oslo(2024, 1, 16, 9))
    ]


def test_r10_warnings_are_numbered_per_pair():
    world = holiday_with_ekons_off()
    world.send(absence("a2", "2024-01-22", "2024-01-23", [EKONS]))
    world.tick(oslo(2024, 1, 25))
    assert [w.event_id for w in world.warnings()] == [f"8141333-{ASTRID}-w-1", f"8141333-{ASTRID}-w-2"]
