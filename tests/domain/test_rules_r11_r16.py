"""R11–R16: when changes take effect, what the portal is told, who may change what, absences, leavers."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from adapter.domain import engine
from adapter.domain.model import Process, RegisterAbsence, Service

from .builders import (
    ALL_FOUR_ON,
    ARNA,
    ASTRID,
    AV,
    EKONS,
    KONTAKT,
    MIDWIFE,
    NO,
    NOW,
    OFFICE,
    TC,
    World,
    absence,
    d,
    delete,
    gp,
    note,
    offering,
    only_changes,
    oslo,
    roster,
    status,
    statuses_of,
)

STRANGER = "1234567"


# --- R11 ---------------------------------------------------------------------------------------


def test_r11_absence_takes_effect_at_midnight_not_when_registered():
    world = offering()
    registered = world.send(absence("a1", "2024-01-15", "2024-01-17"))
    assert registered.accepted and registered.events == ()  # nothing changes today
    assert engine.next_change(world.pair()) == oslo(2024, 1, 15)
    assert (
        world.tick(
            oslo(
                2024,
                1,
                14,
                23,
                59,
                59,
            )
            + dt.timedelta(microseconds=999999)
        )
        == []
    )
    (event,) = world.tick(oslo(2024, 1, 15))
    assert event.to_json()["effective_at"] == "2024-01-15T00:00:00+01:00"
    assert event.caused_by.kind == "clock" and event.caused_by.id is None
    assert engine.next_change(world.pair()) == oslo(2024, 1, 18)


def test_r11_a_restart_that_slept_through_publishes_every_change_in_time_order():
    world = offering()
    world.send(absence("a1", "2024-01-15", "2024-01-17"))
    world.send(absence("a2", "2024-01-22", "2024-01-23", [EKONS]))
    events = world.tick(oslo(2024, 2, 1, 8))  # one tick, long after all of it
    assert [(e.effective_at, e.services.of(EKONS).status) for e in events] == [
        (oslo(2024, 1, 15), TC),
        (oslo(2024, 1, 18), AV),
        (oslo(2024, 1, 22), TC),
        (oslo(2024, 1, 24), AV),
    ]
    assert [e.sequence for e in events] == [2, 3, 4, 5]
    assert engine.next_change(world.pair()) is None


def test_r11_a_message_takes_effect_when_processed_after_catching_up_with_the_clock():
    world = offering()
    world.send(absence("a1", "2024-01-15", "2024-01-17", [KONTAKT]))
    processed = oslo(2024, 1, 16, 12)
    # No tick in between: the message, processed on the 16th, first lets the 15th's change happen.
    outcome = engine.apply(
        world.office(), {ASTRID: world.pair()}, status(oslo(2024, 1, 16, 9), off=[Process.EKONSULTASJON]), processed
    )
    assert [(e.effective_at, e.caused_by.kind) for e in outcome.events] == [
        (oslo(2024, 1, 15), "clock"),
        (processed, "message"),
    ]


def test_r11_absence_starting_today_takes_effect_when_registered():
    world = offering()
    outcome = world.send(absence("today", "2024-01-10", "2024-01-11"))
    (event,) = outcome.events
    assert event.effective_at == NOW and (event.caused_by.kind, event.caused_by.id) == ("absence", "today")
    assert set(statuses_of(event).values()) == {TC}


# --- R12 ---------------------------------------------------------------------------------------


def test_r12_duplicate_message_publishes_nothing():
    world = offering()
    command = status(NOW, off=[Process.EKONTAKT])
    assert len(world.send(command).events) == 1
    again = world.send(command)
    assert again.accepted and again.events == ()


def test_r12_late_message_publishes_nothing():
    world = offering()
    world.send(status(NOW, off=[Process.EKONTAKT]))
    late = world.send(status(NOW - dt.timedelta(hours=1), on=[Process.EKONTAKT]))
    assert late.events == () and world.status(KONTAKT) is NO


def test_r12_message_repeating_the_current_state_publishes_nothing():
    world = offering()
    repeat = world.send(status(NOW + dt.timedelta(minutes=1), on=ALL_FOUR_ON, complete=True))
    assert repeat.accepted and repeat.events == ()
    assert world.tick(oslo(2024, 3, 1)) == []  # and time alone changes nothing either


def test_r12_events_name_what_changed_and_carry_strictly_increasing_sequences():
    world = offering()
    world.send(status(NOW, off=[Process.EKONSULTASJON]))
    world.send(absence("a1", "2024-01-15", "2024-01-17", [KONTAKT]))
    world.tick(oslo(2024, 1, 20))
    world.send(status(oslo(2024, 1, 20), off=[Process.EKONTAKT, Process.RESEPTFORNYELSE]))
    changes = world.changes()
    assert [e.sequence for e in changes] == list(range(1, len(changes) + 1)) and len(changes) == 5
    assert [e.event_id for e in changes] == [f"{OFFICE}-{ASTRID}-{n}" for n in range(1, 6)]
    assert [e.changed for e in changes] == [
        list(Service),
        [EKONS],
        [KONTAKT],
        [KONTAKT],
        [Service.RESEPTFORNYELSE, KONTAKT],
    ]


# --- R13 ---------------------------------------------------------------------------------------


def test_r13_status_for_an_unlisted_practitioner_is_rejected_e20():
    world = offering()
    outcome = world.send(status(NOW, on=[Process.EKONTAKT], hpr=STRANGER))
    assert outcome.rejection is not None and outcome.rejection.code == "E20"
    assert outcome.pairs == () and (OFFICE, STRANGER) not in world.pairs


def test_r13_dialogue_note_from_an_unlisted_practitioner_is_rejected_e20():
    world = offering()
    outcome = world.send(note("conv-1", gen=NOW, hpr=STRANGER))
    assert outcome.rejection is not None and outcome.rejection.code == "E20"
    assert world.closed == set() and world.closings() == []


def test_r13_absence_registered_by_an_unlisted_registrar_is_rejected():
    world = offering()
    before = world.office()
    outcome = world.send(absence("a1", "2024-01-10", "2024-01-12", by=STRANGER))
    assert outcome.rejection is not None and outcome.rejection.code == "not_authorised"
    assert world.office() == before and world.pair().facts.absences == {} and outcome.events == ()


def test_r13_absence_for_an_unlisted_practitioner_is_rejected():
    world = offering()
    outcome = world.send(absence("a1", "2024-01-10", "2024-01-12", hpr=STRANGER, by=ASTRID))
    assert outcome.rejection is not None and outcome.rejection.code == "unknown_practitioner"
    assert (OFFICE, STRANGER) not in world.pairs


def test_r13_absence_deleted_by_an_unlisted_practitioner_is_rejected_and_stays():
    world = offering()
    world.send(absence("a1", "2024-01-10", "2024-01-12"))
    outcome = world.send(delete("a1", by=STRANGER))
    assert outcome.rejection is not None and outcome.rejection.code == "not_authorised"
    assert set(world.statuses().values()) == {TC}


def test_r13_another_practitioner_listed_at_the_office_may_register_an_absence():
    world = offering()
    outcome = world.send(absence("a1", "2024-01-10", "2024-01-12", by=ARNA))
    assert outcome.accepted and set(world.statuses().values()) == {TC}


def test_r13_a_behandleroversikt_names_its_office_and_a_later_one_without_a_name_keeps_it():
    """The office's name (MsgHead sender's OrganisationName) is kept for the support console's search."""
    world = World(now=oslo(2024, 1, 10))
    world.send(roster(oslo(2024, 1, 10), gp(), msg_id="r1").model_copy(update={"office_name": "Lysaker legesenter"}))
    assert world.office().name == "Lysaker legesenter"
    world.send(roster(oslo(2024, 1, 11), gp(), msg_id="r2"), at=oslo(2024, 1, 11))
    assert world.office().name == "Lysaker legesenter"
    world.send(
        roster(oslo(2024, 1, 12), gp(), msg_id="r3").model_copy(update={"office_name": "Lysaker helse"}),
        at=oslo(2024, 1, 12),
    )
    assert world.office().name == "Lysaker helse"


# --- R14 ---------------------------------------------------------------------------------------


def test_r14_from_after_to_is_rejected():
    world = offering()
    outcome = world.send(absence("a1", "2024-01-12", "2024-01-11"))
    assert outcome.rejection is not None and outcome.rejection.code == "from_after_to"
    assert world.pair().facts.absences == {}


def test_r14_an_absence_without_services_is_rejected():
    with pytest.raises(ValidationError):
        absence("a1", "2024-01-12", "2024-01-13", services=[])
    valid = absence("a1", "2024-01-12", "2024-01-13")
    empty = RegisterAbsence.model_construct(**{**dict(valid), "services": frozenset()})
    assert engine.validate_absence(empty).code == "no_services"


def test_r14_only_the_four_service_keys_are_accepted():
    fields = absence("a1", "2024-01-12", "2024-01-13").model_dump(mode="json")
    with pytest.raises(ValidationError):
        RegisterAbsence.model_validate({**fields, "services": ["TIMEBESTILLING", "VIDEO"]})
    assert RegisterAbsence.model_validate(fields).services == frozenset(Service)


def test_r14_at_most_366_days():
    world = offering()
    leap_year = world.send(absence("a1", "2024-01-11", "2025-01-10"))  # 366 days with 29 February
    assert leap_year.accepted
    too_long = world.send(absence("a2", "2024-01-11", "2025-01-11"))
    assert too_long.rejection is not None and too_long.rejection.code == "too_long"
    assert set(world.pair().facts.absences) == {"a1"}


def test_r14_deleting_an_unknown_absence_is_remembered_so_a_later_registration_stays_deleted():
    world = offering()
    deleted = world.send(delete("a1"))
    assert deleted.accepted and "a1" in world.office().deleted_absences
    late = world.send(absence("a1", "2024-01-10", "2024-01-12"))
    assert late.accepted and late.events == ()
    assert world.pair().facts.absences == {} and set(world.statuses().values()) == {AV}


def test_r14_registering_the_same_absence_twice_with_the_same_content_is_a_no_op():
    world = offering()
    world.send(absence("a1", "2024-01-10", "2024-01-12"))
    again = world.send(absence("a1", "2024-01-10", "2024-01-12", at=oslo(2024, 1, 10, 11)))
    assert again.accepted and again.events == () and again.pairs == ()


def test_r14_registering_with_different_content_replaces():
    world = offering()
    world.send(absence("a1", "2024-01-10", "2024-01-12"))
    outcome = world.send(absence("a1", "2024-01-10", "2024-01-14", [EKONS], at=oslo(2024, 1, 10, 11)))
    (event,) = only_changes(outcome.events)
    assert statuses_of(event) == {Service.TIMEBESTILLING: AV, Service.RESEPTFORNYELSE: AV, EKONS: TC, KONTAKT: AV}
    assert event.services.of(EKONS).reopens_on == d("2024-01-15")
    assert list(world.pair().facts.absences) == ["a1"]


def test_r14_the_same_dates_and_services_for_another_practitioner_is_different_content_and_moves_it():
    world = offering()
    world.send(status(NOW, on=[Process.EKONTAKT], hpr=ARNA))
    world.send(absence("a1", "2024-01-10", "2024-01-12"))
    moved = world.send(absence("a1", "2024-01-10", "2024-01-12", hpr=ARNA, at=oslo(2024, 1, 10, 13)))
    assert moved.accepted and world.office().absence_owner == {"a1": ARNA}
    assert set(world.statuses().values()) == {AV}
    assert world.status(KONTAKT, ARNA) is TC
    assert [e.practitioner_hpr for e in only_changes(moved.events)] == [ASTRID, ARNA]


def test_r14_an_older_registration_does_not_replace_a_newer_one():
    """Engine reading of "the later registration replaces": later by `registered_at`."""
    world = offering()
    world.send(absence("a1", "2024-01-10", "2024-01-12", at=oslo(2024, 1, 10, 11)))
    older = world.send(absence("a1", "2024-01-10", "2024-01-20", at=oslo(2024, 1, 9)))
    assert older.events == () and world.pair().facts.absences["a1"].to_date == d("2024-01-12")


def test_r14_deleting_a_known_absence_reopens_and_a_second_delete_is_a_no_op():
    world = offering()
    world.send(absence("a1", "2024-01-10", "2024-01-12"))
    (event,) = world.send(delete("a1")).events
    assert set(statuses_of(event).values()) == {AV} and event.caused_by.id == "a1"
    again = world.send(delete("a1"))
    assert again.accepted and again.events == ()


# --- R15 ---------------------------------------------------------------------------------------


def test_r15_every_rejection_carries_a_code_and_a_reason_for_the_receipt():
    """R15 itself (AppRec, error queue) is the message layer's; the engine supplies the codes."""
    world = offering()
    rejections = [
        world.send(status(NOW + dt.timedelta(hours=1), on=[Process.EKONTAKT])).rejection,
        world.send(note("c", gen=NOW + dt.timedelta(hours=1))).rejection,
        world.send(status(NOW, on=[Process.EKONTAKT], hpr=STRANGER)).rejection,
        world.send(note("c", gen=NOW, hpr=STRANGER)).rejection,
        world.send(absence("a1", "2024-01-12", "2024-01-11")).rejection,
        world.send(absence("a1", "2024-01-12", "2024-01-13", by=STRANGER)).rejection,
        world.send(delete("a1", by=STRANGER)).rejection,
    ]
    assert [r.code for r in rejections] == [
        "X99",
        "X99",
        "E20",
        "E20",
        "from_after_to",
        "not_authorised",
        "not_authorised",
    ]
    assert all(r.reason for r in rejections)
    assert len(world.events) == 1  # only the setup's first availability


# --- R16 ---------------------------------------------------------------------------------------


def test_r16_a_leaver_gets_a_last_all_not_offered_event():
    world = offering()
    outcome = world.send(roster(NOW, MIDWIFE))
    (event,) = outcome.events
    assert event.practitioner_hpr == ASTRID and set(statuses_of(event).values()) == {NO}
    assert event.panel_info_visible is False and event.substitute is None
    assert event.services.E_KONSULTASJON.accepts_replies is False
    assert event.changed == list(Service) and event.caused_by.kind == "message"


def test_r16_later_messages_about_a_leaver_are_rejected_e20():
    world = offering()
    world.send(roster(NOW, MIDWIFE))
    assert world.send(status(NOW, on=[Process.EKONTAKT])).rejection.code == "E20"
    assert world.send(note("conv-9", gen=NOW)).rejection.code == "E20"
    assert world.send(absence("a1", "2024-01-12", "2024-01-13", by=ARNA)).rejection.code == "unknown_practitioner"
    assert world.send(absence("a2", "2024-01-12", "2024-01-13")).rejection.code == "not_authorised"


def test_r16_a_leaver_in_the_middle_of_an_absence_gets_no_r10_warning_and_no_more_events():
    world = offering()
    world.send(status(NOW + dt.timedelta(minutes=1), off=[Process.EKONSULTASJON]))
    world.send(absence("a1", "2024-01-10", "2024-01-12"))
    assert world.status(EKONS) is TC
    world.send(roster(NOW, MIDWIFE))
    assert set(world.statuses().values()) == {NO} and world.warnings() == []
    assert world.tick(oslo(2024, 2, 1)) == [] and engine.next_change(world.pair()) is None


def test_r16_an_older_roster_arriving_late_does_not_remove_anyone():
    world = offering()
    world.send(roster(NOW, gp(), MIDWIFE))
    late = world.send(roster(NOW - dt.timedelta(days=1), MIDWIFE))
    assert late.events == () and late.office is None
    assert world.office().is_listed(ASTRID) and world.status(KONTAKT) is AV


def test_r16_a_practitioner_listed_again_shows_their_services_again():
    world = offering()
    world.send(roster(NOW, MIDWIFE))
    (event,) = world.send(roster(NOW + dt.timedelta(minutes=1), gp(), MIDWIFE)).events
    assert set(statuses_of(event).values()) == {AV} and event.sequence == 3
