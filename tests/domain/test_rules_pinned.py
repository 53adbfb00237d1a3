"""Behaviour no test pinned before issue 15 (found by mutation testing), each with the rule it follows."""

from __future__ import annotations

import datetime as dt

from adapter.domain.events import AvailabilityChanged, AvailabilityWarning, WarningCode
from adapter.domain.model import Process
from adapter.domain.state import RECENT_REPORTS, OfficeState

from .builders import (
    ALL_FOUR_ON,
    ASTRID,
    AV,
    EKONS,
    INGAR,
    KONTAKT,
    MIDWIFE,
    NO,
    OFFICE,
    TC,
    World,
    absence,
    d,
    delete,
    gp,
    note,
    oslo,
    roster,
    status,
    switched_on,
    vikar,
)

STILL_OFF = WarningCode.SERVICE_STILL_OFF_AFTER_ABSENCE
OVERRIDES = WarningCode.ABSENCE_OVERRIDES_SUBSTITUTE


# --- R10: the warning only when the run ends -------------------------------------------------


def test_r1_r10_an_on_that_never_held_ends_normally_on_without_the_warning():
    """Same GenDate, greater MsgId: by R1 the "on" never held, so E-konsultasjon is not normally on
    (R4) while the absence still covers the day: NOT_OFFERED, and no "the absence is over"."""
    gen = oslo(2024, 1, 14, 12)
    world = World(now=gen)
    world.send(status(gen, on=[Process.EKONSULTASJON], msg_id="m-a"), at=gen)
    world.send(absence("a1", "2024-01-15", "2024-01-20", [EKONS]), at=gen)
    world.tick(oslo(2024, 1, 16))
    assert world.status(EKONS) is TC
    outcome = world.send(status(gen, off=[Process.EKONSULTASJON], msg_id="m-b"), at=oslo(2024, 1, 16, 9))
    assert world.status(EKONS) is NO
    assert [e for e in outcome.events if isinstance(e, AvailabilityWarning)] == []
    world.tick(oslo(2024, 1, 25))  # nor when the run ends later: the service was no longer closed
    assert world.warnings() == []


def test_r4_r10_a_delayed_off_before_the_window_ends_normally_on_without_the_warning():
    """On since 1 December; the absence runs 10–20 February (window from 11 January). A delayed report
    says it went off on 5 January: it was not on in the window, so NOT_OFFERED, no warning."""
    world = World(now=oslo(2023, 12, 1))
    switched_on(world, oslo(2023, 12, 1), Process.EKONSULTASJON)
    world.send(absence("a1", "2024-02-10", "2024-02-20", [EKONS]))
    world.tick(oslo(2024, 2, 12))
    assert world.status(EKONS) is TC
    delayed = world.send(status(oslo(2024, 1, 5), off=[Process.EKONSULTASJON]), at=oslo(2024, 2, 12, 9))
    assert world.status(EKONS) is NO
    assert [e for e in delayed.events if isinstance(e, AvailabilityWarning)] == []


def test_r3_r4_r10_an_absence_moved_earlier_out_of_the_run_ends_normally_on_without_the_warning():
    """a0 (1–5 Feb) and a1 (6–15 Feb) are one run from 1 Feb; off since 5 January, which is inside its
    window. a0 re-registered to 20–31 January no longer touches a1: today's run starts 6 Feb, its window
    on 7 January, after the last day on. NOT_OFFERED while a1 still covers the day: no warning."""
    world = World(now=oslo(2023, 12, 1))
    switched_on(world, oslo(2023, 12, 1), Process.EKONSULTASJON)
    world.send(status(oslo(2024, 1, 5), off=[Process.EKONSULTASJON]), at=oslo(2024, 1, 5))
    world.send(absence("a0", "2024-02-01", "2024-02-05", [EKONS], at=oslo(2024, 1, 6)))
    world.send(absence("a1", "2024-02-06", "2024-02-15", [EKONS], at=oslo(2024, 1, 6)))
    world.tick(oslo(2024, 2, 10))
    assert (world.status(EKONS), world.reopens_on(EKONS)) == (TC, d("2024-02-16"))
    moved = world.send(absence("a0", "2024-01-20", "2024-01-31", [EKONS], at=oslo(2024, 2, 10, 8)))
    assert world.status(EKONS) is NO
    assert [e for e in moved.events if isinstance(e, AvailabilityWarning)] == []


def test_r10_shortening_the_absence_so_it_no_longer_covers_today_warns():
    world = World(now=oslo(2024, 1, 10))
    switched_on(world, oslo(2024, 1, 10), Process.EKONSULTASJON, Process.EKONTAKT)
    world.send(status(oslo(2024, 1, 12, 15), off=[Process.EKONSULTASJON]), at=oslo(2024, 1, 12, 15))
    world.send(absence("a1", "2024-01-15", "2024-01-20", [EKONS, KONTAKT]))
    world.tick(oslo(2024, 1, 16))
    shortened = world.send(absence("a1", "2024-01-15", "2024-01-15", [EKONS, KONTAKT], at=oslo(2024, 1, 16, 8)))
    assert (world.status(EKONS), world.status(KONTAKT)) == (NO, AV)
    (warning,) = [e for e in shortened.events if isinstance(e, AvailabilityWarning)]
    assert (warning.code, warning.service, warning.absence_id) == (STILL_OFF, EKONS, "a1")


def test_r10_deleting_one_of_two_overlapping_absences_the_warning_names_the_one_left():
    world = World(now=oslo(2024, 1, 10))
    switched_on(world, oslo(2024, 1, 10), Process.EKONSULTASJON)
    world.send(status(oslo(2024, 1, 12, 15), off=[Process.EKONSULTASJON]), at=oslo(2024, 1, 12, 15))
    world.send(absence("a1", "2024-01-15", "2024-01-20", [EKONS]))
    world.send(absence("a2", "2024-01-17", "2024-01-20", [EKONS]))
    world.tick(oslo(2024, 1, 18))
    assert world.pair().closed_by[EKONS] == "a2"  # equal ends: the greater id ends the run (R3)
    world.send(delete("a2"), at=oslo(2024, 1, 18, 9))
    assert world.status(EKONS) is TC and world.warnings() == []  # a1 still covers the day
    world.tick(oslo(2024, 1, 21))
    assert [(w.service, w.absence_id, w.effective_at) for w in world.warnings()] == [(EKONS, "a1", oslo(2024, 1, 21))]


# --- R3 ------------------------------------------------------------------------------------------


def test_r3_three_touching_absences_are_one_run_that_reopens_after_the_last():
    world = World(now=oslo(2024, 1, 10))
    switched_on(world, oslo(2024, 1, 10), *ALL_FOUR_ON)
    world.send(absence("a3", "2024-01-19", "2024-01-20", [KONTAKT]))
    world.send(absence("a1", "2024-01-15", "2024-01-16", [KONTAKT]))
    world.send(absence("a2", "2024-01-17", "2024-01-18", [KONTAKT]))
    world.tick(oslo(2024, 1, 15))
    assert (world.status(KONTAKT), world.reopens_on(KONTAKT)) == (TC, d("2024-01-21"))
    assert world.pair().closed_by[KONTAKT] == "a3"
    assert world.tick(oslo(2024, 1, 20, 23)) == []  # no change at the joins
    world.tick(oslo(2024, 1, 21))
    assert world.status(KONTAKT) is AV


# --- R9 ------------------------------------------------------------------------------------------


def test_r9_two_substitutes_on_the_same_day_the_earliest_starting_is_shown():
    other = vikar("6600001", start=d("2024-07-05"), end=d("2024-07-15"), given="Vera", family="Dahl")
    same_start = vikar("4400001", start=d("2024-07-05"), end=d("2024-07-06"), given="Ola", family="Nes")
    world = World(gp(), vikar(start=d("2024-07-01"), end=d("2024-07-31")), other, now=oslo(2024, 6, 20))
    switched_on(world, oslo(2024, 6, 20), *ALL_FOUR_ON)
    world.tick(oslo(2024, 7, 10))
    assert world.availability().substitute.hpr == INGAR  # started 1 July, before Vera's 5 July

    world = World(gp(), other, same_start, now=oslo(2024, 6, 20))
    switched_on(world, oslo(2024, 6, 20), *ALL_FOUR_ON)
    world.tick(oslo(2024, 7, 5))
    assert world.availability().substitute.hpr == "4400001"  # same start: the smaller HPR
    world.tick(oslo(2024, 7, 7))
    assert world.availability().substitute.hpr == "6600001"


def test_r9_an_absence_overlapping_a_substitute_period_by_exactly_one_day_warns():
    world = World(gp(), vikar(start=d("2024-07-01"), end=d("2024-07-15")), now=oslo(2024, 6, 20))
    switched_on(world, oslo(2024, 6, 20), *ALL_FOUR_ON)
    world.send(absence("after", "2024-07-16", "2024-07-20"))
    world.send(absence("before", "2024-06-25", "2024-06-30"))
    assert world.warnings() == []
    world.send(absence("last-day", "2024-07-15", "2024-07-20"))
    world.send(absence("first-day", "2024-06-25", "2024-07-01"))
    assert [(w.absence_id, w.substitute_hpr) for w in world.warnings(OVERRIDES)] == [
        ("last-day", INGAR),
        ("first-day", INGAR),
    ]


def test_r9_r10_warnings_are_numbered_per_pair_across_both_kinds():
    world = World(gp(), vikar(start=d("2024-07-01"), end=d("2024-07-31")), now=oslo(2024, 6, 20))
    switched_on(world, oslo(2024, 6, 20), Process.EKONSULTASJON)
    world.send(absence("a1", "2024-07-10", "2024-07-12", [EKONS]))
    world.send(absence("a2", "2024-07-20", "2024-07-21", [EKONS]))
    world.send(status(oslo(2024, 7, 1), off=[Process.EKONSULTASJON]), at=oslo(2024, 7, 1))
    world.tick(oslo(2024, 7, 13))
    prefix = f"{OFFICE}-{ASTRID}-w-"
    assert [(w.event_id, w.code) for w in world.warnings()] == [
        (prefix + "1", OVERRIDES),
        (prefix + "2", OVERRIDES),
        (prefix + "3", STILL_OFF),
    ]
    assert world.pair().warnings_sent == 3


# --- R13, R14 --------------------------------------------------------------------------------------


def test_r13_deleting_one_absence_keeps_the_owners_of_the_others():
    world = World(now=oslo(2024, 1, 10))
    switched_on(world, oslo(2024, 1, 10), *ALL_FOUR_ON)
    world.send(absence("a1", "2024-01-15", "2024-01-16"))
    world.send(absence("a2", "2024-01-20", "2024-01-21"))
    world.send(delete("a1"))
    assert world.office().absence_owner == {"a2": ASTRID}
    world.tick(oslo(2024, 1, 20))
    assert world.status(KONTAKT) is TC
    world.send(delete("a2"), at=oslo(2024, 1, 20, 9))  # still found: its pair is loaded and reopens
    assert world.status(KONTAKT) is AV and world.pair().facts.absences == {}


def test_r14_a_re_registration_with_the_same_registered_at_and_other_content_replaces():
    world = World(now=oslo(2024, 1, 10))
    switched_on(world, oslo(2024, 1, 10), *ALL_FOUR_ON)
    at = oslo(2024, 1, 10, 8)
    world.send(absence("a1", "2024-01-15", "2024-01-16", at=at))
    replaced = world.send(absence("a1", "2024-01-15", "2024-01-18", at=at))
    assert replaced.accepted and world.pair().facts.absences["a1"].to_date == d("2024-01-18")
    world.tick(oslo(2024, 1, 15))
    assert world.reopens_on(KONTAKT) == d("2024-01-19")


def test_r9_r13_a_behandleroversikt_for_an_office_without_a_roster_yet_is_taken():
    world = World(now=oslo(2024, 1, 10))
    world.offices[OFFICE] = OfficeState(her_id=OFFICE)
    outcome = world.send(roster(oslo(2024, 1, 10), gp()))
    assert outcome.accepted and outcome.office is not None and outcome.office.is_listed(ASTRID)
    assert outcome.events == () and outcome.pairs == ()  # nobody was told anything yet: nothing to save
    switched_on(world, oslo(2024, 1, 10, 1), Process.EKONTAKT)
    assert world.status(KONTAKT) is AV


# --- R1 (the clock), R7, R11, R12 -------------------------------------------------------------------


def test_r1_r7_a_dialogue_note_exactly_ten_minutes_ahead_is_taken():
    world = World(now=oslo(2024, 1, 10, 12))
    outcome = world.send(note("c1", gen=oslo(2024, 1, 10, 12, 10)))
    assert outcome.accepted and outcome.closed_conversations == ("c1",)
    late = world.send(note("c2", gen=oslo(2024, 1, 10, 12, 10, 1)))
    assert late.rejection is not None and late.rejection.code == "X99"


def test_r11_applying_a_fact_with_a_clock_behind_the_pair_never_moves_it_backwards():
    world = World(now=oslo(2024, 1, 10))
    switched_on(world, oslo(2024, 1, 10), *ALL_FOUR_ON)
    world.tick(oslo(2024, 1, 12))
    as_of = world.pair().as_of
    from adapter.domain import engine

    earlier = oslo(2024, 1, 11)
    outcome = engine.apply(world.office(), {ASTRID: world.pair()}, status(earlier, complete=True), earlier)
    (change,) = [e for e in outcome.events if isinstance(e, AvailabilityChanged)]
    assert change.effective_at == as_of  # published at the pair's instant, not before it
    assert outcome.pairs[0].as_of == as_of


def test_r12_the_same_status_message_twice_keeps_one_copy_in_the_history():
    world = World(now=oslo(2024, 1, 10))
    command = status(oslo(2024, 1, 10), on=[Process.EKONTAKT], off=[Process.EKONSULTASJON])
    world.send(command)
    before = world.pair().facts.processes
    again = world.send(command, at=oslo(2024, 1, 10, 1))
    assert again.events == ()
    assert world.pair().facts.processes == before
    assert [len(before[p]) for p in (Process.EKONTAKT, Process.EKONSULTASJON)] == [1, 1]


def test_r12_hourly_syncs_of_the_same_statuses_do_not_grow_the_state():
    """Issue 10: repeats add nothing to a process that is on, at most one report a day to one that is
    off, and nothing at all once RECENT_REPORTS are kept: the state stops growing."""
    world = World(now=oslo(2024, 1, 10))
    start = oslo(2024, 1, 10)
    sizes = {}
    for hour in range(24 * 40):
        at = start + dt.timedelta(hours=hour)
        world.send(status(at, on=[Process.EKONTAKT, Process.TIMERESERVASJON], complete=True), at=at)
        if hour % 24 == 0:
            sizes[hour // 24] = len(world.pair().to_json())
    histories = world.pair().facts.processes
    assert [len(histories[p]) for p in (Process.EKONTAKT, Process.TIMERESERVASJON)] == [2, 2]
    assert all(len(h) <= RECENT_REPORTS for h in histories.values())
    assert sizes[RECENT_REPORTS + 1] == sizes[39]


def test_r1_r4_tens_of_thousands_of_reports_for_one_pair_keep_its_state_under_a_fixed_bound():
    """Issue 10: 20,000 reports, flapping and repeating, arriving late and in order: the kept reports
    never exceed RECENT_REPORTS per process and the stored state stays under 4 KB, so the work per
    report (which is proportional to them) does not grow with the history."""
    world = World(now=oslo(2023, 1, 1))
    start = oslo(2023, 1, 1)
    largest = 0
    for n in range(20_000):
        at = start + dt.timedelta(minutes=20 * n)
        gen = at - dt.timedelta(hours=(n * 7) % 5)  # some arrive a few hours late
        flapping = [Process.EKONSULTASJON] if (n // 3) % 2 else []
        world.send(status(gen, on=[Process.EKONTAKT, *flapping], off=[Process.RESEPTFORNYELSE]), at=at)
        pair = world.pair()
        assert all(len(h) <= RECENT_REPORTS for h in pair.facts.processes.values())
        if n % 500 == 0:
            largest = max(largest, len(pair.to_json()))
    assert largest < 4096
    assert world.status(KONTAKT) is AV


# --- more pins from the mutation run ----------------------------------------------------------------


def test_r9_only_a_vikar_for_fastlege_entry_is_a_substitute():
    """Kodeverk 9034 role 15 makes a substitute; another role with a VikarFor-like cover does not (R9)."""
    not_a_vikar = vikar("6600001", start=d("2024-07-01"), end=d("2024-07-31")).model_copy(update={"role": "6"})
    world = World(gp(), not_a_vikar, now=oslo(2024, 6, 20))
    switched_on(world, oslo(2024, 6, 20), *ALL_FOUR_ON)
    world.tick(oslo(2024, 7, 10))
    assert world.availability().substitute is None and world.pair().facts.substitutes == ()


def test_r1_r12_the_same_behandleroversikt_twice_changes_and_saves_nothing():
    world = World(gp(), now=oslo(2024, 1, 10))
    switched_on(world, oslo(2024, 1, 10), Process.EKONTAKT)
    listing = roster(oslo(2024, 1, 10, 1), gp(), vikar(start=d("2024-02-01"), end=None), msg_id="r-1")
    first = world.send(listing, at=oslo(2024, 1, 10, 2))
    assert first.office is not None
    again = world.send(listing, at=oslo(2024, 1, 10, 3))
    assert (again.office, again.pairs, again.events) == (None, (), ())


def test_r9_a_behandleroversikt_saves_pairs_that_exist_or_carry_a_substitute_only():
    world = World(gp(), now=oslo(2024, 1, 10))
    switched_on(world, oslo(2024, 1, 10), Process.EKONTAKT)
    newcomer = gp("1234567", "Ny", "Lege")
    listing = roster(oslo(2024, 1, 10, 1), gp(), newcomer, vikar(start=d("2024-02-01"), end=None))
    outcome = world.send(listing, at=oslo(2024, 1, 10, 1))
    assert outcome.accepted
    assert sorted(p.facts.practitioner_hpr for p in outcome.pairs) == [ASTRID]  # Astrid's exists and gains a vikar
    assert outcome.pairs[0].facts.substitutes[0].hpr == INGAR


def test_r14_a_deleted_known_absence_stays_deleted_when_registered_again():
    world = World(now=oslo(2024, 1, 10))
    switched_on(world, oslo(2024, 1, 10), *ALL_FOUR_ON)
    world.send(absence("a1", "2024-01-15", "2024-01-16"))
    deleted = world.send(delete("a1"))
    assert deleted.office is not None and "a1" in deleted.office.deleted_absences
    assert world.send(absence("a1", "2024-01-15", "2024-01-16", at=oslo(2024, 1, 10, 5))).events == ()
    world.tick(oslo(2024, 1, 15))
    assert world.status(KONTAKT) is AV


def test_r12_events_name_the_message_that_caused_them():
    world = World(gp(), now=oslo(2024, 1, 10))
    outcome = world.send(status(oslo(2024, 1, 10), on=[Process.EKONTAKT], msg_id="m-77"))
    assert outcome.events[0].caused_by.model_dump() == {"kind": "message", "id": "m-77"}
    leaving = world.send(roster(oslo(2024, 1, 10, 1), MIDWIFE, msg_id="r-9"), at=oslo(2024, 1, 10, 1))
    assert leaving.events[0].caused_by.model_dump() == {"kind": "message", "id": "r-9"}
