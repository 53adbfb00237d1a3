"""The engine's cheap copies of states (issue 14) are the copies pydantic's `model_copy` makes: the
same type, fields, fields set and stored form, the original untouched, and still frozen."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from adapter.domain import booking, engine, persisted, state
from adapter.domain.events import AvailabilityChanged, BookablePractitioner
from adapter.domain.model import Process
from adapter.domain.state import OfficeState, PairFacts, PairState, ProcessHistory, StatusReport, replaced

from .builders import ALL_FOUR_ON, ASTRID, MIDWIFE, OFFICE, World, absence, gp, oslo, status, vikar

NOW = oslo(2024, 1, 8, 12)


def _states() -> tuple[OfficeState, PairState]:
    """An office and a pair with something in every part: roster, reports, an absence."""
    world = World(gp(), now=NOW)
    world.send(status(NOW, on=(Process.EKONTAKT, Process.TIMERESERVASJON)))
    world.send(absence("a1", "2024-01-10", "2024-01-12"))
    return world.office(), world.pair()


def _same_copy(model: BaseModel, changes: dict[str, Any]) -> None:
    before = model.model_dump()
    ours, theirs = replaced(model, changes), model.model_copy(update=changes)
    assert type(ours) is type(theirs)
    assert ours == theirs
    assert ours.__dict__ == theirs.__dict__
    assert ours.model_fields_set == theirs.model_fields_set
    assert ours.model_dump_json() == theirs.model_dump_json()
    assert model.model_dump() == before, "the original is left as it was"
    with pytest.raises(ValidationError):
        ours.__setattr__(next(iter(type(model).model_fields)), None)  # frozen like the original


def test_a_pair_copied_with_changes_is_what_model_copy_makes() -> None:
    _, pair = _states()
    assert pair.facts.absences and pair.facts.processes
    _same_copy(pair, {"as_of": oslo(2024, 1, 9), "sequence": pair.sequence + 1})
    _same_copy(pair, {"facts": replaced(pair.facts, {"absences": {}})})
    _same_copy(pair.facts, {"processes": {}})
    _same_copy(pair, {})
    assert pair.to_json() != replaced(pair, {"as_of": oslo(2024, 1, 9)}).to_json()
    assert PairState.from_json(replaced(pair, {"sequence": 7}).to_json()).sequence == 7


def test_an_office_and_a_history_copied_with_changes_are_what_model_copy_makes() -> None:
    office, _ = _states()
    _same_copy(office, {"booking_sequence": 3, "absence_owner": {"a2": ASTRID}})
    history = ProcessHistory(reports=(StatusReport(gen_date=NOW, msg_id="m1", on=True),))
    _same_copy(history, {"on_until": NOW + dt.timedelta(hours=1)})
    assert OfficeState.from_json(replaced(office, {"name": "Lysaker"}).to_json()).her_id == OFFICE


def test_states_the_engine_builds_unchecked_are_what_pydantic_would_build() -> None:
    """`trusted` skips the checks on the engine's own values (a new pair, each report, each folded
    history): what it builds equals, field for field, the checked model, also read back checked."""
    office, pair = _states()
    new = engine.new_pair(office, ASTRID)
    checked = PairState(facts=engine._with_roster(PairFacts(office_her_id=OFFICE, practitioner_hpr=ASTRID), office))
    assert new == checked and new.__dict__ == checked.__dict__ and new.facts.__dict__ == checked.facts.__dict__
    # in the model's order too, as `trusted` asks: a field left out and added by a copy comes last,
    # and repr and iteration (`dict(model)`) follow that order
    assert list(new.facts.__dict__) == list(PairFacts.model_fields) and list(new.__dict__) == list(
        PairState.model_fields
    )
    assert repr(new) == repr(checked)
    assert new.to_json() == checked.to_json()
    for history in pair.facts.processes.values():
        assert history == ProcessHistory(**history.model_dump())
        assert all(type(r.gen_date) is dt.datetime and r.gen_date.tzinfo is not None for r in history.reports)
    assert pair == persisted.load_pair(pair.to_json(), validate=True)


def test_booking_lines_built_unchecked_are_what_pydantic_would_build() -> None:
    """A GP's line and the substitute's line the GP's availability carries (R9), each equal to the
    checked model, and published alike."""
    start = NOW.date()
    world = World(gp(), vikar(start=start, end=start + dt.timedelta(days=3)), MIDWIFE, now=NOW)
    world.send(status(NOW, on=ALL_FOUR_ON))
    world.send(status(NOW, on=ALL_FOUR_ON, hpr=MIDWIFE.hpr))
    office = world.office()
    lines = booking.booking_list(office, {hpr: world.availability(hpr) for hpr in (ASTRID, MIDWIFE.hpr)})
    assert [line.covers_hpr for line in lines] == [None, ASTRID, None]  # the GP, her substitute, the midwife
    for line in lines:
        checked = BookablePractitioner(**line.model_dump())
        assert line == checked and line.__dict__ == checked.__dict__ and line.to_json() == checked.to_json()
        assert list(line.__dict__) == list(BookablePractitioner.model_fields)


def test_the_fields_set_shared_by_unchecked_states_is_never_changed() -> None:
    """States built by `trusted` share one fields set per model (memory, issue 14); copying one with
    changes, either way, leaves that set as it was."""
    office, _ = _states()
    first, second = engine.new_pair(office, ASTRID), engine.new_pair(office, "7310428")
    shared = first.__pydantic_fields_set__
    assert shared is second.__pydantic_fields_set__ and shared == set(PairState.model_fields)
    before = set(shared)
    replaced(first, {"as_of": NOW})
    first.model_copy(update={"as_of": NOW})
    assert shared == before == set(PairState.model_fields)


def test_availability_events_built_unchecked_are_what_pydantic_would_build() -> None:
    """Every `availability.changed` the engine makes (by a message, an absence, the clock) equals the
    checked event and is published byte for byte alike."""
    world = World(gp(), now=NOW)
    world.send(status(NOW, on=ALL_FOUR_ON))
    world.send(absence("a0", "2024-01-08", "2024-01-08"))
    world.send(absence("a1", "2024-01-10", "2024-01-12"))
    world.tick(oslo(2024, 1, 13, 1))
    changes = world.changes()
    assert [e.caused_by.kind for e in changes] == ["message", "absence", "clock", "clock", "clock"]
    for event in changes:
        checked = AvailabilityChanged(**event.model_dump())
        assert event == checked and event.__dict__ == checked.__dict__
        assert list(event.__dict__) == list(AvailabilityChanged.model_fields)
        assert event.model_dump_json(by_alias=True) == checked.model_dump_json(by_alias=True)


def test_a_copy_that_adds_no_name_keeps_the_very_fields_set() -> None:
    """The memory half of `replaced` (issue 14): a copy whose changes name only fields already set
    keeps its original's set object, even when it changes every field; only a copy that sets a new
    name gets a new set, with that name, and the original's set is left as it was."""
    office, _ = _states()
    pair = engine.new_pair(office, ASTRID)
    shared = pair.__pydantic_fields_set__
    assert replaced(pair, {"as_of": NOW}).__pydantic_fields_set__ is shared
    every = {name: getattr(pair, name) for name in PairState.model_fields}
    assert replaced(pair, every).__pydantic_fields_set__ is shared
    assert replaced(pair, {}).__pydantic_fields_set__ is shared
    history = ProcessHistory(reports=(StatusReport(gen_date=NOW, msg_id="m1", on=True),))
    given = history.__pydantic_fields_set__
    later = replaced(history, {"on_until": NOW})
    assert later.__pydantic_fields_set__ == {"reports", "on_until"} and given == {"reports"}


def test_the_first_state_of_a_model_built_unchecked_has_every_field_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no fields set kept yet (a fresh process), the first state `trusted` builds of a model
    has every field set, as the checked model given every field has, and the next one shares it."""
    office, _ = _states()
    monkeypatch.setattr(state, "_FIELDS_SET", {})
    first = engine.new_pair(office, ASTRID)
    checked = PairState(**{name: getattr(first, name) for name in PairState.model_fields})
    assert first.model_fields_set == checked.model_fields_set == set(PairState.model_fields)
    assert state._FIELDS_SET[PairState] is first.__pydantic_fields_set__
    assert engine.new_pair(office, "7310428").__pydantic_fields_set__ is first.__pydantic_fields_set__
    assert first.facts.model_fields_set == set(PairFacts.model_fields)


def test_every_part_of_a_pair_reads_back_from_its_own_json() -> None:
    """state.py's promise: each state serialises to JSON (`to_json`) and reads back equal
    (`from_json`), so a store can keep any part as an opaque blob; the pair and the office have
    versioned documents of their own (tests/domain/test_persisted.py), the parts use the model's."""
    office, pair = _states()
    history = pair.facts.processes[Process.EKONTAKT]
    parts: list[PairFacts | ProcessHistory | StatusReport | state.Absence] = [
        pair.facts,
        history,
        history.reports[0],
        *pair.facts.absences.values(),
    ]
    for part in parts:
        text = part.to_json()
        assert type(part).from_json(text) == part
        assert type(part).from_json(text.encode()) == part
    assert OfficeState.from_json(office.to_json()) == office
