"""What the adapter remembers: per office, and per (office, practitioner) pair.

State is immutable; the engine returns new values. It serialises to JSON (`to_json`/`from_json`)
so any store can keep it as an opaque blob.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator

from .calendar import local_date
from .events import Availability, BookablePractitioner, BookingView, ConsultationView, ServicesView, ServiceView
from .model import Instant, Practitioner, Process, Service, Source, Status


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        return cls.model_validate_json(text)


_M = TypeVar("_M", bound=BaseModel)
_new, _set = object.__new__, object.__setattr__  # a model's own are pydantic's (frozen: refuses)


def trusted(model: type[_M], /, **fields: Any) -> _M:
    """A model built from values already of exactly the types it holds, unchecked: what
    `model_construct` does, less its search for defaults and aliases (which cost more than the
    checks they replace), so every field must be given, by name, in the model's order. For the
    states this release builds from its own values on every fact (issue 14) and reads back from its
    own documents (`persisted`)."""
    instance = _new(model)
    _set(instance, "__dict__", fields)
    _set(instance, "__pydantic_fields_set__", _FIELDS_SET.get(model) or _fields_set(model))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


#: Every field of a model, as the fields set of all its instances built by `trusted`: one set per
#: model, not one per instance (a set of seven names is some 700 bytes, and a national replay keeps
#: thousands of states). Sharing it is safe: a frozen model's set is never changed in place
#: (`model_copy` changes a copy of it; `replaced` makes a new one when it adds a name).
_FIELDS_SET: dict[type[BaseModel], set[str]] = {}


def _fields_set(model: type[BaseModel]) -> set[str]:
    return _FIELDS_SET.setdefault(model, set(model.model_fields))


def replaced(model: _M, changes: Mapping[str, Any]) -> _M:
    """`model.model_copy(update=changes)` at a third of its cost: every fact applied copies its pair
    and facts several times (issue 14). The states have no extra fields and no private attributes,
    so their copy is their field values with `changes` over them, nothing else; like `model_copy`,
    nothing is checked (a test holds it to `model_copy`'s result, tests/domain/test_state_copies.py)."""
    instance = _new(type(model))
    _set(instance, "__dict__", {**model.__dict__, **changes})
    given = model.__pydantic_fields_set__
    _set(instance, "__pydantic_fields_set__", given if changes.keys() <= given else given | changes.keys())
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


class StatusReport(_State):
    """One applied report of one process: on or off as of `gen_date` (R1)."""

    gen_date: Instant
    msg_id: str
    on: bool
    #: Who reported it (EPJ or AR), for explanations; None in states stored before it was kept.
    source: Source | None = None

    @property
    def key(self) -> tuple[dt.datetime, str]:
        """R1's order: newest GenDate wins, equal GenDates are broken by the greater MsgId."""
        return (self.gen_date, self.msg_id)


#: How many reports of one process are kept verbatim; older ones are folded into a summary.
RECENT_REPORTS = 8


class ProcessHistory(_State):
    """What R1 and R4 still need to know of one process's reports, in bounded space (issue 10).

    R1 asks only for the report that wins; R4 asks only "was the process on at any instant since
    the midnight S". So:
    - `reports` holds the recent reports verbatim, in R1 order (the last one wins). Within a
      stretch of reports carrying the same status only some are kept: of an "on" stretch its
      first and last (a stretch on ends where the next "off" begins, whichever "on" came
      between), of an "off" stretch its first and the last of each Oslo day (R4 is asked at
      midnights only, so a late "on" landing between two kept ones holds into the same day as
      it would have in the full history). Every look-back then answers as the full history
      would, and repeated identical reports (hourly syncs) add nothing within a day, and nothing
      at all while on.
    - At most `RECENT_REPORTS` are kept; older ones are folded into `on_until`, the end of the
      latest stretch they held on (kept forever, so a run of absences of any length can look back
      on it, R3/R4), and `folded` is set.

    Two readings follow, both about reports arriving late (R1), and neither changes the current
    status (the last report is newer):
    - a late report older than the oldest verbatim one, once something was folded, cannot be
      placed: an "on" counts as on until its GenDate (`on_until` is raised to it), an "off"
      changes nothing;
    - a late report with exactly the GenDate of a dropped repeat, and a smaller MsgId, would by
      R1 never have held; placed between the kept reports it holds until the next one (the same
      day). GenDates carry seconds, so this needs two messages of one practitioner stamped in
      the same second, apart from the ones next to each other, which are always kept.
    """

    reports: tuple[StatusReport, ...] = ()
    on_until: Instant | None = None
    folded: bool = False

    def __len__(self) -> int:
        return len(self.reports)

    def __getitem__(self, index: int) -> StatusReport:
        return self.reports[index]


EMPTY_HISTORY = ProcessHistory()

#: Accepted wherever a history is asked for: a bare tuple of reports is a history without summary.
History = ProcessHistory | tuple[StatusReport, ...]


def _as_history(history: History) -> ProcessHistory:
    return history if isinstance(history, ProcessHistory) else ProcessHistory(reports=tuple(history))


def with_report(history: History, report: StatusReport) -> ProcessHistory:
    """R1: the history with one more report in its place; the same message again changes nothing."""
    history = _as_history(history)
    reports = history.reports
    if not reports or report.key > reports[-1].key:
        return _folded(history, _appended(reports, report))
    if history.folded and report.key < reports[0].key:
        if report.on and (history.on_until is None or report.gen_date > history.on_until):
            return replaced(history, {"on_until": report.gen_date})
        return history  # older than what is kept verbatim: see the class's docstring
    keys = [r.key for r in reports]
    at = bisect.bisect_left(keys, report.key)
    if at < len(keys) and keys[at] == report.key:
        return history  # the same message again (R12)
    return _folded(history, _compacted((*reports[:at], report, *reports[at:])))


def _day(instant: dt.datetime) -> dt.date:
    """The Oslo date whose midnight R4 can ask about last before `instant`: (midnight D, midnight D+1]."""
    return local_date(instant - _JUST_BEFORE)


_JUST_BEFORE = dt.timedelta(microseconds=1)


def _compacted(reports: tuple[StatusReport, ...]) -> tuple[StatusReport, ...]:
    """Keep the first report of each stretch of equal status and the last one of each of its days."""
    kept = []
    last = len(reports) - 1
    for index, report in enumerate(reports):
        first_of_stretch = index == 0 or reports[index - 1].on != report.on
        following = reports[index + 1] if index < last else None
        kept_for_r4 = (
            following is None
            or following.on != report.on  # the last of its stretch
            or (not report.on and _day(following.gen_date) != _day(report.gen_date))  # an "off": its day's last
            or following.gen_date == report.gen_date  # a tie is kept: R1 breaks it by MsgId
        )
        if first_of_stretch or kept_for_r4:
            kept.append(report)
    return tuple(kept)


def _appended(reports: tuple[StatusReport, ...], newest: StatusReport) -> tuple[StatusReport, ...]:
    """`_compacted((*reports, newest))` for compacted `reports` and a report newer than all of them:
    the common case (an hourly sync), decided in constant time whatever the history's length.

    Appending changes the neighbours of the last report only, so only it can drop out: when it is
    not the first of its stretch and `newest` continues that stretch (for an "off", on the same day)."""
    if not reports:
        return (newest,)
    last = reports[-1]
    first_of_stretch = len(reports) == 1 or reports[-2].on != last.on
    kept_for_r4 = (
        newest.on != last.on
        or (not last.on and _day(newest.gen_date) != _day(last.gen_date))
        or newest.gen_date == last.gen_date
    )
    return (*reports, newest) if first_of_stretch or kept_for_r4 else (*reports[:-1], newest)


def _folded(history: ProcessHistory, reports: tuple[StatusReport, ...]) -> ProcessHistory:
    """Fold the oldest reports beyond `RECENT_REPORTS` into the summary (R4 needs only its end)."""
    on_until, folded = history.on_until, history.folded
    while len(reports) > RECENT_REPORTS:
        oldest, successor = reports[0], reports[1]
        if oldest.on and successor.gen_date > oldest.gen_date and (on_until is None or successor.gen_date > on_until):
            on_until = successor.gen_date
        reports, folded = reports[1:], True
    return trusted(ProcessHistory, reports=reports, on_until=on_until, folded=folded)


def is_on(history: History) -> bool:
    """R1/R2: the status carried by the report that wins."""
    return bool(history) and history[-1].on


def was_on_since(history: History, start: dt.datetime) -> bool:
    """R4: on at any instant from `start` on, judged by GenDate.

    Report i holds from its GenDate until the next report's GenDate; a report followed by one with
    the same GenDate never held (it lost the tie). Folded reports answer through `on_until`.
    """
    return on_since(history, start) is not None


def on_since(history: History, start: dt.datetime) -> StatusReport | dt.datetime | None:
    """R4's evidence, for explanations: the newest report that held on at an instant from `start` on,
    or, when only the folded summary answers, the instant it held on until (`on_until`); None when
    the process was off all that time (`was_on_since` is exactly "not None")."""
    history = _as_history(history)
    end: dt.datetime | None = None
    for report in reversed(history.reports):
        if end is not None and end <= start:
            break
        if report.on and (end is None or end > report.gen_date):
            return report
        end = report.gen_date
    if history.on_until is not None and history.on_until > start:
        return history.on_until
    return None


class Absence(_State):
    """An absence registered in Tilpass Helsenorge; both dates are inclusive Oslo dates (R3)."""

    absence_id: str
    from_date: dt.date
    to_date: dt.date
    services: frozenset[Service]
    registered_at: Instant

    def same_content(self, other: Absence) -> bool:
        return (self.from_date, self.to_date, self.services) == (other.from_date, other.to_date, other.services)

    def overlaps(self, start: dt.date, end: dt.date | None) -> bool:
        return self.from_date <= (end or dt.date.max) and start <= self.to_date


class SubstitutePeriod(_State):
    """A substitute covering this practitioner at this office, from the behandleroversikt (R9)."""

    hpr: str
    name: str
    from_date: dt.date
    to_date: dt.date | None = None

    def covers(self, day: dt.date) -> bool:
        return self.from_date <= day and (self.to_date is None or day <= self.to_date)


class PairFacts(_State):
    """Everything known about one (office, practitioner): the input of the availability rules."""

    office_her_id: int
    practitioner_hpr: str
    listed: bool = True
    processes: dict[Process, ProcessHistory] = {}

    @field_validator("processes", mode="before")
    @classmethod
    def _histories(cls, value: object) -> object:
        """A bare tuple of reports (in R1 order) is a history that has folded nothing yet."""
        if isinstance(value, dict):
            return {k: ({"reports": v} if isinstance(v, (tuple, list)) else v) for k, v in value.items()}
        return value

    absences: dict[str, Absence] = {}
    substitutes: tuple[SubstitutePeriod, ...] = ()


def _nothing_offered() -> Availability:
    closed = ServiceView(status=Status.NOT_OFFERED, info_visible=False)
    return Availability(
        services=ServicesView(
            TIMEBESTILLING=BookingView(status=Status.NOT_OFFERED, info_visible=False),
            RESEPTFORNYELSE=closed,
            E_KONSULTASJON=ConsultationView(status=Status.NOT_OFFERED, info_visible=False, accepts_replies=False),
            KONTAKT_LEGEKONTORET=closed,
        ),
        panel_info_visible=False,
        substitute=None,
    )


#: What a practitioner nobody has told us anything about shows: nothing. The portal has never been
#: told otherwise, so it is the baseline the first change is measured against.
NOTHING_OFFERED = _nothing_offered()


class PairState(_State):
    """The facts plus what the portal was last told, so changes can be detected and numbered."""

    facts: PairFacts
    published: Availability = NOTHING_OFFERED
    sequence: int = 0
    warnings_sent: int = 0
    #: (absence id, substitute HPR) pairs already warned about (R9: once per pair).
    warned: frozenset[tuple[str, str]] = frozenset()
    #: For each TEMPORARILY_CLOSED service, the absence that ends its run (named by R10's warning).
    closed_by: dict[Service, str] = {}
    #: The instant the published availability holds for; the clock has been applied up to here.
    as_of: Instant | None = None

    @property
    def key(self) -> tuple[int, str]:
        return (self.facts.office_her_id, self.facts.practitioner_hpr)

    def to_json(self) -> str:
        """The stored form: a versioned document of its own (`persisted`), not this model's dump."""
        from .persisted import dump_pair

        return dump_pair(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """Any stored form this release knows, older versions migrated (`persisted`)."""
        from .persisted import load_pair

        return cls.model_validate(load_pair(text))


class OfficeState(_State):
    """What is known per office: its behandleroversikt and where its absences live."""

    her_id: int
    #: The office's name, from its latest behandleroversikt's sender (for the support console's search).
    name: str | None = None
    #: The latest behandleroversikt by HPR; None until one is received (or seeded from a directory).
    roster: dict[str, Practitioner] | None = None
    #: (GenDate, MsgId) of the behandleroversikt in `roster`: an older one is ignored (R1's order).
    roster_version: tuple[Instant, str] | None = None
    #: absence id -> the practitioner whose absence it is.
    absence_owner: dict[str, str] = {}
    #: absence ids deleted, known or not (R14: a later registration must not bring them back).
    deleted_absences: frozenset[str] = frozenset()
    #: The booking list last published (`office.practitioners.changed`) and its sequence; the empty
    #: list, sequence 0, is the baseline the portal starts from (`domain/booking.py`).
    booking: tuple[BookablePractitioner, ...] = ()
    booking_sequence: int = 0
    #: absence id (owned or deleted) -> the date its memory counts from: the absence's last date, or
    #: for a deletion the later of that and the day it was deleted. Forgotten `memory.ABSENCE_MEMORY`
    #: after it (issue 10).
    remembered_from: dict[str, dt.date] = {}

    def to_json(self) -> str:
        """The stored form: a versioned document of its own (`persisted`), not this model's dump."""
        from .persisted import dump_office

        return dump_office(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """Any stored form this release knows, older versions migrated (`persisted`)."""
        from .persisted import load_office

        return cls.model_validate(load_office(text))

    def is_listed(self, hpr: str | None) -> bool:
        """R13: the practitioner appears in the office's latest behandleroversikt."""
        return hpr is not None and self.roster is not None and hpr in self.roster
