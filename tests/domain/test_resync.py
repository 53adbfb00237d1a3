"""A resync, purely (`adapter/domain/resync.py`, issue 12): what the portal is sent for one pair and
one office when it asks what is true now. The worker's tests drive it over RabbitMQ; these pin
every field of the events it builds, so a break in the pure part is caught by `tests/domain` too
(issue 15's mutation run)."""

from __future__ import annotations

from adapter.domain import booking, resync
from adapter.domain.events import (
    CLOCK,
    AvailabilityChanged,
    AvailabilitySnapshot,
    PractitionersChanged,
    PractitionersSnapshot,
    ResyncCompleted,
)

from .builders import ALL_FOUR_ON, ASTRID, INGAR, OFFICE, TC, World, d, gp, oslo, status, vikar
from .test_engine_mutants import on_holiday_from_tomorrow

REQUEST = "req-7"


def test_r11_r12_a_snapshot_after_a_due_midnight_follows_the_change_and_carries_its_sequence() -> None:
    world = on_holiday_from_tomorrow()
    before = world.pair()
    now = oslo(2024, 1, 11, 9)
    current, events = resync.snapshot(before, REQUEST, now)
    *changes, snap = events
    (change,) = changes
    assert isinstance(change, AvailabilityChanged) and change.caused_by == CLOCK
    assert change.effective_at == oslo(2024, 1, 11) and change.sequence == before.sequence + 1
    assert current.sequence == change.sequence and current.published.services.TIMEBESTILLING.status is TC
    assert isinstance(snap, AvailabilitySnapshot)
    assert snap.event_id == f"{OFFICE}-{ASTRID}-{change.sequence}-s-{REQUEST}"
    assert (snap.request_id, snap.office_her_id, snap.practitioner_hpr, snap.sequence, snap.as_of) == (
        REQUEST,
        OFFICE,
        ASTRID,
        change.sequence,
        now,
    )
    assert (snap.services, snap.panel_info_visible, snap.substitute) == (
        change.services,
        change.panel_info_visible,
        change.substitute,
    )


def test_r12_a_snapshot_with_nothing_due_repeats_the_last_change_without_a_new_sequence() -> None:
    world = on_holiday_from_tomorrow()
    before = world.pair()
    current, events = resync.snapshot(before, REQUEST, oslo(2024, 1, 10, 13))
    (snap,) = events
    assert current.sequence == before.sequence and current.published == before.published
    assert snap.sequence == before.sequence and snap.services == before.published.services
    assert snap.event_id == resync.snapshot_event_id(OFFICE, ASTRID, before.sequence, REQUEST)


def test_an_office_snapshot_publishes_the_list_due_first_then_repeats_it() -> None:
    world = World(now=oslo(2024, 1, 10, 12))
    world.send(status(world.now, on=ALL_FOUR_ON))
    office = world.office()
    shown = {ASTRID: world.availability()}
    now = oslo(2024, 1, 10, 13)
    current, events = resync.booking_snapshot(office, shown, REQUEST, now)
    change, snap = events
    listed = booking.booking_list(office, shown)
    assert [line.hpr for line in listed] == [ASTRID]
    assert isinstance(change, PractitionersChanged)
    assert (change.sequence, change.practitioners, change.caused_by, change.effective_at) == (
        1,
        list(listed),
        CLOCK,
        now,
    )
    assert isinstance(snap, PractitionersSnapshot)
    assert snap.event_id == f"{OFFICE}-practitioners-1-s-{REQUEST}"
    assert (snap.request_id, snap.office_her_id, snap.sequence, snap.as_of, snap.practitioners) == (
        REQUEST,
        OFFICE,
        1,
        now,
        list(listed),
    )
    assert current.booking == listed and current.booking_sequence == 1

    again, events = resync.booking_snapshot(current, shown, "req-8", now)
    (snap,) = events
    assert again == current
    assert (snap.sequence, snap.practitioners, snap.event_id) == (1, list(listed), f"{OFFICE}-practitioners-1-s-req-8")


def test_a_resync_ends_with_how_many_snapshots_it_sent() -> None:
    now = oslo(2024, 1, 10, 13)
    done = resync.completed(REQUEST, OFFICE, 3, 1, now)
    assert done == ResyncCompleted(
        event_id=f"resync-{REQUEST}", request_id=REQUEST, office_her_id=OFFICE, pairs=3, offices=1, completed_at=now
    )
    assert resync.completed(REQUEST, None, 0, 0, now).office_her_id is None


def test_r9_a_snapshot_during_a_substitute_period_carries_the_substitute() -> None:
    world = World(gp(), vikar(start=d("2024-07-01"), end=d("2024-07-31")), now=oslo(2024, 7, 2))
    world.send(status(world.now, on=ALL_FOUR_ON))
    _, (snap,) = resync.snapshot(world.pair(), REQUEST, oslo(2024, 7, 2, 9))
    assert snap.substitute is not None and (snap.substitute.hpr, snap.substitute.to_date) == (INGAR, d("2024-07-31"))
