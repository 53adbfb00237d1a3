"""Issue 10: what a pair and an office remember of absences is bounded (`adapter.domain.memory`).

Past absences, their R9 warnings, their owners and deleted ids are forgotten once they can change
no answer of the rules (or, for deletions, after the horizon the engine documents), so years of
reports and absences leave a pair's and an office's state under a fixed size.
"""

from __future__ import annotations

import datetime as dt

from adapter.domain.calendar import midnight
from adapter.domain.memory import ABSENCE_MEMORY, is_settled
from adapter.domain.model import MAX_ABSENCE_DAYS, Process, Service
from adapter.domain.state import RECENT_REPORTS, OfficeState, PairState

from .builders import (
    ALL_FOUR_ON,
    ASTRID,
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
    oslo,
    roster,
    status,
    switched_on,
    vikar,
)

ONE_DAY = dt.timedelta(days=1)


def test_the_memory_is_longer_than_any_absence_r14_allows_plus_r4s_look_back():
    assert dt.timedelta(days=MAX_ABSENCE_DAYS + 30) <= ABSENCE_MEMORY


def test_r1_r3_r9_r14_years_of_reports_and_absences_keep_a_pair_and_its_office_under_a_fixed_bound():
    """Nine years of one GP: a status report every four hours (20,000, flapping), an absence every
    third day registered ahead (1,100+), a tenth of them deleted again, all inside a
    substitute's open-ended period (R9 warns about each): the pair's and the office's stored
    documents stop growing once the memory is full, and they still round-trip exactly."""
    start = oslo(2012, 1, 2)
    world = World(gp(), MIDWIFE, vikar(start=start.date(), end=None), now=start)
    switched_on(world, start, *ALL_FOUR_ON)
    pair_sizes: dict[int, int] = {}
    office_sizes: dict[int, int] = {}
    registered = deleted = reports = 0
    for day in range(3334):
        at = start + dt.timedelta(days=day)
        if day % 3 == 0:
            first = at.date() + dt.timedelta(days=10)
            absence_id = f"a{day:05d}"
            assert world.send(absence(absence_id, first, first, at=at), at=at + dt.timedelta(minutes=1)).accepted
            registered += 1
            if day % 30 == 0:
                assert world.send(delete(absence_id, at=at), at=at + dt.timedelta(minutes=2)).accepted
                deleted += 1
        for hour in range(2, 24, 4):
            gen = at + dt.timedelta(hours=hour)
            flapping = [Process.EKONSULTASJON] if (day + hour) % 3 else []
            world.send(status(gen, on=[Process.EKONTAKT, *flapping], off=[Process.RESEPTFORNYELSE]), at=gen)
            reports += 1
        if day % 365 == 364:
            pair_sizes[day // 365] = len(world.pair().to_json())
            office_sizes[day // 365] = len(world.office().to_json())
    assert reports >= 20_000 and registered > 1_000 and deleted > 100
    assert len(world.warnings("ABSENCE_OVERRIDES_SUBSTITUTE")) == registered  # R9: each absence once
    pair, office = world.pair(), world.office()
    remembered = ABSENCE_MEMORY.days // 3 + 10  # one every third day, plus those registered ahead
    assert len(pair.facts.absences) <= remembered and len(pair.warned) <= remembered
    assert len(office.absence_owner) + len(office.deleted_absences) <= remembered + 2
    assert all(len(h) <= RECENT_REPORTS for h in pair.facts.processes.values())
    # full after the second year: from then on no year's state is larger than the second's
    assert max(pair_sizes[y] for y in range(2, 9)) <= pair_sizes[2] * 1.05 < 48_000
    assert max(office_sizes[y] for y in range(2, 9)) <= office_sizes[2] * 1.05 < 24_000
    assert PairState.from_json(pair.to_json()) == pair
    assert OfficeState.from_json(office.to_json()) == office


def test_r3_r4_a_run_that_goes_on_keeps_its_first_absence_however_long_ago_it_ended():
    """R4 looks back from the run's first date: three chained year-long absences keep the first one
    (ended more than the memory ago) while the run lasts, so the service stays TEMPORARILY_CLOSED;
    once the run has ended the memory ago, the pair forgets all three."""
    world = World(now=oslo(2019, 11, 1))
    switched_on(world, oslo(2019, 11, 1), Process.EKONTAKT)
    world.send(status(oslo(2019, 12, 20), off=[Process.EKONTAKT]), at=oslo(2019, 12, 20))
    for n, year in enumerate((2020, 2021, 2022)):
        world.send(absence(f"a{n}", f"{year}-01-01", f"{year}-12-31", [KONTAKT]), at=oslo(2019, 12, 21))
    world.tick(oslo(2022, 6, 1))
    assert d("2020-12-31") + ABSENCE_MEMORY < d("2022-06-01")  # the first absence is settled
    assert world.status(KONTAKT) is TC and "a0" in world.pair().facts.absences
    world.tick(oslo(2023, 1, 1))
    assert world.status(KONTAKT) is NO  # R10's end of the run
    world.tick(oslo(2024, 3, 1))
    assert world.pair().facts.absences == {}


def test_r9_r14_a_forgotten_absence_takes_its_warning_and_owner_with_it_and_cannot_come_back():
    """Once settled, an absence leaves the pair (with its R9 note) and the office; registering it
    again with the same content changes nothing and warns about nothing."""
    world = World(gp(), MIDWIFE, vikar(start=d("2024-07-01"), end=d("2024-07-31")), now=oslo(2024, 6, 20))
    switched_on(world, oslo(2024, 6, 20), *ALL_FOUR_ON)
    again = absence("a1", "2024-07-10", "2024-07-12")
    world.send(again)
    assert world.pair().warned == {("a1", INGAR)}
    assert "a1" in world.office().absence_owner
    later = oslo(2024, 7, 13) + ABSENCE_MEMORY
    world.tick(later)
    assert world.pair().facts.absences == {} and world.pair().warned == frozenset()
    events = len(world.events)
    outcome = world.send(again, at=later)
    assert outcome.accepted and outcome.events == () and len(world.events) == events
    world.send(roster(later, gp(), MIDWIFE), at=later)  # the office forgets when it next changes
    assert world.office().absence_owner == {} and world.office().remembered_from == {}


def test_r14_a_deletion_is_remembered_for_the_memory_after_it_then_the_id_is_new():
    """R14: an unknown id deleted is remembered, so a registration of it arriving later does not
    bring it back; after `ABSENCE_MEMORY` the deletion is forgotten and the id counts as new."""
    world = World(now=oslo(2024, 1, 10))
    switched_on(world, oslo(2024, 1, 10), *ALL_FOUR_ON)
    deleted_at = oslo(2024, 1, 10, 12)
    world.send(delete("x1", at=deleted_at), at=deleted_at)
    inside = deleted_at + ABSENCE_MEMORY - ONE_DAY
    ahead = (inside + dt.timedelta(days=5)).date()
    refused = world.send(absence("x1", ahead, ahead, at=inside), at=inside)
    assert refused.events == () and "x1" in world.office().deleted_absences
    outside = deleted_at + ABSENCE_MEMORY + 2 * ONE_DAY
    ahead = (outside + dt.timedelta(days=5)).date()
    registered = world.send(absence("x1", ahead, ahead, at=outside), at=outside)
    assert world.office().absence_owner == {"x1": ASTRID} and "x1" not in world.office().deleted_absences
    assert registered.office is not None and "x1" in world.pair().facts.absences


def test_r14_a_deletion_of_a_known_absence_is_remembered_from_its_end_when_that_is_later():
    world = World(now=oslo(2024, 1, 10))
    switched_on(world, oslo(2024, 1, 10), *ALL_FOUR_ON)
    world.send(absence("a1", "2024-06-01", "2024-06-30", [Service.RESEPTFORNYELSE]))
    world.send(delete("a1"), at=oslo(2024, 1, 11))
    assert world.office().remembered_from == {"a1": d("2024-06-30")}


def test_an_office_written_before_issue_10_dates_its_ids_when_it_next_changes():
    """Old documents carry no dates: their ids are remembered a full memory from their next change."""
    text = OfficeState(
        her_id=OFFICE, roster={ASTRID: gp()}, absence_owner={"old": ASTRID}, deleted_absences=frozenset({"gone"})
    ).to_json()
    old = OfficeState.from_json(text.replace(',"remembered_from":{}', ""))
    assert old.remembered_from == {} and old.absence_owner == {"old": ASTRID}
    world = World(now=oslo(2024, 1, 10))
    world.offices[OFFICE] = old
    world.send(roster(oslo(2024, 1, 10), gp(), MIDWIFE))
    assert world.office().remembered_from == {"old": d("2024-01-10"), "gone": d("2024-01-10")}
    for day, still in ((9, {"gone"}), (12, set())):
        at = oslo(2024, 1, day, 12) + ABSENCE_MEMORY
        assert world.send(roster(at, gp(), MIDWIFE), at=at).accepted
        assert world.office().deleted_absences == still and len(world.office().absence_owner) == len(still)


# --- the memory's edges (mutation survivors of `memory`, issue 15) ----------------------------------


def test_r3_r14_an_absence_is_settled_only_once_the_memory_has_passed_since_its_last_date():
    today = d("2026-01-15")
    assert not is_settled(today - ABSENCE_MEMORY, oslo(2026, 1, 15))  # exactly the memory ago: still remembered
    assert is_settled(today - ABSENCE_MEMORY - ONE_DAY, oslo(2026, 1, 15))


def _forgetting(*spans: tuple[str, str, str]) -> World:
    """A GP with the absences `spans` (id, first, last; Kontakt legekontoret only), registered ahead."""
    world = World(now=oslo(2024, 1, 2))
    switched_on(world, oslo(2024, 1, 2), *ALL_FOUR_ON)
    for absence_id, first, last in spans:
        assert world.send(absence(absence_id, first, last, [KONTAKT])).accepted
    return world


def test_r3_an_absence_whose_run_ended_exactly_the_memory_ago_is_kept_when_an_older_one_is_forgotten():
    """Ticked on the day the memory runs out for "r" (its last date + ABSENCE_MEMORY): "s", a memory
    and more ago, is forgotten; "r" (followed by a gap) and "t" are still remembered."""
    world = _forgetting(
        ("s", "2024-03-01", "2024-03-02"), ("r", "2024-03-10", "2024-03-12"), ("t", "2024-05-01", "2024-05-03")
    )
    world.tick(midnight(d("2024-03-12") + ABSENCE_MEMORY))
    assert set(world.pair().facts.absences) == {"r", "t"}


def test_r3_the_last_run_of_a_service_ending_exactly_the_memory_ago_is_kept():
    world = _forgetting(("s", "2024-03-01", "2024-03-02"), ("r", "2024-03-10", "2024-03-12"))
    world.tick(midnight(d("2024-03-12") + ABSENCE_MEMORY))
    assert set(world.pair().facts.absences) == {"r"}


def test_r3_a_run_lasts_until_its_latest_last_date_even_when_a_shorter_absence_inside_it_starts_later():
    """ "long" (1 March–20 December) contains "inside" (2–3 March), and "after" touches neither: the run
    of "long" and "inside" ends 20 December, so ticked when 1 May is the first date remembered,
    both are kept while "old" is forgotten."""
    world = _forgetting(
        ("old", "2024-02-01", "2024-02-02"),
        ("long", "2024-03-01", "2024-12-20"),
        ("inside", "2024-03-02", "2024-03-03"),
    )
    world.tick(midnight(d("2024-05-01") + ABSENCE_MEMORY))
    assert set(world.pair().facts.absences) == {"long", "inside"}


def test_r3_forgetting_keeps_an_absence_of_every_service_whose_run_goes_on():
    world = World(now=oslo(2024, 1, 2))
    switched_on(world, oslo(2024, 1, 2), *ALL_FOUR_ON)
    world.send(absence("old", "2024-02-01", "2024-02-02", [KONTAKT]))
    world.send(absence("all", "2024-03-01", "2024-03-05"))  # every service
    world.tick(midnight(d("2024-03-01") + ABSENCE_MEMORY))
    assert set(world.pair().facts.absences) == {"all"}


def test_r9_r14_a_deleted_absence_takes_its_warning_with_it_and_is_warned_about_again_when_registered_again():
    world = World(gp(), MIDWIFE, vikar(start=d("2024-07-01"), end=d("2024-07-31")), now=oslo(2024, 6, 20))
    switched_on(world, oslo(2024, 6, 20), *ALL_FOUR_ON)
    world.send(absence("a1", "2024-07-10", "2024-07-12"))
    assert world.pair().warned == {("a1", INGAR)}
    world.send(delete("a1"), at=oslo(2024, 6, 21))
    assert world.pair().warned == frozenset()


def test_r14_the_office_keeps_the_owner_of_an_absence_that_ended_exactly_the_memory_ago():
    world = _forgetting(("s", "2024-03-01", "2024-03-02"), ("r", "2024-03-10", "2024-03-12"))
    at = midnight(d("2024-03-12") + ABSENCE_MEMORY)
    world.send(roster(at, gp(), MIDWIFE), at=at)  # the office forgets when it next changes
    assert set(world.office().absence_owner) == {"r"}
