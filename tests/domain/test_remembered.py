"""R11 at the midnight burst: the answers the rules and the clock remember (`domain/remembered.py`)
are the ones they would compute afresh, and belong to the very object they were computed from."""

from __future__ import annotations

from adapter.domain import engine, rules
from adapter.domain.model import Status
from adapter.domain.remembered import Remembered
from adapter.domain.state import PairState

from .builders import absence, offering, only_changes, oslo, statuses_of


def fresh(pair: PairState) -> PairState:
    """An equal pair that is not the same object (as the store would load it again)."""
    return PairState.from_json(pair.to_json())


def test_an_answer_is_remembered_for_the_very_object_and_date_only():
    remembered: Remembered[str] = Remembered(size=8)
    facts, equal = {"a": 1}, {"a": 1}
    remembered.put(facts, "2024-01-15", "closed")
    assert remembered.get(facts, "2024-01-15") == ("closed",)
    assert remembered.get(equal, "2024-01-15") is None  # equal, but another object
    assert remembered.get(facts, "2024-01-16") is None
    remembered.put(facts, "2024-01-16", None)
    assert remembered.get(facts, "2024-01-16") == (None,)  # "no change ahead" is an answer too


def test_what_is_remembered_is_bounded():
    remembered: Remembered[int] = Remembered(size=4)
    kept = [object() for _ in range(4)]
    for number, of in enumerate(kept):
        remembered.put(of, None, number)
    assert len(remembered) == 4
    remembered.put(object(), None, 4)
    assert len(remembered) == 1  # full: forgotten at once, then the new answer kept
    assert remembered.get(kept[0]) is None


def test_r11_a_pair_ticked_twice_at_midnight_answers_as_a_fresh_copy_would():
    world = offering()
    world.send(absence("a1", "2024-01-15", "2024-01-17"))
    pair, midnight = world.pair(), oslo(2024, 1, 15)
    first, events = engine.tick(pair, midnight)
    again, events_again = engine.tick(pair, midnight)  # the booking list's copy, then the pair's own tick
    afresh, events_afresh = engine.tick(fresh(pair), midnight)
    assert first == again == afresh
    assert events == events_again == events_afresh
    assert [set(statuses_of(e).values()) for e in only_changes(events)] == [{Status.TEMPORARILY_CLOSED}]
    events_again.clear()  # a caller's list is its own
    assert engine.tick(pair, midnight)[1] == events


def test_r11_the_next_change_remembered_is_the_one_computed_afresh():
    world = offering()
    world.send(absence("a1", "2024-01-15", "2024-01-17"))
    ticked, _ = engine.tick(world.pair(), oslo(2024, 1, 15))
    assert engine.next_change(ticked) == engine.next_change(fresh(ticked)) == oslo(2024, 1, 18)
    assert rules.next_change_after(ticked.facts, oslo(2024, 1, 15, 12)) == oslo(2024, 1, 18)  # same date
    assert rules.evaluate(ticked.facts, oslo(2024, 1, 16)) == rules.evaluate(fresh(ticked).facts, oslo(2024, 1, 16))


def test_r11_a_pair_ticked_twice_at_one_instant_is_worked_out_once(monkeypatch):
    """The booking list ticks every pair of the office on a copy, then each pair's own tick asks the
    same of the same state: the second tick answers the very state the first worked out; another
    instant, or an equal pair read again, is worked out afresh."""
    monkeypatch.setattr(engine, "_ticks", Remembered())
    world = offering()
    world.send(absence("a1", "2024-01-15", "2024-01-17"))
    pair, midnight = world.pair(), oslo(2024, 1, 15)
    first, events = engine.tick(pair, midnight)
    again, events_again = engine.tick(pair, midnight)
    assert again is first and events_again == events and events_again is not events
    afresh, _ = engine.tick(fresh(pair), midnight)
    assert afresh == first and afresh is not first
    later, _ = engine.tick(pair, oslo(2024, 1, 15, 0, 1))
    assert later is not first and later.facts == first.facts  # the same facts, a minute further on
