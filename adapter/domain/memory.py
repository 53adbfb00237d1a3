"""What the adapter forgets: absences long over, and what it noted about them (issue 10).

A pair's status history is bounded by `state.ProcessHistory`; this module bounds the rest of what
a pair and an office remember: past absences (`PairFacts.absences`), the R9 warnings given about
them (`PairState.warned`), their owners (`OfficeState.absence_owner`) and deleted ids
(`OfficeState.deleted_absences`). The reading (also in `engine`'s list):

- An absence is **settled** once `ABSENCE_MEMORY` has passed since its last date. The rules only
  ever ask about today and later (R3, R5, R10, R11), and a run (R3) reaches a past absence only by
  chaining through absences that touch; a registration covering today or later is at most
  `MAX_ABSENCE_DAYS` long (R14), so no single later registration can chain a settled absence to
  today. A settled absence is forgotten by its pair once every run it belongs to has ended
  `ABSENCE_MEMORY` ago too (a run still going on keeps its absences: R4 looks back from the run's
  first date), and by its office (owner entry) at once; a registration of a settled absence changes
  nothing, a deletion of one is remembered like a deletion of an unknown id. The warnings given
  about an absence (R9: once per absence and substitute) are forgotten when it leaves the pair
  (deleted, moved to another practitioner, or forgotten): registered there again, it is warned
  about again.
- A deletion (R14) is remembered for `ABSENCE_MEMORY` after the later of the day it was processed
  and the deleted absence's last date; a registration of that id arriving later than that counts
  as a new absence (and if it is settled, changes nothing).

Pure functions of the state and the adapter's clock (`now`), applied by the engine whenever it
changes a pair or an office or ticks a pair; never by the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from .calendar import ONE_DAY, local_date
from .model import MAX_ABSENCE_DAYS, Service
from .rules import NORMALLY_ON_LOOKBACK
from .state import Absence, OfficeState, PairState, replaced

#: How long after its last date an absence (its owner, its deletion) is remembered: the longest
#: absence R14 allows (the farthest one later registration can reach back to chain with it, R3),
#: plus R4's look-back as a margin.
ABSENCE_MEMORY = dt.timedelta(days=MAX_ABSENCE_DAYS) + NORMALLY_ON_LOOKBACK


def forgotten_before(today: dt.date) -> dt.date:
    """The first date still remembered: an absence that ended before it is settled."""
    return today - ABSENCE_MEMORY


def is_settled(last_date: dt.date, now: dt.datetime) -> bool:
    """An absence whose last date is `last_date` is settled at `now`: nothing can bring it back."""
    return last_date < forgotten_before(local_date(now))


def _ongoing(absences: Iterable[Absence], since: dt.date) -> set[str]:
    """The absences in some run (R3, per service) whose last date is on or after `since`."""
    kept: set[str] = set()
    for service in Service:
        spans = sorted((a.from_date, a.to_date, a.absence_id) for a in absences if service in a.services)
        run: list[str] = []
        last: dt.date | None = None
        for start, end, absence_id in spans:
            if last is not None and start > last + ONE_DAY:  # a gap: the run so far has ended
                if last >= since:
                    kept.update(run)
                run, last = [], None
            run.append(absence_id)
            last = end if last is None else max(last, end)
        if last is not None and last >= since:
            kept.update(run)
    return kept


def forget_in_pair(pair: PairState) -> PairState:
    """The pair without its settled absences (whose runs are over too) and their R9 notes."""
    if pair.as_of is None:
        return pair
    absences = pair.facts.absences
    since = forgotten_before(local_date(pair.as_of))
    settled = any(a.to_date < since for a in absences.values())
    if not settled and all(absence_id in absences for absence_id, _ in pair.warned):
        return pair  # the common case, decided without sorting anything
    kept = _ongoing(absences.values(), since) if settled else set(absences)
    update: dict[str, object] = {"warned": frozenset(w for w in pair.warned if w[0] in kept)}
    if len(kept) != len(absences):
        remaining = {k: v for k, v in absences.items() if k in kept}
        update["facts"] = replaced(pair.facts, {"absences": remaining})
    return replaced(pair, update)


def forget_in_office(office: OfficeState, now: dt.datetime) -> OfficeState:
    """The office without the owners and deletions of settled absences.

    An id the office has no date for (a document written before this reading) is dated today, so
    it is remembered a full `ABSENCE_MEMORY` from now on.
    """
    today = local_date(now)
    since = forgotten_before(today)
    ids = office.absence_owner.keys() | office.deleted_absences
    dated = office.remembered_from
    if all(i in dated and dated[i] >= since for i in ids) and len(dated) == len(ids):
        return office
    remembered = {i: dated.get(i, today) for i in ids}
    remembered = {i: day for i, day in remembered.items() if day >= since}
    return replaced(
        office,
        {
            "absence_owner": {k: v for k, v in office.absence_owner.items() if k in remembered},
            "deleted_absences": frozenset(i for i in office.deleted_absences if i in remembered),
            "remembered_from": remembered,
        },
    )
