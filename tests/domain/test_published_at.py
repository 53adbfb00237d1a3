"""`engine.published_at`, what the booking list reads of every pair of an office (issue 14): what a
tick at that instant would publish (R11), without ticking a copy when nothing is due by then."""

from __future__ import annotations

import datetime as dt

from adapter.domain import engine
from adapter.domain.model import Process, Service, Status
from adapter.domain.state import PairState

from .builders import ALL_FOUR_ON, World, absence, gp, oslo, status

NOW = oslo(2024, 1, 8, 12)


def test_what_a_pair_shows_at_an_instant_is_what_its_tick_would_publish() -> None:
    """R11/R3: before the absence's first midnight the last published availability holds (the very
    object, nothing ticked); from that midnight on, what the tick publishes: closed until the 13th."""
    world = World(gp(), now=NOW)
    world.send(status(NOW, on=ALL_FOUR_ON))
    world.send(absence("a1", "2024-01-10", "2024-01-12"))
    pair = world.pair()
    assert engine.next_change(pair) == oslo(2024, 1, 10)
    for instant in (NOW, oslo(2024, 1, 9, 23, 59), oslo(2024, 1, 10), oslo(2024, 1, 11, 8), oslo(2024, 1, 13, 1)):
        assert engine.published_at(pair, instant) == engine.tick(pair, instant)[0].published, instant
    assert engine.published_at(pair, oslo(2024, 1, 9, 23, 59)) is pair.published
    closed = engine.published_at(pair, oslo(2024, 1, 10)).services.of(Service.TIMEBESTILLING)
    assert (closed.status, closed.reopens_on) == (Status.TEMPORARILY_CLOSED, dt.date(2024, 1, 13))
    assert (
        engine.published_at(pair, oslo(2024, 1, 13, 1)).services.of(Service.TIMEBESTILLING).status is Status.AVAILABLE
    )


def test_a_pair_never_looked_at_shows_what_it_was_published_with() -> None:
    """A pair with no instant yet (as_of None) has had no change applied by time: its tick only
    notes the instant, so both answer the published availability."""
    office = World(gp(), now=NOW).office()
    pair = engine.new_pair(office, "9144900")
    assert pair.as_of is None
    assert engine.published_at(pair, NOW) is pair.published == engine.tick(pair, NOW)[0].published
    assert (
        engine.published_at(world_with_on(), NOW).services.of(Service.KONTAKT_LEGEKONTORET).status is Status.AVAILABLE
    )


def world_with_on() -> PairState:
    world = World(gp(), now=NOW)
    world.send(status(NOW, on=(Process.EKONTAKT,)))
    return world.pair()
