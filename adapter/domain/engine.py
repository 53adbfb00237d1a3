"""Applying one fact — a command or the clock passing an instant — to the state, purely.

Every entry point takes the current state, the fact and the instant it is processed at (`now`),
and returns an `Outcome`: the states to save, the events to publish, or a rejection. Time-driven
changes due before `now` are applied first, in time order (R11), so a pair never skips a change.

Readings of the rules where DOMAIN.md leaves room:
- R1/R4, bounded history (issue 10): per process, the recent reports are kept verbatim in R1
  order, repeats compacted where no look-back can tell (see `state.ProcessHistory`), at most
  `state.RECENT_REPORTS` of them; older ones are folded into the end of their latest stretch on,
  kept forever, so a run of absences of any length (R3 chains them) still sees what was on
  before it. A pair's state and the work per message are bounded whatever its history. A late
  report older than the oldest one kept verbatim is placed approximately: an "on" counts as on
  until its GenDate, an "off" changes nothing; neither changes the current status.
- R10: the warning is published when a service goes from TEMPORARILY_CLOSED to NOT_OFFERED and
  no absence covers it on that day any more (the run ended at midnight, or its absences were
  deleted, shortened or moved). A service that stops counting as normally on (R4) while its
  run still covers the day goes to NOT_OFFERED without it. A practitioner who left (R16) is not
  warned about.
- R9: the warning is published when the overlap becomes known (registration or roster), once
  per (absence, substitute).
- R14: "later" is by `registered_at`; an equal `registered_at` with other content replaces.
- R3/R9/R14, bounded memory of absences (issue 10, `memory`): an absence is settled
  `memory.ABSENCE_MEMORY` (R14's longest absence plus R4's 30 days) after its last date. No single
  later registration (at most 366 days) can chain a settled absence into a run that reaches today,
  so the pair forgets it once its runs have ended that long ago too, and the office forgets its
  owner. Registering a settled absence changes nothing; deleting one is remembered like an
  unknown id. R9's "once per (absence, substitute)" holds while the absence stays with its
  practitioner: deleted, moved away or forgotten, its warnings are forgotten with it. A deletion is
  remembered (R14) for `memory.ABSENCE_MEMORY` after the later of its processing day and the
  absence's last date; a registration of the id arriving after that counts as new. Exactness is
  given up only for chains of several absences registered long after their dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from .calendar import local_date
from .events import (
    CLOCK,
    Availability,
    AvailabilityChanged,
    AvailabilityWarning,
    Cause,
    DialogueClosed,
    Event,
    WarningCode,
)
from .memory import forget_in_office, forget_in_pair, is_settled
from .model import (
    CLOSING_CODES,
    MAX_ABSENCE_DAYS,
    PROCESSES,
    SERVICE_LABELS,
    TEMA_CODE_SYSTEM,
    DeleteAbsence,
    DialogueNote,
    MessageRef,
    RegisterAbsence,
    ReplaceRoster,
    ReportServiceStatus,
    Role,
    Service,
    Status,
)
from .persisted import load_published
from .rejections import Refusal, Rejection
from .remembered import Remembered
from .rules import evaluate, next_change_after, run_containing
from .state import (
    EMPTY_HISTORY,
    NOTHING_OFFERED,
    Absence,
    OfficeState,
    PairFacts,
    PairState,
    StatusReport,
    SubstitutePeriod,
    replaced,
    trusted,
    with_report,
)

#: R1: how far a GenDate may lie ahead of the adapter's clock.
MAX_CLOCK_SKEW = dt.timedelta(minutes=10)


def clock_refusal(message: MessageRef, now: dt.datetime) -> Rejection | None:
    """R1: a GenDate more than 10 minutes ahead of the clock would pin the status against every later
    message. Every command that carries a MsgHead passes here, and nowhere else decides it."""
    if message.gen_date - now > MAX_CLOCK_SKEW:
        return Rejection(Refusal.GEN_DATE_AHEAD)
    return None


@dataclass(frozen=True)
class Outcome:
    """The result of applying one fact: what to save and what to publish, in order."""

    office: OfficeState | None = None
    pairs: tuple[PairState, ...] = ()
    events: tuple[Event, ...] = ()
    rejection: Rejection | None = None
    #: conversation refs to remember as closed (R7).
    closed_conversations: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.rejection is None


def rejected(refusal: Refusal) -> Outcome:
    """A refusal whose meaning says it all; one with a detail is built where the detail is known."""
    return Outcome(rejection=Rejection(refusal))


# ---------------------------------------------------------------------------------------------
# Pairs: publishing changes and advancing the clock
# ---------------------------------------------------------------------------------------------


def new_pair(office: OfficeState, hpr: str) -> PairState:
    """A pair nobody has told us anything about yet, with what the office roster says of it."""
    facts = trusted(
        PairFacts,
        office_her_id=office.her_id,
        practitioner_hpr=hpr,
        listed=True,
        processes={},
        absences={},
        substitutes=(),
    )
    return trusted(
        PairState,
        facts=_with_roster(facts, office),
        published=NOTHING_OFFERED,
        sequence=0,
        warnings_sent=0,
        warned=frozenset(),
        closed_by={},
        as_of=None,
    )


def _with_roster(facts: PairFacts, office: OfficeState) -> PairFacts:
    roster = office.roster or {}
    periods = tuple(
        SubstitutePeriod(hpr=p.hpr, name=p.name, from_date=p.covers.from_date, to_date=p.covers.to_date)
        for p in roster.values()
        if p.role == Role.VIKAR_FOR_FASTLEGE and p.covers is not None and p.covers.gp_hpr == facts.practitioner_hpr
    )
    return replaced(facts, {"listed": facts.practitioner_hpr in roster, "substitutes": periods})


@dataclass
class _Changes:
    """Accumulates one pair's new state and events while a fact is applied."""

    pair: PairState
    events: list[Event] = field(default_factory=list)

    def publish(self, at: dt.datetime, cause: Cause) -> None:
        """R12: tell the portal the complete availability, if anything in it changed."""
        pair = self.pair
        evaluation = evaluate(pair.facts, at)
        as_of = at if pair.as_of is None else max(pair.as_of, at)
        if evaluation.availability is pair.published or evaluation.availability == pair.published:
            self.pair = replaced(pair, {"as_of": as_of, "closed_by": evaluation.closed_by})
            return
        office, hpr = pair.key
        sequence = pair.sequence + 1
        availability = evaluation.availability
        self.events.append(
            trusted(  # the engine's own values, of the event's types: not checked again (issue 14)
                AvailabilityChanged,
                type="availability.changed",
                event_id=f"{office}-{hpr}-{sequence}",
                office_her_id=office,
                practitioner_hpr=hpr,
                sequence=sequence,
                effective_at=at,
                changed=availability.changed_services(pair.published),
                services=availability.services,
                panel_info_visible=availability.panel_info_visible,
                substitute=availability.substitute,
                caused_by=cause,
            )
        )
        warnings_sent = pair.warnings_sent
        if pair.facts.listed:  # R10, not R16: a practitioner who left is not warned about
            day = local_date(at)
            for service in Service:
                before = pair.published.services.of(service).status
                if (
                    before is Status.TEMPORARILY_CLOSED
                    and availability.services.of(service).status is Status.NOT_OFFERED
                    and run_containing(pair.facts.absences, service, day) is None  # the run has ended
                ):
                    warnings_sent += 1
                    self.events.append(
                        _warning(
                            pair,
                            warnings_sent,
                            WarningCode.SERVICE_STILL_OFF_AFTER_ABSENCE,
                            at,
                            still_off_text(service),
                            service=service,
                            absence_id=pair.closed_by.get(service),
                        )
                    )
        self.pair = replaced(
            pair,
            {
                "published": availability,
                "sequence": sequence,
                "warnings_sent": warnings_sent,
                "closed_by": evaluation.closed_by,
                "as_of": as_of,
            },
        )

    def advance(self, now: dt.datetime) -> None:
        """R11: publish every time-driven change due at or before `now`, in time order."""
        if self.pair.as_of is None:
            self.pair = replaced(self.pair, {"as_of": now})
            return
        while (due := next_change_after(self.pair.facts, self.pair.as_of)) is not None and due <= now:
            self.publish(due, CLOCK)
        if now > self.pair.as_of:
            self.pair = replaced(self.pair, {"as_of": now})

    def apply(self, facts: PairFacts, now: dt.datetime, cause: Cause) -> None:
        """Catch up with the clock, then let the new facts take effect now (R11)."""
        self.advance(now)
        self.pair = replaced(self.pair, {"facts": facts})
        self.publish(max(now, self.pair.as_of or now), cause)
        self.warn_absence_over_substitute(now)
        self.pair = forget_in_pair(self.pair)

    def warn_absence_over_substitute(self, now: dt.datetime) -> None:
        """R9: an absence inside a substitute period still closes the services; say so, once."""
        pair = self.pair
        if not pair.facts.listed:
            return
        warned, count = set(pair.warned), pair.warnings_sent
        for absence in sorted(pair.facts.absences.values(), key=lambda a: (a.from_date, a.absence_id)):
            for period in pair.facts.substitutes:
                if (absence.absence_id, period.hpr) in warned or not absence.overlaps(period.from_date, period.to_date):
                    continue
                warned.add((absence.absence_id, period.hpr))
                count += 1
                self.events.append(
                    _warning(
                        pair,
                        count,
                        WarningCode.ABSENCE_OVERRIDES_SUBSTITUTE,
                        now,
                        overrides_substitute_text(absence, period),
                        absence_id=absence.absence_id,
                        substitute_hpr=period.hpr,
                    )
                )
        if count != pair.warnings_sent:
            self.pair = replaced(pair, {"warned": frozenset(warned), "warnings_sent": count})


def still_off_text(service: Service) -> str:
    """R10's warning, as the GP reads it."""
    return f"Fraværet er slutt, men {SERVICE_LABELS[service].name} er fortsatt skrudd av i journalsystemet."


def overrides_substitute_text(absence: Absence, period: SubstitutePeriod) -> str:
    """R9's warning, as the GP reads it."""
    return (
        f"Fraværet {absence.from_date:%d.%m.%Y}–{absence.to_date:%d.%m.%Y} stenger tjenestene, "
        f"selv om {period.name} er vikar for fastlegen i perioden. "
        "Med vikar skal det ikke registreres fravær."
    )


def _warning(
    pair: PairState,
    number: int,
    code: WarningCode,
    at: dt.datetime,
    text: str,
    *,
    service: Service | None = None,
    absence_id: str | None = None,
    substitute_hpr: str | None = None,
) -> AvailabilityWarning:
    """A warning to the GP (R9, R10); numbered per pair, so its id is stable across replays."""
    office, hpr = pair.key
    return AvailabilityWarning(
        event_id=f"{office}-{hpr}-w-{number}",
        code=code.value,
        office_her_id=office,
        practitioner_hpr=hpr,
        service=service,
        absence_id=absence_id,
        substitute_hpr=substitute_hpr,
        effective_at=at,
        text=text,
    )


def tick(pair: PairState, now: dt.datetime) -> tuple[PairState, list[Event]]:
    """The clock passes `now`: publish every time-driven change due by then (R11).

    Remembered per (pair, instant) (`remembered`): at a midnight the booking list ticks every
    pair of the office on a copy (`booking.booking_list_at`), and then each pair's own tick asks
    the same of the same state."""
    if (cached := _ticks.get(pair, now)) is None:
        changes = _Changes(pair)
        changes.advance(now)
        cached = (_ticks.put(pair, now, (forget_in_pair(changes.pair), tuple(changes.events))),)
    ticked, events = cached[0]
    return ticked, list(events)


_ticks: Remembered[tuple[PairState, tuple[Event, ...]]] = Remembered()


def published_at(pair: PairState, now: dt.datetime) -> Availability:
    """What the pair shows at `now`: `tick(pair, now)[0].published`, without ticking a copy when no
    time-driven change is due by then (R11: what was last published holds). The booking list asks
    this of every pair of an office, per item, each at its own instant (issue 14)."""
    if not due_by(next_change(pair), now):
        return pair.published
    return tick(pair, now)[0].published


def stored_at(text: str, next_change_at: dt.datetime | None, now: dt.datetime) -> tuple[Availability, int]:
    """A stored pair's availability at `now` and the sequence of the event carrying it, read as
    cheaply as it can be: only a pair whose next change is due by `now` (the store's
    `next_change_at`, which the writer keeps) is parsed whole and ticked on a copy (R11);
    otherwise what was last published holds, and only that part of the text is read."""
    if due_by(next_change_at, now):
        ticked, _ = tick(PairState.from_json(text), now)
        return ticked.published, ticked.sequence
    return load_published(text)


def due_by(next_change_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a pair whose next change is `next_change_at` has one due by `now` (R11): only then
    can time alone have changed what it shows since it was last published."""
    return next_change_at is not None and next_change_at <= now


def next_change(pair: PairState) -> dt.datetime | None:
    """When the clock must next look at this pair; None when time alone changes nothing."""
    if pair.as_of is None:
        return None
    return next_change_after(pair.facts, pair.as_of)


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def pairs_needed(office: OfficeState, command: object) -> set[str]:
    """The practitioners whose pair state `apply` needs for this command (load them first)."""
    if isinstance(command, ReportServiceStatus):
        return {command.practitioner_hpr}
    if isinstance(command, RegisterAbsence):
        owner = office.absence_owner.get(command.absence_id)
        return {command.practitioner_hpr} | ({owner} if owner else set())
    if isinstance(command, DeleteAbsence):
        owner = office.absence_owner.get(command.absence_id)
        return {owner} if owner else set()
    if isinstance(command, ReplaceRoster):
        hprs = set((office.roster or {}).keys())
        for roster in (office.roster or {}).values(), command.practitioners:
            for p in roster:
                hprs.add(p.hpr)
                if p.covers is not None:
                    hprs.add(p.covers.gp_hpr)
        return hprs
    return set()


def apply(
    office: OfficeState,
    pairs: Mapping[str, PairState],
    command: ReportServiceStatus | ReplaceRoster | RegisterAbsence | DeleteAbsence,
    now: dt.datetime,
) -> Outcome:
    """Apply one command to an office and the pairs `pairs_needed` named (missing ones are new)."""
    if isinstance(command, ReportServiceStatus):
        return _report_status(office, pairs, command, now)
    office = forget_in_office(office, now)  # what it notes of absences, before it changes (`memory`)
    if isinstance(command, ReplaceRoster):
        return _replace_roster(office, pairs, command, now)
    if isinstance(command, RegisterAbsence):
        return _register_absence(office, pairs, command, now)
    if isinstance(command, DeleteAbsence):
        return _delete_absence(office, pairs, command, now)
    raise TypeError(f"not a command the engine applies: {type(command).__name__}")


def _pair(office: OfficeState, pairs: Mapping[str, PairState], hpr: str) -> PairState:
    return pairs.get(hpr) or new_pair(office, hpr)


def _report_status(
    office: OfficeState, pairs: Mapping[str, PairState], command: ReportServiceStatus, now: dt.datetime
) -> Outcome:
    message = command.message
    if (too_early := clock_refusal(message, now)) is not None:
        return Outcome(rejection=too_early)
    if not office.is_listed(command.practitioner_hpr):
        return rejected(Refusal.PRACTITIONER_NOT_LISTED)
    changes = _Changes(_pair(office, pairs, command.practitioner_hpr))
    processes = dict(changes.pair.facts.processes)
    for process in PROCESSES:
        on = command.statuses.get(process)
        if on is None and not command.complete:
            continue  # R1: a partial report leaves the other processes as they are
        report = trusted(
            StatusReport, gen_date=message.gen_date, msg_id=message.msg_id, on=bool(on), source=command.source
        )
        processes[process] = with_report(processes.get(process, EMPTY_HISTORY), report)
    facts = replaced(changes.pair.facts, {"processes": processes})
    changes.apply(facts, now, Cause(kind="message", id=message.msg_id))
    return Outcome(pairs=(changes.pair,), events=tuple(changes.events))


def _replace_roster(
    office: OfficeState, pairs: Mapping[str, PairState], command: ReplaceRoster, now: dt.datetime
) -> Outcome:
    if (too_early := clock_refusal(command.message, now)) is not None:  # R1: would pin the list
        return Outcome(rejection=too_early)
    version = (command.message.gen_date, command.message.msg_id)
    if office.roster_version is not None and version <= office.roster_version:
        return Outcome()  # an older list arriving late changes nothing (R1's order)
    new_office = replaced(
        office,
        {
            "roster": {p.hpr: p for p in command.practitioners},
            "roster_version": version,
            "name": command.office_name or office.name,
        },
    )
    cause = Cause(kind="message", id=command.message.msg_id)
    saved: list[PairState] = []
    events: list[Event] = []
    for hpr in sorted(pairs_needed(office, command)):
        existing = pairs.get(hpr)
        changes = _Changes(existing or new_pair(office, hpr))
        changes.apply(_with_roster(changes.pair.facts, new_office), now, cause)  # R9, R16
        if existing is not None or changes.events or changes.pair.facts.substitutes:
            saved.append(changes.pair)
            events.extend(changes.events)
    return Outcome(office=new_office, pairs=tuple(saved), events=tuple(events))


def validate_absence(command: RegisterAbsence) -> Rejection | None:
    """R14: from ≤ to, at least one service, at most 366 days."""
    if command.from_date > command.to_date:
        return Rejection(Refusal.ABSENCE_FROM_AFTER_TO, f"from {command.from_date} is after to {command.to_date} (R14)")
    if not command.services:
        return Rejection(Refusal.ABSENCE_WITHOUT_SERVICES)
    days = (command.to_date - command.from_date).days + 1
    if days > MAX_ABSENCE_DAYS:
        return Rejection(Refusal.ABSENCE_TOO_LONG, f"{days} days; at most {MAX_ABSENCE_DAYS}, both ends counted (R14)")
    return None


def _register_absence(
    office: OfficeState, pairs: Mapping[str, PairState], command: RegisterAbsence, now: dt.datetime
) -> Outcome:
    if (invalid := validate_absence(command)) is not None:
        return Outcome(rejection=invalid)
    if not office.is_listed(command.registered_by_hpr):
        return rejected(Refusal.REGISTERED_BY_UNLISTED)
    if not office.is_listed(command.practitioner_hpr):
        return rejected(Refusal.ABSENCE_FOR_UNLISTED)
    if command.absence_id in office.deleted_absences:
        return Outcome()  # R14: deleted before; a late registration does not bring it back
    if is_settled(command.to_date, now):
        return Outcome()  # long over: it can change no answer any more (`memory`)
    absence = Absence(
        absence_id=command.absence_id,
        from_date=command.from_date,
        to_date=command.to_date,
        services=command.services,
        registered_at=command.registered_at,
    )
    cause = Cause(kind="absence", id=command.absence_id)
    owner = office.absence_owner.get(command.absence_id)
    saved: list[PairState] = []
    events: list[Event] = []
    if owner is not None:
        previous = _pair(office, pairs, owner).facts.absences.get(command.absence_id)
        same_again = owner == command.practitioner_hpr and previous is not None and previous.same_content(absence)
        if same_again or (previous is not None and previous.registered_at > absence.registered_at):
            return Outcome()  # R14: the same again, or older than what replaced it
        if owner != command.practitioner_hpr:  # moved to another practitioner: leaves the first
            changes = _Changes(_pair(office, pairs, owner))
            remaining = {k: v for k, v in changes.pair.facts.absences.items() if k != command.absence_id}
            changes.apply(replaced(changes.pair.facts, {"absences": remaining}), now, cause)
            saved.append(changes.pair)
            events.extend(changes.events)
    changes = _Changes(_pair(office, pairs, command.practitioner_hpr))
    absences = {**changes.pair.facts.absences, command.absence_id: absence}
    changes.apply(replaced(changes.pair.facts, {"absences": absences}), now, cause)
    saved.append(changes.pair)
    events.extend(changes.events)
    new_office = replaced(
        office,
        {
            "absence_owner": {**office.absence_owner, command.absence_id: command.practitioner_hpr},
            "remembered_from": {**office.remembered_from, command.absence_id: command.to_date},
        },
    )
    return Outcome(office=new_office, pairs=tuple(saved), events=tuple(events))


def _delete_absence(
    office: OfficeState, pairs: Mapping[str, PairState], command: DeleteAbsence, now: dt.datetime
) -> Outcome:
    if not office.is_listed(command.deleted_by_hpr):
        return rejected(Refusal.DELETED_BY_UNLISTED)
    if command.absence_id in office.deleted_absences:
        return Outcome()
    today = local_date(now)
    new_office = replaced(
        office,
        {
            "absence_owner": {k: v for k, v in office.absence_owner.items() if k != command.absence_id},
            "deleted_absences": office.deleted_absences | {command.absence_id},
            "remembered_from": {
                **office.remembered_from,
                command.absence_id: max(today, office.remembered_from.get(command.absence_id, today)),
            },
        },
    )
    owner = office.absence_owner.get(command.absence_id)
    if owner is None:
        return Outcome(office=new_office)  # R14: unknown, remembered
    changes = _Changes(_pair(office, pairs, owner))
    remaining = {k: v for k, v in changes.pair.facts.absences.items() if k != command.absence_id}
    changes.apply(
        replaced(changes.pair.facts, {"absences": remaining}),
        now,
        Cause(kind="absence", id=command.absence_id),
    )
    return Outcome(office=new_office, pairs=(changes.pair,), events=tuple(changes.events))


def note_dialogue(office: OfficeState, command: DialogueNote, already_closed: bool, now: dt.datetime) -> Outcome:
    """R7: a note coded 13 or 27 (code list 7602) closes its conversation, once."""
    if (too_early := clock_refusal(command.message, now)) is not None:
        return Outcome(rejection=too_early)
    if command.practitioner_hpr is not None and not office.is_listed(command.practitioner_hpr):
        return rejected(Refusal.PRACTITIONER_NOT_LISTED)
    code = command.code
    closes = code is not None and code in CLOSING_CODES and command.code_system in (None, TEMA_CODE_SYSTEM)
    if code is None or not closes or already_closed:
        return Outcome()
    event = DialogueClosed(
        event_id=f"{office.her_id}-{command.conversation_ref}",
        office_her_id=office.her_id,
        practitioner_hpr=command.practitioner_hpr,
        service=command.service,
        conversation_ref=command.conversation_ref,
        code=code,
        closed_at=command.message.gen_date,
    )
    return Outcome(events=(event,), closed_conversations=(command.conversation_ref,))
