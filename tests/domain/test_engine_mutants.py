"""Behaviour of the engine (`adapter/domain/engine.py`) the mutation run of issue 15 found unpinned
(`bench/mutation.py`), grouped by rule.

Each test kills one or more surviving mutants by asserting what DOMAIN.md asks for; where a
survivor could not change any behaviour it is named in `bench/mutation-equivalent.txt` instead.
"""

from __future__ import annotations

import pytest

from adapter.domain import engine
from adapter.domain.events import Cause
from adapter.domain.model import Process
from adapter.domain.persisted import load_published

from .builders import (
    ALL_FOUR_ON,
    ARNA,
    ASTRID,
    AV,
    INGAR,
    NOW,
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
    vikar,
)


def on_holiday_from_tomorrow() -> World:
    """Astrid offers all four services; her absence starts at the coming midnight (R3, R11)."""
    world = World(now=oslo(2024, 1, 10, 12))
    world.send(status(world.now, on=ALL_FOUR_ON))
    world.send(absence("ferie", "2024-01-11", "2024-01-12"))
    return world


# --- R11: a stored pair read at an instant (the read API and a resync) ------------------------------


def test_r11_a_stored_pair_read_at_its_due_midnight_shows_the_change_due_then() -> None:
    pair = on_holiday_from_tomorrow().pair()
    text, due = pair.to_json(), engine.next_change(pair)
    assert due == oslo(2024, 1, 11)
    shown, sequence = engine.stored_at(text, due, due)  # exactly at the midnight: the absence has begun
    assert shown.services.TIMEBESTILLING.status is TC and sequence == pair.sequence + 1
    shown, sequence = engine.stored_at(text, due, oslo(2024, 1, 11, 9))
    assert shown.services.TIMEBESTILLING.reopens_on == d("2024-01-13") and sequence == pair.sequence + 1


def test_r11_a_stored_pair_with_nothing_due_yet_shows_what_was_last_published() -> None:
    pair = on_holiday_from_tomorrow().pair()
    text, due = pair.to_json(), engine.next_change(pair)
    assert due is not None
    shown, sequence = engine.stored_at(text, due, oslo(2024, 1, 10, 23, 59))
    assert (shown, sequence) == (pair.published, pair.sequence)
    assert shown.services.TIMEBESTILLING.status is AV
    # a pair time alone never changes: what was published holds whenever it is read
    assert engine.stored_at(text, None, oslo(2025, 1, 1)) == load_published(text) == (pair.published, pair.sequence)


# --- R13/R14: which pairs a command needs loaded -----------------------------------------------------


def test_r14_a_new_absence_needs_only_its_practitioners_pair_and_a_known_one_its_owners_too() -> None:
    """A registration replaces an absence of the same id wherever it is (R14): the owner's pair is
    needed only when the office knows an owner; a new id names no one else (and never None)."""
    world = on_holiday_from_tomorrow()
    office = world.office()
    assert engine.pairs_needed(office, absence("ny", "2024-02-01", "2024-02-02")) == {ASTRID}
    moved = absence("ferie", "2024-01-11", "2024-01-12", hpr=ARNA)
    assert engine.pairs_needed(office, moved) == {ARNA, ASTRID}
    assert engine.pairs_needed(office, delete("ukjent")) == set()
    assert engine.pairs_needed(office, delete("ferie")) == {ASTRID}


# --- R9: a substitute period announced before it starts ----------------------------------------------


def test_r9_a_substitute_announced_for_a_gp_nobody_reported_on_yet_is_shown_when_the_period_starts() -> None:
    """The roster names a substitute whose period starts later, for a GP with no state yet: the
    GP's pair must be kept, so that at the period's first midnight her availability carries him."""
    world = World(gp(), now=oslo(2024, 6, 10))
    listing = roster(world.now, gp(), vikar(start=d("2024-07-01"), end=d("2024-07-31")))
    assert world.send(listing).accepted
    assert world.changes(ASTRID) == []  # nothing changes before the period
    (start,) = world.tick(oslo(2024, 7, 1))
    assert start.practitioner_hpr == ASTRID and start.caused_by.kind == "clock"
    assert start.substitute is not None and start.substitute.hpr == INGAR


def test_r9_the_warning_tells_the_gp_the_absence_closes_the_services_and_not_to_register_one() -> None:
    """R9: "the guide tells GPs with a substitute not to register an absence, because it closes the services"."""
    world = World(gp(), vikar(start=d("2024-07-01"), end=d("2024-07-31")), now=oslo(2024, 6, 10))
    world.send(status(world.now, on=ALL_FOUR_ON))
    world.send(absence("a1", "2024-07-10", "2024-07-12"))
    (warning,) = world.warnings("ABSENCE_OVERRIDES_SUBSTITUTE")
    assert warning.text == (
        "Fraværet 10.07.2024–12.07.2024 stenger tjenestene, selv om Ingar Vik er vikar for fastlegen i perioden. "
        "Med vikar skal det ikke registreres fravær."
    )


def test_r7_a_dialogue_note_is_not_a_command_apply_takes_and_it_says_which_it_got() -> None:
    """Closing a conversation (R7) goes through `note_dialogue`, which knows whether it was closed."""
    world = on_holiday_from_tomorrow()
    with pytest.raises(TypeError, match="not a command the engine applies: DialogueNote"):
        engine.apply(world.office(), {}, note("samtale-1", gen=world.now), world.now)  # type: ignore[arg-type]


# --- R11/R14: what caused each change (events built unchecked since issue 14) ----------------------


def test_r11_r14_every_availability_change_names_what_caused_it() -> None:
    """The engine builds `availability.changed` from its own values without pydantic's checks, so
    nothing refuses an event without its cause: each way a change comes about names its own. A
    report names its message; an absence registered, moved to another practitioner (both pairs'
    events, R14) or deleted names the absence; the roster names its message; a midnight the clock."""
    world = offering()
    (reported,) = only_changes(world.send(status(NOW, on=[Process.EKONTAKT], hpr=ARNA, msg_id="m-arna")).events)
    assert reported.caused_by == Cause(kind="message", id="m-arna")
    (registered,) = only_changes(world.send(absence("a1", "2024-01-10", "2024-01-12")).events)
    assert registered.caused_by == Cause(kind="absence", id="a1")
    moved = only_changes(
        world.send(absence("a1", "2024-01-10", "2024-01-12", hpr=ARNA, at=oslo(2024, 1, 10, 13))).events
    )
    assert [(e.practitioner_hpr, e.caused_by) for e in moved] == [
        (ASTRID, registered.caused_by),
        (ARNA, registered.caused_by),
    ]
    (deleted,) = only_changes(world.send(delete("a1", by=ARNA, at=oslo(2024, 1, 10, 14))).events)
    assert (deleted.practitioner_hpr, deleted.caused_by) == (ARNA, Cause(kind="absence", id="a1"))
    world.send(absence("a2", "2024-01-11", "2024-01-11"))
    (midnight,) = only_changes(world.tick(oslo(2024, 1, 11)))
    assert (midnight.practitioner_hpr, midnight.caused_by) == (ASTRID, Cause(kind="clock"))
    (unlisted,) = only_changes(world.send(roster(NOW, gp(), msg_id="m-roster")).events)
    assert (unlisted.practitioner_hpr, unlisted.caused_by) == (ARNA, Cause(kind="message", id="m-roster"))
