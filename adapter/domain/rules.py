"""The availability rules R2–R8 and R11: what one pair shows on one date, and when that changes.

Availability depends on the instant only through its Oslo date, so it can change only at the
midnights where an absence or a substitute period starts or ends. Those are the only candidates
`next_change_after` has to look at.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from typing import Any

from .calendar import ONE_DAY, local_date, midnight
from .events import Availability, BookingView, ConsultationView, ServicesView, ServiceView, SubstituteView
from .model import SERVICE_PROCESSES, BookingMode, Process, Service, Status
from .remembered import SIZE, Remembered
from .state import NOTHING_OFFERED, Absence, PairFacts, is_on, was_on_since

#: R4: how many days before an absence run a service still counts as normally on.
NORMALLY_ON_LOOKBACK = dt.timedelta(days=30)


@dataclass(frozen=True)
class Run:
    """R3: consecutive dates covered for one service by absences that overlap or touch."""

    first: dt.date
    last: dt.date
    #: The absence covering `last` (the greatest id among equals): R10's warning names it.
    ending_absence: str

    @property
    def reopens_on(self) -> dt.date:
        return self.last + ONE_DAY


def run_containing(absences: dict[str, Absence], service: Service, day: dt.date) -> Run | None:
    """R3: the absence run for `service` that contains `day`, if any."""
    runs = absence_runs(absences)[service]
    at = bisect.bisect_right(runs, day, key=lambda run: run.first) - 1
    return runs[at] if at >= 0 and day <= runs[at].last else None


def absence_runs(absences: dict[str, Absence]) -> dict[Service, tuple[Run, ...]]:
    """R3: every run of every service, in date order (remembered per absence map: `remembered`)."""
    if (cached := _runs.get(absences)) is not None:
        return cached[0]
    runs: dict[Service, tuple[Run, ...]] = {}
    for service in Service:
        spans = sorted((a.from_date, a.to_date, a.absence_id) for a in absences.values() if service in a.services)
        found: list[Run] = []
        for start, end, absence_id in spans:
            if found and start <= found[-1].last + ONE_DAY:
                run = found[-1]
                if (end, absence_id) > (run.last, run.ending_absence):
                    found[-1] = Run(run.first, end, absence_id)
                continue
            found.append(Run(start, end, absence_id))
        runs[service] = tuple(found)
    return _runs.put(absences, None, runs)


_runs: Remembered[dict[Service, tuple[Run, ...]]] = Remembered()
_evaluations: Remembered[Evaluation] = Remembered()
_next_changes: Remembered[dt.datetime | None] = Remembered()


def service_on(facts: PairFacts, service: Service) -> bool:
    """R2: a service is on when at least one of its processes is on."""
    return any(is_on(facts.processes.get(p, ())) for p in SERVICE_PROCESSES[service])


def lookback_start(run: Run) -> dt.datetime:
    """R4: the instant from which being on counts, 30 Oslo days before the run's first date."""
    return midnight(run.first - NORMALLY_ON_LOOKBACK)  # date arithmetic: 30 Oslo days, DST or not


def _normally_on(facts: PairFacts, service: Service, run: Run) -> bool:
    """R4: on now, or on at any instant from 30 days before the run's first date."""
    since = lookback_start(run)
    return any(was_on_since(facts.processes.get(p, ()), since) for p in SERVICE_PROCESSES[service])


def booking_mode(facts: PairFacts) -> BookingMode | None:
    calendar = is_on(facts.processes.get(Process.TIMERESERVASJON, ()))
    request = is_on(facts.processes.get(Process.TIMEONSKE, ()))
    if calendar and request:
        return BookingMode.CALENDAR_AND_REQUEST
    if calendar:
        return BookingMode.CALENDAR
    if request:
        return BookingMode.REQUEST_ONLY
    return None


@dataclass(frozen=True)
class Evaluation:
    availability: Availability
    #: service -> the absence ending the run that closes it (only TEMPORARILY_CLOSED services).
    closed_by: dict[Service, str]


def evaluate(facts: PairFacts, instant: dt.datetime) -> Evaluation:
    """R2–R9: the complete availability of one pair at one instant. It depends on the instant only
    through its Oslo date, so it is remembered per (facts, date) (`remembered`)."""
    return _evaluation_on(facts, local_date(instant))


def _evaluation_on(facts: PairFacts, day: dt.date) -> Evaluation:
    if (cached := _evaluations.get(facts, day)) is not None:
        return cached[0]
    return _evaluations.put(facts, day, _evaluate(facts, day))


def _evaluate(facts: PairFacts, day: dt.date) -> Evaluation:
    if not facts.listed:
        return Evaluation(NOTHING_OFFERED, {})  # R16: a practitioner who left offers nothing
    statuses: dict[Service, tuple[Status, dt.date | None]] = {}
    closed_by: dict[Service, str] = {}
    for service in Service:
        run = run_containing(facts.absences, service, day)
        if run is not None and _normally_on(facts, service, run):
            statuses[service] = (Status.TEMPORARILY_CLOSED, run.reopens_on)
            closed_by[service] = run.ending_absence
        elif service_on(facts, service):
            statuses[service] = (Status.AVAILABLE, None)
        else:
            statuses[service] = (Status.NOT_OFFERED, None)

    mode = booking_mode(facts) if statuses[Service.TIMEBESTILLING][0] is Status.AVAILABLE else None
    accepts_replies = service_on(facts, Service.E_KONSULTASJON)  # R6: absence or not
    return Evaluation(
        _availability(tuple(statuses.values()), mode, accepts_replies, substitute_on(facts, day)), closed_by
    )


def _availability(
    statuses: tuple[tuple[Status, dt.date | None], ...],
    mode: BookingMode | None,
    accepts_replies: bool,
    substitute: SubstituteView | None,
) -> Availability:
    """The availability with these statuses (in `Service` order), built once per distinct content:
    at a midnight thousands of pairs close with the same date to reopen on, and an equal value
    that is the same object is also compared at once."""
    key = (statuses, mode, accepts_replies, substitute)
    if (known := _availabilities.get(key)) is not None:
        return known
    if len(_availabilities) >= SIZE:
        _availabilities.clear()

    def fields(service: Service) -> dict[str, Any]:
        status, reopens_on = statuses[_SERVICE_INDEX[service]]
        return {"status": status, "reopens_on": reopens_on, "info_visible": status is not Status.NOT_OFFERED}

    services = ServicesView(
        TIMEBESTILLING=BookingView(**fields(Service.TIMEBESTILLING), booking_mode=mode),
        RESEPTFORNYELSE=ServiceView(**fields(Service.RESEPTFORNYELSE)),
        E_KONSULTASJON=ConsultationView(**fields(Service.E_KONSULTASJON), accepts_replies=accepts_replies),
        KONTAKT_LEGEKONTORET=ServiceView(**fields(Service.KONTAKT_LEGEKONTORET)),
    )
    availability = Availability(
        services=services,
        panel_info_visible=any(status is not Status.NOT_OFFERED for status, _ in statuses),  # R8
        substitute=substitute,
    )
    _availabilities[key] = availability
    return availability


_SERVICE_INDEX = {service: index for index, service in enumerate(Service)}
_availabilities: dict[tuple[object, ...], Availability] = {}


def substitute_on(facts: PairFacts, day: dt.date) -> SubstituteView | None:
    """R9: the substitute covering the practitioner on `day` (the earliest-starting one)."""
    covering = [p for p in facts.substitutes if p.covers(day)]
    if not covering:
        return None
    period = min(covering, key=lambda p: (p.from_date, p.hpr))
    return SubstituteView(hpr=period.hpr, name=period.name, from_date=period.from_date, to_date=period.to_date)


def _boundaries(facts: PairFacts) -> set[dt.date]:
    """The dates at whose midnight time alone may change the availability (R11)."""
    dates: set[dt.date] = set()
    for absence in facts.absences.values():
        dates.add(absence.from_date)
        dates.add(absence.to_date + ONE_DAY)
    for period in facts.substitutes:
        dates.add(period.from_date)
        if period.to_date is not None:
            dates.add(period.to_date + ONE_DAY)
    return dates


def next_change_after(facts: PairFacts, instant: dt.datetime) -> dt.datetime | None:
    """R11: the first instant after `instant` at which time alone changes the availability.

    A clock tick asks it for the same facts as of the same date more than once (the change after
    the one due, then the store's due index as the pair is written), so it is remembered per
    (facts, Oslo date) (`remembered`): the answer depends on the instant only through its date."""
    today = local_date(instant)
    if (cached := _next_changes.get(facts, today)) is not None:
        return cached[0]
    return _next_changes.put(facts, today, _next_change_after(facts, today))


def _next_change_after(facts: PairFacts, today: dt.date) -> dt.datetime | None:
    if not facts.listed:
        return None
    ahead = sorted(d for d in _boundaries(facts) if d > today)
    if not ahead:
        return None  # no absence or substitute period starts or ends later: time changes nothing
    current = _evaluation_on(facts, today).availability
    for day in ahead:
        then = _evaluation_on(facts, day).availability
        if then is not current and then != current:  # equal content is mostly the same object
            return midnight(day)
    return None
