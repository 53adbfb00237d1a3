"""What a pair remembers of its status reports (`state.py`): behaviour the mutation run of issue 15
found unpinned (`bench/mutation.py`), each test with the rule it follows.

R1: a report holds from its GenDate until the next report's; a late one does not change the current
status, but R4 looks back on it. R4: during an absence run a service counts as normally on if it was
on at any instant from midnight 30 days before the run's first date. The history keeps only
`RECENT_REPORTS` reports verbatim and folds older ones into a summary (issue 10); these tests check
that late reports and reports at midnight still answer R4 as the full history would.
"""

from __future__ import annotations

import datetime as dt

import pytest

from adapter.domain.calendar import midnight
from adapter.domain.model import Process, Status
from adapter.domain.state import RECENT_REPORTS

from .builders import KONTAKT, NO, TC, World, absence, d, oslo, status

EKONTAKT = Process.EKONTAKT


def reported(world: World, gen: dt.datetime, *, on: bool, msg_id: str | None = None) -> None:
    """EPJ reports Kontakt legekontoret on or off as of `gen`, processed now (or at `gen` if later)."""
    command = status(gen, on=[EKONTAKT] if on else [], off=[] if on else [EKONTAKT], msg_id=msg_id)
    outcome = world.send(command, at=max(gen, world.now))
    assert outcome.accepted, outcome.rejection


def on_once_then_off_daily() -> World:
    """Kontakt legekontoret on 1 January 09:00, then reported off at 09:00 every day from 2 to 10
    January: ten reports, more than the history keeps verbatim, so the "on" and the first "off" are
    folded away (the process was on until 2 January 09:00) and the off reports of 3–10 January kept."""
    world = World(now=oslo(2024, 1, 1, 9))
    reported(world, oslo(2024, 1, 1, 9), on=True)
    for day in range(2, 11):
        reported(world, oslo(2024, 1, day, 9), on=False)
    history = world.pair().facts.processes[EKONTAKT]
    assert history.folded and len(history) == RECENT_REPORTS
    assert history[0].gen_date == oslo(2024, 1, 3, 9)
    return world


def status_during_absence_from(world: World, first: str) -> Status:
    """Kontakt legekontoret's status on the first day of an absence registered now (R3–R5)."""
    assert world.send(absence("holiday", first, "2024-02-20", [KONTAKT], at=world.now)).accepted
    world.tick(midnight(d(first)))
    return world.status(KONTAKT)


# The absence's first date and the look-back's start (R4: midnight 30 days before it):
FROM_2_JANUARY = "2024-02-01"  # look back from 2 January 00:00
FROM_3_JANUARY = "2024-02-02"  # look back from 3 January 00:00
FROM_4_JANUARY = "2024-02-03"  # look back from 4 January 00:00


@pytest.mark.parametrize(
    ("late_gen", "late_on", "first", "expected"),
    [
        # off until its GenDate is no "on": still on only until 2 January 09:00, before the look-back
        (oslo(2024, 1, 3, 5), False, FROM_3_JANUARY, NO),
        # on from 3 January 05:00 until the next report (09:00): on inside the look-back
        (oslo(2024, 1, 3, 5), True, FROM_3_JANUARY, TC),
        # an "on" older than what was folded does not shorten what was on: on until 2 January 09:00
        (oslo(2024, 1, 1, 12), True, FROM_2_JANUARY, TC),
        # an "on" between the two oldest reports kept holds until the next one (4 January 09:00)
        (oslo(2024, 1, 3, 12), True, FROM_4_JANUARY, TC),
    ],
    ids=["late-off-before-kept", "late-on-before-kept", "late-on-before-folded-end", "late-on-between-kept"],
)
def test_r1_r4_a_late_report_to_a_folded_history_holds_from_its_gendate_until_the_next_report(
    late_gen, late_on, first, expected
):
    world = on_once_then_off_daily()
    world.tick(oslo(2024, 1, 11))
    reported(world, late_gen, on=late_on)
    assert world.status(KONTAKT) is NO  # R1: the newest report (off, 10 January) still decides now
    assert status_during_absence_from(world, first) is expected


def test_r1_r12_the_oldest_report_kept_of_a_folded_history_sent_again_changes_nothing():
    """A duplicate (same MsgId, same GenDate) is applied once, also when it is the oldest report the
    history still keeps verbatim and everything older was folded."""
    world = on_once_then_off_daily()
    world.tick(oslo(2024, 1, 11))
    reported(world, oslo(2024, 1, 3, 12), on=True, msg_id="late-on")
    pair = world.pair()
    assert pair.facts.processes[EKONTAKT][0].msg_id == "late-on"
    again = world.send(status(oslo(2024, 1, 3, 12), on=[EKONTAKT], msg_id="late-on"), at=oslo(2024, 1, 11, 1))
    assert again.events == ()
    assert world.pair().facts.processes == pair.facts.processes


def test_r1_r4_an_off_reported_at_midnight_ends_the_on_before_that_day():
    """On since December, off at 5 January 00:00 exactly: on until (not including) midnight, so not
    on at any instant from 5 January 00:00 (R4's look-back for a run from 4 February)."""
    world = World(now=oslo(2023, 12, 1, 9))
    reported(world, oslo(2023, 12, 1, 9), on=True)
    reported(world, oslo(2024, 1, 5), on=False)
    assert status_during_absence_from(world, "2024-02-04") is NO


def test_r1_r4_an_off_at_midnight_still_ends_a_late_on_of_the_day_before():
    """Off on 4 January 09:00, off again at 5 January 00:00 and 09:00; a late "on" of 4 January 12:00
    held until the next report, midnight: not on from 5 January 00:00 (look-back of a run from
    4 February). The midnight report must be kept to say so, though it repeats an "off"."""
    world = World(now=oslo(2023, 12, 1, 9))
    reported(world, oslo(2023, 12, 1, 9), on=True)
    for gen in (oslo(2024, 1, 4, 9), oslo(2024, 1, 5), oslo(2024, 1, 5, 9)):
        reported(world, gen, on=False)
    world.tick(oslo(2024, 1, 6))
    reported(world, oslo(2024, 1, 4, 12), on=True)
    assert status_during_absence_from(world, "2024-02-04") is NO


def test_r1_r4_what_was_folded_away_ends_at_midnight_exactly_before_the_look_back():
    """On 1 January 09:00, off at 2 January 00:00 exactly and then daily: once folded, the history
    remembers "on until 2 January 00:00", which is not an instant from 2 January 00:00 on (R4)."""
    world = World(now=oslo(2024, 1, 1, 9))
    reported(world, oslo(2024, 1, 1, 9), on=True)
    reported(world, oslo(2024, 1, 2), on=False)
    for day in range(3, 12):
        reported(world, oslo(2024, 1, day, 9), on=False)
    history = world.pair().facts.processes[EKONTAKT]
    assert history.folded and history.on_until == oslo(2024, 1, 2)
    assert status_during_absence_from(world, FROM_2_JANUARY) is NO


def test_r1_r4_an_on_that_lost_its_tie_is_not_on_once_folded_away():
    """Off on 1 January; on 2 January 09:00 two reports with the same GenDate, "on" (m-a) and "off"
    (m-b): the greater MsgId wins, so the "on" never held (R1). Folded away under later daily
    reports, it must still not count as on from 2 January 00:00 (R4, a run from 1 February)."""
    world = World(now=oslo(2024, 1, 1, 9))
    reported(world, oslo(2024, 1, 1, 9), on=False)
    reported(world, oslo(2024, 1, 2, 9), on=True, msg_id="m-a")
    reported(world, oslo(2024, 1, 2, 9), on=False, msg_id="m-b")
    for day in range(3, 11):
        reported(world, oslo(2024, 1, day, 9), on=False)
    history = world.pair().facts.processes[EKONTAKT]
    assert history.folded and all(report.msg_id != "m-a" for report in history.reports)
    assert status_during_absence_from(world, FROM_2_JANUARY) is NO


def test_r1_r4_an_off_stretch_keeps_its_first_report_and_the_last_of_each_day():
    """The compaction the history promises (issue 10): of an "off" stretch its first report (where
    the "on" before it ended, R4) and the last of each Oslo day; repeats between them go."""
    world = World(now=oslo(2024, 1, 1, 9))
    reported(world, oslo(2024, 1, 1, 9), on=True)
    for gen in (oslo(2024, 1, 2, 9), oslo(2024, 1, 2, 10), oslo(2024, 1, 2, 11), oslo(2024, 1, 3, 9)):
        reported(world, gen, on=False)
    kept = [(report.gen_date, report.on) for report in world.pair().facts.processes[EKONTAKT].reports]
    assert kept == [
        (oslo(2024, 1, 1, 9), True),
        (oslo(2024, 1, 2, 9), False),  # the first "off": the "on" ended here
        (oslo(2024, 1, 2, 11), False),  # the last of 2 January
        (oslo(2024, 1, 3, 9), False),  # the last report
    ]
