"""Behaviour the mutation run of issue 15 found unpinned (`bench/mutation.py`), grouped by rule.

Each test kills one or more surviving mutants by asserting what DOMAIN.md asks for; where a
survivor could not change any behaviour it is named in `bench/mutation-equivalent.txt` instead.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from adapter.domain import persisted, remembered, rules
from adapter.domain.calendar import norwegian_date
from adapter.domain.model import Process, Service
from adapter.domain.state import RECENT_REPORTS, Absence, OfficeState, PairFacts, PairState, ProcessHistory

from .builders import (
    ALL,
    ALL_FOUR_ON,
    ASTRID,
    INGAR,
    KONTAKT,
    TC,
    World,
    absence,
    d,
    delete,
    gp,
    offering,
    oslo,
    roster,
    status,
    switched_on,
    vikar,
)

# --- the stored state: what an office and a pair remember across a restart (R1, R9, R11, R14) -------


def v1_of_office(office: OfficeState) -> str:
    """Release 0.1.0 stored an office as the pydantic dump of `OfficeState` (no "v")."""
    return office.model_dump_json()


def v1_of_pair(pair: PairState) -> str:
    """Release 0.1.0 stored a pair as the pydantic dump of `PairState`, each history a list of reports."""
    document = json.loads(pair.model_dump_json())
    document["facts"]["processes"] = {p: h["reports"] for p, h in document["facts"]["processes"].items()}
    return json.dumps(document)


def office_with_a_history() -> World:
    """A behandleroversikt received as a message (so it has a version), a GP with her own HER-id, a
    substitute for a bounded period, and one absence registered and deleted."""
    world = World(gp(), now=oslo(2024, 6, 1))
    astrid = gp().model_copy(update={"her_id": 8141705})
    listing = roster(oslo(2024, 6, 1), astrid, vikar(start=d("2024-07-01"), end=d("2024-07-31")), msg_id="r-2")
    assert world.send(listing).accepted
    switched_on(world, oslo(2024, 6, 1, 1), *ALL_FOUR_ON)
    world.send(absence("gone", "2024-06-10", "2024-06-12"))
    world.send(delete("gone"))
    world.send(absence("kept", "2024-06-20", "2024-06-21"))
    return world


def reloaded(world: World) -> World:
    """The same world after a restart: every office and pair read back from its stored text."""
    world.offices = {her_id: OfficeState.from_json(o.to_json()) for her_id, o in world.offices.items()}
    world.pairs = {key: PairState.from_json(p.to_json()) for key, p in world.pairs.items()}
    return world


def test_r1_r9_r14_an_office_reads_back_exactly_from_this_release_and_from_release_0_1_0():
    office = office_with_a_history().office()
    assert office.roster_version is not None and office.deleted_absences == {"gone"}
    assert office.roster[ASTRID].her_id == 8141705
    assert office.roster[INGAR].covers.to_date == d("2024-07-31")
    assert OfficeState.from_json(office.to_json()) == office
    assert OfficeState.from_json(v1_of_office(office)) == office


def test_r1_after_a_restart_an_older_behandleroversikt_still_changes_nothing():
    """R1's order for the list survives the restart: the stored version is what an older list loses to."""
    world = reloaded(office_with_a_history())
    late = world.send(roster(oslo(2024, 5, 1), gp(), msg_id="r-1"), at=oslo(2024, 6, 1, 2))
    assert (late.office, late.pairs, late.events) == (None, (), ())
    assert INGAR in world.office().roster


def test_r14_after_a_restart_a_deleted_absence_registered_again_stays_deleted():
    world = reloaded(office_with_a_history())
    again = world.send(absence("gone", "2024-06-10", "2024-06-12", at=oslo(2024, 6, 1, 5)))
    assert again.events == () and "gone" not in world.pair().facts.absences
    world.tick(oslo(2024, 6, 10))
    assert world.status(KONTAKT) is not TC


def test_r9_after_a_restart_the_substitute_period_still_ends_on_its_last_day():
    world = reloaded(office_with_a_history())
    world.tick(oslo(2024, 7, 31))
    assert world.availability().substitute.to_date == d("2024-07-31")
    world = reloaded(world)
    world.tick(oslo(2024, 8, 1))
    assert world.availability().substitute is None


def test_an_office_without_a_roster_yet_reads_back_as_one():
    office = OfficeState(her_id=8141333)
    assert json.loads(office.to_json())["roster"] is None
    assert OfficeState.from_json(office.to_json()) == office


def test_r9_a_pair_with_a_bounded_substitute_reads_back_exactly_and_migrates_from_release_0_1_0():
    world = World(gp(), vikar(start=d("2024-07-01"), end=d("2024-07-31")), now=oslo(2024, 6, 20))
    switched_on(world, oslo(2024, 6, 20), *ALL_FOUR_ON)
    world.tick(oslo(2024, 7, 2))
    pair = world.pair()
    assert pair.published.substitute.to_date == d("2024-07-31")
    assert pair.facts.substitutes[0].to_date == d("2024-07-31")
    assert PairState.from_json(pair.to_json()) == pair
    assert PairState.from_json(v1_of_pair(pair)) == pair


def test_r9_a_release_0_1_0_substitute_spelled_by_the_wire_or_without_a_name_is_still_read():
    """Tolerant reading of odd old documents: the published substitute by its wire aliases
    ("from"/"to"), a substitute period without a name (read as an empty one)."""
    world = World(gp(), vikar(start=d("2024-07-01"), end=d("2024-07-31")), now=oslo(2024, 6, 20))
    switched_on(world, oslo(2024, 6, 20), *ALL_FOUR_ON)
    world.tick(oslo(2024, 7, 2))
    pair = world.pair()
    document = json.loads(v1_of_pair(pair))
    document["published"]["substitute"] = pair.published.substitute.to_json()  # {"from": ..., "to": ...}
    del document["facts"]["substitutes"][0]["name"]
    read = PairState.from_json(json.dumps(document))
    assert read.published == pair.published
    assert read.facts.substitutes[0].name == "" and read.facts.substitutes[0].to_date == d("2024-07-31")


def flapping_pair() -> PairState:
    """Kontakt legekontoret switched on and off daily for longer than the history keeps verbatim."""
    world = World(now=oslo(2024, 1, 1))
    for day in range(2 * RECENT_REPORTS):
        at = oslo(2024, 1, 1 + day, 9)
        world.send(status(at, on=[Process.EKONTAKT]) if day % 2 else status(at, off=[Process.EKONTAKT]), at=at)
    return world.pair()


def test_r4_a_folded_history_reads_back_with_its_summary():
    """Bounded history (issue 10): what was folded away survives only in `on_until`; a restart keeps it."""
    pair = flapping_pair()
    history = pair.facts.processes[Process.EKONTAKT]
    assert history.folded and history.on_until is not None
    assert PairState.from_json(pair.to_json()) == pair


def test_r4_a_stored_history_without_summary_fields_has_folded_nothing():
    document = json.loads(flapping_pair().to_json())
    stored = document["processes"][Process.EKONTAKT.value]
    document["processes"] = {
        Process.EKONTAKT.value: {"reports": stored["reports"]},
        Process.EKONSULTASJON.value: {},
    }
    histories = PairState.from_json(json.dumps(document)).facts.processes
    assert histories[Process.EKONTAKT].folded is False and histories[Process.EKONTAKT].on_until is None
    assert len(histories[Process.EKONTAKT]) == len(stored["reports"])
    assert histories[Process.EKONSULTASJON] == ProcessHistory()


def test_a_stored_substitute_without_name_or_end_reads_as_nameless_and_open_ended():
    """Tolerant reading: a document written by hand or by an older tool names only what it must."""
    document = {
        "v": 2,
        "office": 8141333,
        "hpr": ASTRID,
        "substitutes": [{"hpr": INGAR, "from": "2024-07-01"}],
        "published": {"substitute": {"hpr": INGAR, "from": "2024-07-01"}},
    }
    pair = PairState.from_json(json.dumps(document))
    (period,) = pair.facts.substitutes
    assert (period.name, period.to_date) == ("", None)
    assert (pair.published.substitute.name, pair.published.substitute.to_date) == ("", None)


def test_a_stored_state_that_is_not_json_says_so():
    with pytest.raises(persisted.UnreadableState, match=r"^not JSON: "):
        PairState.from_json("{not json")


# --- R9: substitutes ----------------------------------------------------------------------------------


def test_r9_a_substitute_taken_off_the_list_before_the_period_starts_is_never_shown():
    """The new behandleroversikt changes nothing the portal sees yet, but the pair must still remember
    that the substitute is gone, or the period would start in July all the same."""
    world = World(gp(), vikar(start=d("2024-07-01"), end=d("2024-07-31")), now=oslo(2024, 6, 1))
    switched_on(world, oslo(2024, 6, 1), *ALL_FOUR_ON)
    assert world.pair().facts.substitutes
    without = world.send(roster(oslo(2024, 6, 2), gp()), at=oslo(2024, 6, 2))
    assert without.events == () and world.pair().facts.substitutes == ()
    world.tick(oslo(2024, 7, 10))
    assert world.availability().substitute is None


# --- R14: absences are validated ------------------------------------------------------------------------


def test_r14_a_refused_absence_says_exactly_what_was_wrong():
    """The reason goes back to Tilpass Helsenorge with the refusal: the dates, or the length counted."""
    world = World(now=oslo(2024, 1, 10))
    backwards = world.send(absence("a1", "2024-01-20", "2024-01-15"))
    assert backwards.rejection.reason == "from 2024-01-20 is after to 2024-01-15 (R14)"
    too_long = world.send(absence("a2", "2024-01-11", "2025-01-11"))
    assert too_long.rejection.reason == "367 days; at most 366, both ends counted (R14)"


# --- R3: absence runs, worked out once per absence map (R11 evaluates one map at many instants) ------


def absence_map(*spans: tuple[str, str], services: frozenset[Service] = ALL) -> dict[str, Absence]:
    """Absences a1, a2, … over the given (from, to) dates, as a pair's facts hold them."""
    return {
        f"a{n}": Absence(
            absence_id=f"a{n}", from_date=d(start), to_date=d(end), services=services, registered_at=oslo(2024, 1, 1)
        )
        for n, (start, end) in enumerate(spans, start=1)
    }


def test_r3_the_runs_of_an_absence_map_are_worked_out_once_and_only_the_last_few_maps_are_remembered():
    """Finding the next change (R11) evaluates one pair's absences at every boundary ahead, so the
    runs of a map are remembered by its identity; and only a bounded number of maps, so memory does
    not grow with the number of pairs evaluated (issue 10)."""
    absences = absence_map(("2024-07-01", "2024-07-10"), ("2024-07-11", "2024-07-20"))
    runs = rules.absence_runs(absences)
    assert runs[KONTAKT] == (rules.Run(d("2024-07-01"), d("2024-07-20"), "a2"),)  # R3: touching absences, one run
    assert rules.absence_runs(absences) is runs
    starts = [d("2024-08-01") + dt.timedelta(days=n) for n in range(3 * remembered.SIZE)]
    others = [absence_map((start.isoformat(), "2024-12-31")) for start in starts]
    for other in others:
        assert rules.absence_runs(other)[KONTAKT][0].first == other["a1"].from_date
        assert len(rules._runs) <= remembered.SIZE


# --- R11 at the midnight burst: answers remembered per facts and Oslo date (remembered.py) -------------


def counted(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[object, ...]]:
    """The calls of `rules.<name>` from now on: the work a remembered answer saves."""
    calls: list[tuple[object, ...]] = []
    real = getattr(rules, name)

    def counting(*args: object) -> object:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(rules, name, counting)
    return calls


def closing_on_the_15th() -> PairFacts:
    """All four services on, then an absence 15-17 January 2024 (R3: reopens on the 18th)."""
    world = offering()
    world.send(absence("a1", "2024-01-15", "2024-01-17"))
    return world.pair().facts


def test_r11_a_pair_is_evaluated_once_per_oslo_date(monkeypatch):
    """A clock tick asks for the same facts' availability several times a batch (the booking list's
    copy, the pair's own tick, the due index): it is worked out once per Oslo date and answered
    again as the very same evaluation."""
    monkeypatch.setattr(rules, "_evaluations", remembered.Remembered())
    facts = closing_on_the_15th()
    evaluated = counted(monkeypatch, "_evaluate")
    first = rules.evaluate(facts, oslo(2024, 1, 16))
    assert first.availability.services.TIMEBESTILLING.status is TC
    assert rules.evaluate(facts, oslo(2024, 1, 16, 23, 59)) is first  # the same Oslo date
    assert evaluated == [(facts, d("2024-01-16"))]
    assert rules.evaluate(facts, oslo(2024, 1, 17)).availability == first.availability
    assert evaluated == [(facts, d("2024-01-16")), (facts, d("2024-01-17"))]  # another date: worked out


def test_r11_the_next_change_is_worked_out_once_per_oslo_date(monkeypatch):
    monkeypatch.setattr(rules, "_next_changes", remembered.Remembered())
    facts = closing_on_the_15th()
    worked_out = counted(monkeypatch, "_next_change_after")
    first = rules.next_change_after(facts, oslo(2024, 1, 11))
    assert first == oslo(2024, 1, 15)
    assert rules.next_change_after(facts, oslo(2024, 1, 11, 23, 59)) is first
    assert worked_out == [(facts, d("2024-01-11"))]
    assert rules.next_change_after(facts, oslo(2024, 1, 15)) == oslo(2024, 1, 18)
    assert worked_out == [(facts, d("2024-01-11")), (facts, d("2024-01-15"))]


def test_r11_an_equal_availability_built_again_is_no_change(monkeypatch):
    """An absence of a service not offered changes nothing (R4: not normally on), so time alone
    changes nothing ahead, even when the remembered availabilities were forgotten in between (full)
    and the one ahead is built again as an equal value that is another object."""
    world = offering(Process.EKONTAKT)
    world.send(absence("a1", "2024-01-15", "2024-01-17", [Service.RESEPTFORNYELSE]))
    facts = world.pair().facts
    monkeypatch.setattr(rules, "_evaluations", remembered.Remembered())
    monkeypatch.setattr(rules, "_next_changes", remembered.Remembered())
    today = rules.evaluate(facts, oslo(2024, 1, 11)).availability
    monkeypatch.setattr(rules, "_availabilities", {})  # forgotten, as when full
    ahead = rules.evaluate(facts, oslo(2024, 1, 15)).availability
    assert ahead == today and ahead is not today
    assert rules.next_change_after(facts, oslo(2024, 1, 11)) is None


def test_r3_r8_pairs_showing_the_same_share_one_availability_and_only_so_many_are_kept(monkeypatch):
    """At a midnight thousands of pairs close with the same date to reopen on: an availability is
    built once per distinct content, and only a bounded number of contents are kept (issue 10)."""
    monkeypatch.setattr(rules, "_availabilities", {})
    shown = [rules.evaluate(closing_on_the_15th(), oslo(2024, 1, 16)).availability for _ in range(2)]
    assert shown[0] is shown[1]  # two pairs, one object
    assert shown[0].services.TIMEBESTILLING.reopens_on == d("2024-01-18")
    monkeypatch.setattr(rules, "_availabilities", {})
    sizes = []
    for n in range(remembered.SIZE + 2):
        reopening = d("2030-01-01") + dt.timedelta(days=n)
        rules._availability(((TC, reopening),) * len(Service), None, False, None)
        sizes.append(len(rules._availabilities))
    assert max(sizes) == remembered.SIZE and sizes[-2:] == [1, 2]  # full: forgotten at once, then kept again


# --- R16: a practitioner leaves --------------------------------------------------------------------


def test_r16_a_leaver_closed_by_an_absence_is_stored_and_read_back_as_offering_nothing():
    """She leaves while an absence closes her services: the pair offers nothing, no absence closes
    anything any more (R10 has nothing to name), and the store writes and reads it back exactly."""
    world = World(gp(), now=oslo(2024, 1, 10))
    switched_on(world, oslo(2024, 1, 10), *ALL_FOUR_ON)
    world.send(absence("a1", "2024-01-10", "2024-01-12"))
    assert world.pair().closed_by == dict.fromkeys(Service, "a1")
    world.send(roster(oslo(2024, 1, 10, 1)), at=oslo(2024, 1, 10, 1))
    pair = world.pair()
    assert not pair.facts.listed and pair.closed_by == {}
    assert PairState.from_json(pair.to_json()) == pair


# --- Time: every instant is on the time line (DOMAIN.md "Time", R1) ----------------------------------


class _NoOffset(dt.tzinfo):
    """A time zone that cannot say its offset: an instant in it is as unplaceable as a naive one."""

    def utcoffset(self, _: dt.datetime | None) -> None:
        return None


@pytest.mark.parametrize("tzinfo", [None, _NoOffset()], ids=["naive", "zone-without-offset"])
def test_r1_a_gendate_without_a_utc_offset_is_refused_and_says_so(tzinfo):
    """Oslo's offset changes twice a year, so a GenDate must carry its own (R1 compares GenDates)."""
    with pytest.raises(ValidationError) as refused:
        status(dt.datetime(2024, 1, 10, 12, tzinfo=tzinfo), on=[Process.EKONTAKT])
    assert [error["msg"] for error in refused.value.errors()] == ["Value error, instant must carry a UTC offset"]


def test_a_date_is_written_the_norwegian_way_whether_given_as_a_date_or_as_its_iso_text():
    """The replay's and the console's texts pass dates as ISO text (as the events carry them)."""
    assert norwegian_date("2024-01-02") == norwegian_date(d("2024-01-02")) == "2. januar 2024"
    assert norwegian_date("2023-12-31") == "31. desember 2023"
