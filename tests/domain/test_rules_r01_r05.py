"""R1–R5: process status (newest wins), services on, absence runs, "normally on", the status."""

from __future__ import annotations

import datetime as dt

from adapter.domain.calendar import midnight
from adapter.domain.events import AvailabilityChanged
from adapter.domain.model import BookingMode, Process, Service

from .builders import (
    ALL_FOUR_ON,
    ASTRID,
    AV,
    EKONS,
    KONTAKT,
    NO,
    NOW,
    OFFICE,
    RESEPT,
    TC,
    TIME,
    World,
    absence,
    d,
    gp,
    offering,
    oslo,
    roster,
    status,
    switched_on,
)

# --- R1 ----------------------------------------------------------------------------------------


def test_r1_newest_gendate_wins():
    world = World(now=NOW)
    world.send(status(oslo(2024, 1, 10, 9), on=[Process.EKONSULTASJON]))
    world.send(status(oslo(2024, 1, 10, 10), off=[Process.EKONSULTASJON]))
    assert world.status(EKONS) is NO

    # The same two messages arriving the other way round: the older one is late and changes nothing.
    other = World(now=NOW)
    other.send(status(oslo(2024, 1, 10, 10), off=[Process.EKONSULTASJON]))
    late = other.send(status(oslo(2024, 1, 10, 9), on=[Process.EKONSULTASJON]))
    assert late.accepted and late.events == ()
    assert other.status(EKONS) is NO


def test_r1_equal_gendate_broken_by_greater_msgid():
    gen = oslo(2024, 1, 10, 9)
    on = status(gen, on=[Process.EKONSULTASJON], msg_id="msg-a")
    off = status(gen, off=[Process.EKONSULTASJON], msg_id="msg-b")
    for order in ((on, off), (off, on)):
        world = World(now=NOW)
        for command in order:
            world.send(command)
        assert world.status(EKONS) is NO  # "msg-b" > "msg-a": its "off" wins, whatever the order

    world = World(now=NOW)
    world.send(status(gen, off=[Process.EKONSULTASJON], msg_id="msg-a"))
    world.send(status(gen, on=[Process.EKONSULTASJON], msg_id="msg-b"))
    assert world.status(EKONS) is AV


def test_r1_complete_report_turns_unlisted_off():
    world = offering(*Process)
    assert set(world.statuses().values()) == {AV}
    world.send(status(oslo(2024, 1, 10, 12), on=[Process.EKONTAKT], complete=True), at=NOW)
    assert world.statuses() == {TIME: NO, RESEPT: NO, EKONS: NO, KONTAKT: AV}
    current = world.pair().facts.processes
    assert {p: current[p][-1].on for p in Process} == {p: p is Process.EKONTAKT for p in Process}


def test_r1_complete_report_listing_nothing_means_nothing_is_offered():
    world = offering()
    outcome = world.send(status(NOW, complete=True))
    assert world.statuses() == dict.fromkeys(Service, NO)
    assert outcome.events[-1].panel_info_visible is False


def test_r1_partial_report_leaves_other_processes_as_they_are():
    world = offering()
    world.send(status(NOW, off=[Process.EKONSULTASJON]))
    assert world.statuses() == {TIME: AV, RESEPT: AV, EKONS: NO, KONTAKT: AV}


def test_r1_gendate_more_than_10_minutes_ahead_is_rejected_x99():
    world = World(now=NOW)
    outcome = world.send(status(NOW + dt.timedelta(minutes=10, seconds=1), on=[Process.EKONTAKT]))
    assert outcome.rejection is not None and outcome.rejection.code == "X99"
    assert outcome.pairs == () and outcome.events == () and world.events == []

    exactly = world.send(status(NOW + dt.timedelta(minutes=10), on=[Process.EKONTAKT]))
    assert exactly.accepted
    assert world.status(KONTAKT) is AV


def test_r1_behandleroversikt_with_gendate_more_than_10_minutes_ahead_is_rejected_x99():
    """Rosters follow R1's order too: a future-dated one would pin the list against every later one."""
    world = World(gp(), now=NOW)
    ahead = world.send(roster(NOW + dt.timedelta(days=1), gp(), gp("1111111", "Ny", "Lege")))
    assert ahead.rejection is not None and ahead.rejection.code == "X99"
    assert ahead.office is None and not world.office().is_listed("1111111")
    exactly = world.send(roster(NOW + dt.timedelta(minutes=10), gp(), gp("2222222", "Ny", "Lege")))
    assert exactly.accepted and world.office().is_listed("2222222")


def test_r1_on_at_an_instant_for_r4_is_judged_by_gendate_not_arrival():
    """On 11-01..11-10 by GenDate, both processed on 12-20: outside R4's window for a 12-22 absence."""
    world = World(now=oslo(2023, 12, 20, 9))
    world.send(status(oslo(2023, 11, 1), on=[Process.EKONSULTASJON]))
    world.send(status(oslo(2023, 11, 10), off=[Process.EKONSULTASJON]))
    world.send(absence("a1", "2023-12-22", "2023-12-31", [EKONS]))
    world.tick(oslo(2023, 12, 23))
    assert world.status(EKONS) is NO


def test_r1_late_report_does_not_change_the_status_but_counts_for_r4():
    """Engine reading: a late report is kept in R1 order in the history that R4 looks back on."""
    world = World(now=oslo(2023, 12, 20, 16))
    world.send(status(oslo(2023, 12, 20, 15), off=[Process.EKONSULTASJON]))
    late = world.send(status(oslo(2023, 12, 20, 14), on=[Process.EKONSULTASJON]))
    assert late.events == () and world.status(EKONS) is NO
    world.send(absence("a1", "2023-12-22", "2023-12-31", [EKONS]))
    world.tick(oslo(2023, 12, 22))
    assert world.status(EKONS) is TC


def test_r1_a_report_that_lost_a_tie_never_held_so_r4_does_not_count_it():
    """On and off with the same GenDate: by R1 the service was off at that instant, never on."""
    gen = oslo(2024, 1, 10, 9)
    world = World(now=NOW)
    world.send(status(gen, on=[Process.EKONSULTASJON], msg_id="msg-a"))
    world.send(status(gen, off=[Process.EKONSULTASJON], msg_id="msg-b"))
    world.send(absence("a1", "2024-01-10", "2024-01-12", [EKONS]))
    assert world.status(EKONS) is NO
    world.send(status(gen + dt.timedelta(seconds=1), off=[Process.EKONSULTASJON]))
    world.send(status(gen, on=[Process.EKONSULTASJON], msg_id="msg-c"))  # late, but it held for 1 s
    assert world.status(EKONS) is TC


# --- R2 ----------------------------------------------------------------------------------------


def test_r2_bestill_time_is_on_when_either_process_is_on_with_its_booking_mode():
    cases = {
        (Process.TIMERESERVASJON,): BookingMode.CALENDAR,
        (Process.TIMEONSKE,): BookingMode.REQUEST_ONLY,
        (Process.TIMERESERVASJON, Process.TIMEONSKE): BookingMode.CALENDAR_AND_REQUEST,
    }
    for processes, mode in cases.items():
        booking = offering(*processes).availability().services.TIMEBESTILLING
        assert (booking.status, booking.booking_mode) == (AV, mode), processes


def test_r2_switching_off_one_of_two_processes_keeps_the_service_on():
    world = offering(Process.TIMERESERVASJON, Process.TIMEONSKE)
    world.send(status(NOW, off=[Process.TIMERESERVASJON]))
    booking = world.availability().services.TIMEBESTILLING
    assert (booking.status, booking.booking_mode) == (AV, BookingMode.REQUEST_ONLY)
    world.send(status(NOW, off=[Process.TIMEONSKE]))
    booking = world.availability().services.TIMEBESTILLING
    assert (booking.status, booking.booking_mode) == (NO, None)


# --- R3 ----------------------------------------------------------------------------------------


def test_r3_absence_covers_its_from_and_to_dates_inclusive():
    world = offering()
    world.send(absence("a1", "2024-01-15", "2024-01-17", [EKONS]))
    world.tick(oslo(2024, 1, 14, 23, 59, 59))
    assert world.status(EKONS) is AV
    world.tick(oslo(2024, 1, 15))
    assert (world.status(EKONS), world.reopens_on(EKONS)) == (TC, d("2024-01-18"))
    world.tick(oslo(2024, 1, 17, 23, 59, 59))
    assert world.status(EKONS) is TC
    world.tick(oslo(2024, 1, 18))
    assert (world.status(EKONS), world.reopens_on(EKONS)) == (AV, None)


def test_r3_touching_absences_form_one_run():
    world = offering()
    world.send(absence("a1", "2024-01-15", "2024-01-17"))
    world.send(absence("a2", "2024-01-18", "2024-01-20"))
    events = world.tick(oslo(2024, 1, 25))
    assert [e.effective_at for e in events] == [oslo(2024, 1, 15), oslo(2024, 1, 21)]
    assert {e.services.of(s).reopens_on for e in events[:1] for s in Service} == {d("2024-01-21")}


def test_r3_overlapping_absences_form_one_run():
    world = offering()
    world.send(absence("a1", "2024-01-15", "2024-01-19", [EKONS]))
    world.send(absence("a2", "2024-01-13", "2024-01-16", [EKONS]))
    world.tick(oslo(2024, 1, 13))
    assert world.reopens_on(EKONS) == d("2024-01-20")
    assert [e.effective_at for e in world.tick(oslo(2024, 1, 25))] == [oslo(2024, 1, 20)]


def test_r3_a_gap_of_one_day_makes_two_runs():
    world = offering()
    world.send(absence("a1", "2024-01-15", "2024-01-17", [EKONS]))
    world.send(absence("a2", "2024-01-19", "2024-01-20", [EKONS]))
    world.tick(oslo(2024, 1, 15))
    assert world.reopens_on(EKONS) == d("2024-01-18")
    world.tick(oslo(2024, 1, 18))
    assert world.status(EKONS) is AV
    world.tick(oslo(2024, 1, 19))
    assert (world.status(EKONS), world.reopens_on(EKONS)) == (TC, d("2024-01-21"))


def test_r3_absence_covers_only_the_services_it_names_and_runs_are_per_service():
    world = offering()
    world.send(absence("a1", "2024-01-15", "2024-01-17", [EKONS, KONTAKT]))
    world.send(absence("a2", "2024-01-18", "2024-01-20", [EKONS]))
    world.tick(oslo(2024, 1, 16))
    assert world.statuses() == {TIME: AV, RESEPT: AV, EKONS: TC, KONTAKT: TC}
    assert (world.reopens_on(EKONS), world.reopens_on(KONTAKT)) == (d("2024-01-21"), d("2024-01-18"))


def test_r3_absence_at_one_office_does_not_touch_the_same_gp_at_another():
    other = 8140000
    world = offering()
    world.add_office(other, gp())
    world.send(status(NOW, on=ALL_FOUR_ON, office=other))
    world.send(absence("a1", "2024-01-15", "2024-01-17"))
    world.tick(oslo(2024, 1, 16))
    assert set(world.statuses().values()) == {TC}
    assert set(world.statuses(office=other).values()) == {AV}


# --- R4 ----------------------------------------------------------------------------------------


def holiday(switched_off_at: dt.datetime, first: str = "2024-02-10", last: str = "2024-02-20") -> World:
    """E-konsultasjon on since 2023-12-01, switched off at `switched_off_at`; absence [first, last]."""
    world = World(now=oslo(2023, 12, 1))
    switched_on(world, oslo(2023, 12, 1), Process.EKONSULTASJON, Process.EKONTAKT)
    world.send(status(switched_off_at, off=[Process.EKONSULTASJON]), at=switched_off_at)
    world.send(absence("holiday", first, last, [EKONS, KONTAKT]))
    world.tick(midnight(d(first)))
    return world


def test_r4_service_switched_off_before_holiday_still_shown():
    world = holiday(oslo(2024, 2, 8, 15))
    assert (world.status(EKONS), world.reopens_on(EKONS)) == (TC, d("2024-02-21"))


def test_r4_service_never_offered_not_shown():
    world = holiday(oslo(2024, 2, 8, 15))
    assert world.statuses() == {TIME: NO, RESEPT: NO, EKONS: TC, KONTAKT: TC}
    world = offering(Process.EKONTAKT)
    world.send(absence("a1", "2024-01-15", "2024-01-17"))  # names all four
    world.tick(oslo(2024, 1, 15))
    assert world.statuses() == {TIME: NO, RESEPT: NO, EKONS: NO, KONTAKT: TC}


def test_r4_on_31_days_before_run_does_not_count():
    # The run starts 2024-02-10; 31 days before is 2024-01-10, 30 days before is 2024-01-11.
    assert holiday(oslo(2024, 1, 10, 12)).status(EKONS) is NO
    assert holiday(oslo(2024, 1, 11, 12)).status(EKONS) is TC


def test_r4_window_starts_at_midnight_30_days_before_the_run():
    """On up to (not including) 2024-01-11 00:00 never held inside the window; one second more did."""
    assert holiday(oslo(2024, 1, 11)).status(EKONS) is NO
    assert holiday(oslo(2024, 1, 11, 0, 0, 1)).status(EKONS) is TC


def test_r4_lookback_is_measured_from_the_first_date_of_the_run():
    # Off 2024-01-05: 36 days before the second absence, but 27 days before the run it touches.
    world = holiday(oslo(2024, 1, 5, 12), first="2024-02-01", last="2024-02-05")
    world.send(absence("second", "2024-02-06", "2024-02-10", [EKONS]))
    world.tick(oslo(2024, 2, 8))
    assert (world.status(EKONS), world.reopens_on(EKONS)) == (TC, d("2024-02-11"))


def test_r4_service_switched_on_during_an_absence_is_temporarily_closed():
    world = offering(Process.EKONTAKT)
    world.send(absence("a1", "2024-01-15", "2024-01-20"))
    world.tick(oslo(2024, 1, 16))
    assert world.status(EKONS) is NO
    switched_on(world, oslo(2024, 1, 16, 9), Process.EKONSULTASJON)
    assert (world.status(EKONS), world.reopens_on(EKONS)) == (TC, d("2024-01-21"))


# --- R5 ----------------------------------------------------------------------------------------


def test_r5_status_follows_cover_normally_on_and_on():
    world = offering(Process.TIMERESERVASJON, Process.RESEPTFORNYELSE)
    world.send(absence("a1", "2024-01-15", "2024-01-17", [TIME, EKONS]))
    world.tick(oslo(2024, 1, 15))
    services = world.availability().services
    # covered and normally on -> TC; on -> AV; covered but never on -> NO; neither -> NO
    assert world.statuses() == {TIME: TC, RESEPT: AV, EKONS: NO, KONTAKT: NO}
    assert [services.of(s).reopens_on for s in Service] == [d("2024-01-18"), None, None, None]
    assert services.TIMEBESTILLING.booking_mode is None  # only while AVAILABLE
    world.tick(oslo(2024, 1, 18))
    assert world.availability().services.TIMEBESTILLING.booking_mode is BookingMode.CALENDAR


def test_r5_every_event_carries_all_four_services():
    world = offering(Process.EKONTAKT)
    event = world.events[-1]
    assert isinstance(event, AvailabilityChanged)
    assert list(event.to_json()["services"]) == [s.value for s in Service]
    assert (event.office_her_id, event.practitioner_hpr) == (OFFICE, ASTRID)


def test_r1_r4_history_folded_beyond_the_recent_reports_without_changing_the_outcome() -> None:
    """Status history is bounded: beyond RECENT_REPORTS the oldest reports are folded into the end
    of their latest stretch on, so the current status and R4's look-back are unchanged."""
    from adapter.domain.state import RECENT_REPORTS, ProcessHistory, StatusReport, was_on_since, with_report

    day = lambda y, m, d: oslo(y, m, d)  # noqa: E731
    reports = [
        StatusReport(gen_date=day(2020, 1, 1), msg_id="a", on=True),
        StatusReport(gen_date=day(2021, 1, 1), msg_id="b", on=False),
        StatusReport(gen_date=day(2022, 1, 1), msg_id="c", on=True),
        StatusReport(gen_date=day(2022, 6, 1), msg_id="d", on=False),
    ] + [StatusReport(gen_date=day(2023, 1, n), msg_id=f"e{n:02}", on=n % 2 == 0) for n in range(1, 2 * RECENT_REPORTS)]
    history = ProcessHistory()
    for report in reports:
        history = with_report(history, report)
    assert history.folded and len(history) == RECENT_REPORTS
    assert history[-1] == reports[-1]  # R1: the newest still wins
    verbatim = tuple(reports)
    for since in (day(2019, 1, 1), day(2021, 6, 1), day(2022, 5, 31), day(2022, 6, 2), day(2023, 1, 3)):
        assert was_on_since(history, since) == was_on_since(verbatim, since), since
    assert was_on_since(history, day(2022, 5, 31)) and not was_on_since(history, day(2023, 1, 30))


def test_r3_r4_a_run_longer_than_a_year_still_sees_the_service_on_before_it():
    """Issue 15: services on, Forny resept switched off 20 January 2023; absences 1 February 2023 to
    31 January 2024 and 1 February to 31 March 2024 touch (one run, R3). On 1 March 2024 EPJ repeats
    "Forny resept off": R4 still looks back to 2 January 2023, nothing changes, nothing is published."""
    world = World(now=oslo(2023, 1, 2))
    switched_on(world, oslo(2023, 1, 2), *ALL_FOUR_ON)
    off = oslo(2023, 1, 20, 15)
    world.send(status(off, off=[Process.RESEPTFORNYELSE]), at=off)
    world.send(absence("year", "2023-02-01", "2024-01-31", [RESEPT]), at=off)
    world.send(absence("more", "2024-02-01", "2024-03-31", [RESEPT]), at=off)
    for month in range(2, 13):  # hourly-sync style traffic for a year: the same report again and again
        for hour in (8, 12, 16):
            at = oslo(2023, month, 15, hour)
            world.send(status(at, off=[Process.RESEPTFORNYELSE], on=[Process.EKONTAKT]), at=at)
    world.tick(oslo(2024, 3, 1, 9))
    assert (world.status(RESEPT), world.reopens_on(RESEPT)) == (TC, d("2024-04-01"))
    before = len(world.events)
    again = world.send(status(oslo(2024, 3, 1, 10), off=[Process.RESEPTFORNYELSE]), at=oslo(2024, 3, 1, 10))
    assert again.events == () and len(world.events) == before
    assert world.status(RESEPT) is TC
