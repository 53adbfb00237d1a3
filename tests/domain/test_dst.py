"""The 2024 daylight-saving days in Oslo (DOMAIN.md "Time", R3, R4, R11).

31 March has 23 hours (02:00 +01:00 becomes 03:00 +02:00); 27 October has 25 hours (03:00 +02:00
becomes 02:00 +01:00). Midnights keep the offset of the day they begin.
"""

from __future__ import annotations

import datetime as dt

import pytest

from adapter.domain import engine, rules
from adapter.domain.model import Process, Service, Status

from .builders import (
    AV,
    EKONS,
    NO,
    TC,
    World,
    absence,
    d,
    offering,
    oslo,
    status,
    switched_on,
)

# (the DST day, its midnight, the next midnight), as the portal sees them
DST_DAYS = [
    pytest.param("2024-03-31", "2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00", id="spring-forward"),
    pytest.param("2024-10-27", "2024-10-27T00:00:00+02:00", "2024-10-28T00:00:00+01:00", id="fall-back"),
]


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize(("day", "starts", "ends"), DST_DAYS)
def test_absence_ending_the_day_before_a_dst_day_reopens_at_its_midnight(day, starts, ends):
    last = d(day) - dt.timedelta(days=1)
    world = offering(now=oslo(last.year, last.month, last.day) - dt.timedelta(days=5))
    world.send(absence("before", last - dt.timedelta(days=2), last))
    world.tick(oslo(last.year, last.month, last.day, 12))
    assert world.availability().services.of(EKONS).reopens_on == d(day)
    due = engine.next_change(world.pair())
    assert due == instant(starts) and due.utcoffset() == instant(starts).utcoffset()
    assert world.tick(instant(starts) - dt.timedelta(microseconds=1)) == []
    (event,) = world.tick(instant(ends) + dt.timedelta(hours=5))
    assert event.to_json()["effective_at"] == starts
    assert world.status(EKONS) is AV


@pytest.mark.parametrize(("day", "starts", "ends"), DST_DAYS)
def test_absence_on_a_dst_day_starts_and_ends_at_its_local_midnights(day, starts, ends):
    world = offering(now=instant(starts) - dt.timedelta(days=3))
    world.send(absence("on-the-day", day, day))
    assert engine.next_change(world.pair()) == instant(starts)
    facts = world.pair().facts
    for before, due in [
        (instant(starts) - dt.timedelta(days=3), starts),
        (instant(starts) - dt.timedelta(microseconds=1), starts),
        (instant(starts), ends),
        (instant(ends) - dt.timedelta(hours=1), ends),  # 23:00 local: 22 h in on 31 March, 24 h on 27 October
        (instant(ends) - dt.timedelta(microseconds=1), ends),
    ]:
        assert rules.next_change_after(facts, before) == instant(due), before
        assert rules.next_change_after(facts, before).utcoffset() == instant(due).utcoffset()
    assert rules.next_change_after(facts, instant(ends)) is None
    (start,) = world.tick(instant(starts))
    assert start.to_json()["effective_at"] == starts
    assert {start.services.of(s).status for s in Service} == {TC}
    assert {start.services.of(s).reopens_on for s in Service} == {d(day) + dt.timedelta(days=1)}
    assert engine.next_change(world.pair()) == instant(ends)

    # 24 hours after the first midnight is still the same date on 27 October, already the next on 31 March;
    # either way the change comes at the next local midnight and not a microsecond earlier.
    assert world.tick(instant(ends) - dt.timedelta(microseconds=1)) == []
    (end,) = world.tick(instant(ends))
    assert end.to_json()["effective_at"] == ends
    assert {end.services.of(s).status for s in Service} == {AV}
    assert engine.next_change(world.pair()) is None


def test_the_dst_days_have_23_and_25_hours():
    """The harness and the engine agree on the length of the days the tests above rely on."""
    assert instant("2024-04-01T00:00:00+02:00") - instant("2024-03-31T00:00:00+01:00") == dt.timedelta(hours=23)
    assert instant("2024-10-28T00:00:00+01:00") - instant("2024-10-27T00:00:00+02:00") == dt.timedelta(hours=25)


@pytest.mark.parametrize(("day", "starts", "ends"), DST_DAYS)
def test_r3_a_wall_clock_instant_late_on_a_dst_day_is_still_covered(day, starts, ends):
    world = offering(now=instant(starts) - dt.timedelta(days=3))
    world.send(absence("on-the-day", day, day))
    world.tick(instant(ends) - dt.timedelta(minutes=30))  # 23:30 local on the DST day
    assert world.status(EKONS) is TC


def test_r4_thirty_days_back_are_calendar_days_across_the_spring_dst_change():
    """Absence from 2024-04-15: the window starts 2024-03-16 00:00 +01:00, not 720 hours earlier
    (which would be 2024-03-15 23:00 +01:00)."""

    def switched_off_at(when: dt.datetime) -> Status:
        world = World(now=oslo(2024, 3, 1))
        switched_on(world, oslo(2024, 3, 1), Process.EKONSULTASJON)
        world.send(status(when, off=[Process.EKONSULTASJON]), at=when)
        world.send(absence("easter", "2024-04-15", "2024-04-19", [EKONS]))
        world.tick(oslo(2024, 4, 15))
        return world.status(EKONS)

    assert switched_off_at(oslo(2024, 3, 15, 23, 30)) is NO
    assert switched_off_at(oslo(2024, 3, 16, 0, 30)) is TC
