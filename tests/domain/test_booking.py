"""The booking list "Velg behandler" (issue 12, seeds/004), rule by rule: who is on it, how each line is
worded, in which order, and when it counts as changed. Pairs are driven through the pure engine
(`World`), so every availability here is one the adapter would publish."""

from __future__ import annotations

import datetime as dt
import json

from adapter.domain import booking
from adapter.domain.events import CLOCK, Cause
from adapter.domain.model import Practitioner, Process, Role
from adapter.domain.persisted import dump_office, load_office
from adapter.domain.state import NOTHING_OFFERED, OfficeState

from .builders import (
    ALL_FOUR_ON,
    ARNA,
    ASTRID,
    INGAR,
    MIDWIFE,
    OFFICE,
    RESEPT,
    TIME,
    World,
    absence,
    d,
    gp,
    oslo,
    roster,
    status,
    vikar,
)

BJORN = "6677889"
JULY = {"start": d("2024-07-01"), "end": d("2024-07-31")}
START = oslo(2024, 6, 10, 8)
JORDMOR = MIDWIFE.model_copy(update={"role_name": "Jordmor"})


def labels(world: World, office: int = OFFICE) -> list[str]:
    return [line.label for line in listed(world, office)]


def listed(world: World, office: int = OFFICE) -> booking.BookingList:
    """The office's list from what each of its pairs was last published as."""
    pairs = {hpr: pair.published for (o, hpr), pair in world.pairs.items() if o == office}
    return booking.booking_list(world.office(office), pairs)


def lysaker(*extra: Practitioner, now: dt.datetime = START) -> World:
    """Astrid (GP), Ingar (her substitute in July) and Arna (a midwife), as in behandleroversikt.xml."""
    return World(gp(), vikar(**JULY), JORDMOR, *extra, now=now)


def test_a_gp_whose_bestill_time_is_available_is_listed_as_name_fastlege() -> None:
    world = lysaker()
    world.send(status(world.now, on=ALL_FOUR_ON))
    (line,) = listed(world)
    assert (line.hpr, line.name, line.role, line.role_name, line.label, line.covers_hpr) == (
        ASTRID,
        "Astrid Info",
        Role.FASTLEGE.value,
        "fastlege",
        "Astrid Info fastlege",
        None,
    )


def test_a_gp_without_bestill_time_is_not_listed_whatever_else_is_on_r5() -> None:
    world = lysaker()
    world.send(status(world.now, on=[Process.RESEPTFORNYELSE, Process.EKONTAKT]))
    assert world.status(RESEPT) == "AVAILABLE" and world.status(TIME) == "NOT_OFFERED"
    assert listed(world) == ()


def test_booking_by_request_only_is_bookable_too() -> None:
    world = lysaker()
    world.send(status(world.now, on=[Process.TIMEONSKE]))
    assert labels(world) == ["Astrid Info fastlege"]


def test_a_gp_on_holiday_is_not_listed_while_closed_and_is_again_after_r3_r5() -> None:
    world = lysaker()
    world.send(status(world.now, on=ALL_FOUR_ON))
    world.send(absence("ferie", "2024-06-17", "2024-06-21", hpr=ASTRID, at=world.now))
    assert labels(world) == ["Astrid Info fastlege"], "before the absence begins"
    world.tick(oslo(2024, 6, 17))
    assert world.status(TIME) == "TEMPORARILY_CLOSED"
    assert labels(world) == [], "temporarily closed: no new request can be started"
    world.tick(oslo(2024, 6, 22))
    assert labels(world) == ["Astrid Info fastlege"]


def test_a_substitute_is_listed_through_the_gp_exactly_during_the_period_r9() -> None:
    world = lysaker()
    world.send(status(world.now, on=ALL_FOUR_ON))
    assert labels(world) == ["Astrid Info fastlege"]
    world.tick(oslo(2024, 6, 30, 23, 59))
    assert labels(world) == ["Astrid Info fastlege"], "the day before the period"
    world.tick(oslo(2024, 7, 1))
    assert labels(world) == ["Astrid Info fastlege", "Ingar Vik (vikar for fastlege)"]
    substitute = listed(world)[1]
    assert (substitute.hpr, substitute.role, substitute.role_name, substitute.covers_hpr) == (
        INGAR,
        Role.VIKAR_FOR_FASTLEGE.value,
        "vikar for fastlege",
        ASTRID,
    )
    world.tick(oslo(2024, 7, 31, 23, 59))
    assert len(listed(world)) == 2, "the period's last day"
    world.tick(oslo(2024, 8, 1))
    assert labels(world) == ["Astrid Info fastlege"]


def test_a_substitute_is_not_listed_when_the_gp_does_not_offer_bestill_time() -> None:
    world = lysaker(now=oslo(2024, 7, 2))
    world.send(status(world.now, on=[Process.EKONTAKT]))
    assert world.availability().substitute is not None
    assert listed(world) == (), "the substitute books through the GP's own processes (seeds/002)"


def test_an_absence_inside_the_substitute_period_takes_both_off_the_list_r9() -> None:
    world = lysaker(now=oslo(2024, 6, 10))
    world.send(status(world.now, on=ALL_FOUR_ON))
    world.send(absence("ferie", "2024-07-08", "2024-07-19", hpr=ASTRID, at=world.now))
    world.tick(oslo(2024, 7, 1))
    assert labels(world) == ["Astrid Info fastlege", "Ingar Vik (vikar for fastlege)"]
    world.tick(oslo(2024, 7, 8))
    assert labels(world) == [], "seeds/000: with a substitute, an absence makes the service unavailable"
    world.tick(oslo(2024, 7, 20))
    assert labels(world) == ["Astrid Info fastlege", "Ingar Vik (vikar for fastlege)"]


def test_another_role_is_listed_by_its_own_bestill_time_with_the_rosters_role_name() -> None:
    world = lysaker()
    assert listed(world) == ()
    world.send(status(world.now, on=[Process.TIMERESERVASJON], hpr=ARNA))
    (line,) = listed(world)
    assert (line.label, line.role, line.role_name) == ("Arna Berg (jordmor)", "99", "jordmor")
    world.send(status(oslo(2024, 6, 10, 9), off=[Process.TIMERESERVASJON], hpr=ARNA), at=oslo(2024, 6, 10, 9))
    assert listed(world) == (), "no Bestill time, nothing to book: whatever the role"


def test_a_role_without_a_name_in_the_roster_is_a_behandler() -> None:
    world = World(MIDWIFE, now=oslo(2024, 6, 10))
    world.send(status(world.now, on=[Process.TIMERESERVASJON], hpr=ARNA))
    assert labels(world) == ["Arna Berg (behandler)"]


def test_the_guides_list_in_the_guides_order_and_words() -> None:
    """seeds/004, step 2: GPs first, then substitutes, then other roles; by name within each."""
    benedikte = Practitioner(hpr="1234567", given_name="Benedikte", role=Role.FASTLEGE)
    ingar = vikar(covers="1234567", given="Ingar", family="", start=d("2023-11-01"), end=None)
    arna = Practitioner(hpr=ARNA, given_name="Arna", role="99", role_name="Jordmor")
    anders = Practitioner(hpr="7654321", given_name="Anders", role=Role.FASTLEGE)
    world = World(arna, ingar, benedikte, anders, now=oslo(2023, 11, 8, 13))
    for hpr in (ARNA, "1234567", "7654321"):
        world.send(status(world.now, on=[Process.TIMERESERVASJON], hpr=hpr))
    assert labels(world) == [
        "Anders fastlege",
        "Benedikte fastlege",
        "Ingar (vikar for fastlege)",
        "Arna (jordmor)",
    ]


def test_a_practitioner_who_left_is_never_listed_r16() -> None:
    world = lysaker(gp(BJORN, "Bjørn", "Aas"))
    world.send(status(world.now, on=ALL_FOUR_ON))
    world.send(status(world.now, on=ALL_FOUR_ON, hpr=BJORN))
    assert labels(world) == ["Astrid Info fastlege", "Bjørn Aas fastlege"]
    world.send(roster(oslo(2024, 6, 11), gp(), vikar(**JULY), JORDMOR), at=oslo(2024, 6, 11))
    assert world.availability(BJORN) == NOTHING_OFFERED
    assert labels(world) == ["Astrid Info fastlege"]
    # Even an availability saying otherwise does not list someone the roster does not.
    stale = {BJORN: world.availability(ASTRID)}
    assert booking.booking_list(world.office(), stale) == ()


def test_names_come_from_the_roster_and_nothing_else() -> None:
    world = lysaker()
    world.send(status(world.now, on=ALL_FOUR_ON))
    text = json.dumps([line.to_json() for line in listed(world)])
    assert set(json.loads(text)[0]) == {"hpr", "name", "role", "role_name", "label", "covers_hpr"}


def test_a_renamed_practitioner_is_listed_by_the_new_name_though_their_availability_is_the_same() -> None:
    """Issue 14: a pair's lines are remembered by the very availability and roster entry they come
    from; a new behandleroversikt (new entries, R13) words them again, the same availability or not."""
    world = lysaker()
    world.send(status(world.now, on=ALL_FOUR_ON))
    office, availability = world.office(), world.availability()
    first = booking.lines_of(office, ASTRID, availability)
    assert booking.lines_of(office, ASTRID, availability) is first  # remembered
    assert office.roster is not None
    renamed = office.model_copy(
        update={"roster": {**office.roster, ASTRID: office.roster[ASTRID].model_copy(update={"given_name": "Asta"})}}
    )
    assert [line.label for line in booking.lines_of(renamed, ASTRID, availability)] == ["Asta Info fastlege"]
    assert booking.lines_of(office, ASTRID, availability) == first


# ---------------------------------------------------------------------------------------------
# When the list changes, and what is published
# ---------------------------------------------------------------------------------------------


def test_only_a_change_of_the_pairs_own_lines_changes_the_list() -> None:
    world = lysaker()
    world.send(status(world.now, on=ALL_FOUR_ON))
    office, _ = booking.publish(world.office(), listed(world), world.now, CLOCK)
    world.send(status(oslo(2024, 6, 10, 9), off=[Process.RESEPTFORNYELSE]), at=oslo(2024, 6, 10, 9))
    assert not booking.changes_with(office, ASTRID, world.availability()), "Forny resept is not on the list"
    world.send(status(oslo(2024, 6, 10, 10), off=[Process.TIMERESERVASJON]), at=oslo(2024, 6, 10, 10))
    assert booking.changes_with(office, ASTRID, world.availability())
    assert not booking.changes_with(office, ARNA, NOTHING_OFFERED), "the midwife was not on it and is not"


def test_an_office_stored_before_the_list_is_rebuilt_when_a_bookable_pair_changes() -> None:
    world = lysaker()
    world.send(status(world.now, on=ALL_FOUR_ON))
    legacy = world.office()
    assert legacy.booking == () and legacy.booking_sequence == 0
    assert booking.changes_with(legacy, ASTRID, world.availability())


def test_publishing_numbers_the_lists_of_an_office_and_repeats_nothing() -> None:
    world = lysaker()
    world.send(status(world.now, on=ALL_FOUR_ON))
    cause = Cause(kind="message", id="m-1")
    office, event = booking.publish(world.office(), listed(world), world.now, cause)
    assert event is not None
    assert (event.type, event.event_id, event.office_her_id, event.sequence) == (
        "office.practitioners.changed",
        f"{OFFICE}-practitioners-1",
        OFFICE,
        1,
    )
    assert event.effective_at == world.now and event.caused_by == cause
    assert [p.label for p in event.practitioners] == ["Astrid Info fastlege"]
    assert (office.booking, office.booking_sequence) == (listed(world), 1)
    assert booking.publish(office, listed(world), world.now, cause) == (office, None), "the same list again"
    assert booking.sequence_now(office, listed(world)) == 1
    assert booking.sequence_now(office, ()) == 2, "a different list is what the next event will carry"
    emptied, event = booking.publish(office, (), world.now, CLOCK)
    assert event is not None and event.sequence == 2 and event.practitioners == []
    assert emptied.booking_sequence == 2


def test_the_list_and_the_role_names_are_kept_in_the_stored_office() -> None:
    world = lysaker()
    world.send(status(world.now, on=ALL_FOUR_ON))
    office, _ = booking.publish(world.office(), listed(world), world.now, CLOCK)
    again = load_office(dump_office(office))
    assert again == office
    assert again.roster is not None and again.roster[ARNA].role_name == "Jordmor"


def test_an_office_stored_before_the_list_loads_with_the_empty_baseline() -> None:
    office = OfficeState(her_id=OFFICE, roster={p.hpr: p for p in (gp(), JORDMOR)})
    document = json.loads(dump_office(office))
    del document["booking"]
    for entry in document["roster"]:
        del entry["role_name"]
    old = load_office(json.dumps(document))
    assert (old.booking, old.booking_sequence) == ((), 0)
    assert old.roster is not None and old.roster[ARNA].role_name == ""


def test_the_list_at_an_instant_applies_what_is_due_by_then_to_copies_r11() -> None:
    world = lysaker(gp(BJORN, "Bjørn", "Aas"))
    world.send(status(world.now, on=ALL_FOUR_ON))
    world.send(status(world.now, on=ALL_FOUR_ON, hpr=BJORN))
    world.send(absence("ferie", "2024-06-17", "2024-06-21", hpr=BJORN, at=world.now))
    pairs = {hpr: pair for (_, hpr), pair in world.pairs.items()}
    midnight = oslo(2024, 6, 17)
    assert [e.label for e in booking.booking_list_at(world.office(), pairs, midnight)] == ["Astrid Info fastlege"]
    assert [e.label for e in booking.booking_list_at(world.office(), pairs, oslo(2024, 7, 1))] == [
        "Astrid Info fastlege",
        "Bjørn Aas fastlege",
        "Ingar Vik (vikar for fastlege)",
    ]
    assert {hpr: p.as_of for hpr, p in pairs.items()} == {hpr: p.as_of for (_, hpr), p in world.pairs.items()}
    assert world.pair(BJORN).published.services.TIMEBESTILLING.status == "AVAILABLE", "copies: nothing saved"
