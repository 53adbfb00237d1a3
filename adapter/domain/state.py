"""What the adapter remembers: per office, and per (office, practitioner) pair.

State is immutable; the engine returns new values. It serialises to JSON (`to_json`/`from_json`)
so any store can keep it as an opaque blob.
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import Self

from pydantic import BaseModel, ConfigDict

from .events import Availability, BookingView, ConsultationView, ServicesView, ServiceView
from .model import Instant, Practitioner, Process, Service, Status


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        return cls.model_validate_json(text)


class StatusReport(_State):
    """One applied report of one process: on or off as of `gen_date` (R1)."""

    gen_date: Instant
    msg_id: str
    on: bool

    @property
    def key(self) -> tuple[dt.datetime, str]:
        """R1's order: newest GenDate wins, equal GenDates are broken by the greater MsgId."""
        return (self.gen_date, self.msg_id)


#: A process's reports in R1 order. Late reports are kept in their place: they do not change the
#: current status (the last report), but they are part of the history R4 looks back on, which
#: makes the outcome independent of arrival order.
History = tuple[StatusReport, ...]


def with_report(history: History, report: StatusReport) -> History:
    keys = [r.key for r in history]
    at = bisect.bisect_left(keys, report.key)
    if at < len(keys) and keys[at] == report.key:
        return history  # the same message again (R12)
    return (*history[:at], report, *history[at:])


def pruned(history: History, before: dt.datetime) -> History:
    """Forget reports that no R4 window can reach: those superseded before `before`.

    The last report before `before` stays (it says what held at that instant), so the current
    status and every look-back from `before` on are unchanged, whatever order reports came in.
    """
    keep_from = 0
    for index, report in enumerate(history):
        if report.gen_date >= before:
            break
        keep_from = index
    return history[keep_from:] if keep_from else history


def is_on(history: History) -> bool:
    """R1/R2: the status carried by the report that wins."""
    return bool(history) and history[-1].on


def was_on_since(history: History, start: dt.datetime) -> bool:
    """R4: on at any instant from `start` on, judged by GenDate.

    Report i holds from its GenDate until the next report's GenDate; a report followed by one with
    the same GenDate never held (it lost the tie).
    """
    end: dt.datetime | None = None
    for report in reversed(history):
        if end is not None and end <= start:
            return False
        if report.on and (end is None or end > report.gen_date):
            return True
        end = report.gen_date
    return False


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
    processes: dict[Process, History] = {}
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


class OfficeState(_State):
    """What is known per office: its behandleroversikt and where its absences live."""

    her_id: int
    #: The latest behandleroversikt by HPR; None until one is received (or seeded from a directory).
    roster: dict[str, Practitioner] | None = None
    #: (GenDate, MsgId) of the behandleroversikt in `roster`: an older one is ignored (R1's order).
    roster_version: tuple[Instant, str] | None = None
    #: absence id -> the practitioner whose absence it is.
    absence_owner: dict[str, str] = {}
    #: absence ids deleted, known or not (R14: a later registration must not bring them back).
    deleted_absences: frozenset[str] = frozenset()

    def is_listed(self, hpr: str | None) -> bool:
        """R13: the practitioner appears in the office's latest behandleroversikt."""
        return hpr is not None and self.roster is not None and hpr in self.roster
