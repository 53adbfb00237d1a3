"""Why one pair shows what it shows at one instant, in plain Norwegian, rule by rule (issue 13).

`explain` answers the customer centre's question "why can't my patients book?" from the same facts
and the same functions `evaluate` uses (`run_containing`, `lookback_start`, `service_on`,
`substitute_on`, `state.on_since`), so an explanation cannot disagree with the status: each
`ServiceExplanation.status` is `evaluate`'s, and its reasons cite the facts behind it — the process
reports (source, MsgId, GenDate) that make a service on or off (R1, R2), the absences that form the
run closing it and when it reopens (R3), the report that makes it count as normally on (R4), why
replies are or are not accepted (R6, R7), the information messages (R8), the substitute (R9), the
warnings (R9, R10) and the roster (R13, R16).

Readings:
- The explanation is of `evaluate(facts, instant)`: facts learnt after `instant` (a report with a
  later GenDate) count as they do for `evaluate`. For "what did citizens see then", explain
  `known_at(facts, instant)`: the facts as they stood at that instant, as far as the state can
  tell (see its docstring for what it cannot).
- R9's warning applies while its absence is not over at the instant; with a pair state, whether it
  was sent is said too (`PairState.warned`).
- R10's warning applies to a service that is NOT_OFFERED at the instant while the latest absence run
  that ended before that day had it TEMPORARILY_CLOSED on its last day: the run ended and the
  service is still off, as long as it stays off. A run that ended because its absences were
  deleted is not in the state any more; its warning is on the pair's timeline only.

No personal data: the facts hold none; practitioners and substitutes are named by HPR and name.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .calendar import local_date, midnight, norwegian_date, norwegian_instant
from .engine import overrides_substitute_text, still_off_text
from .model import CLOSING_CODES, SERVICE_LABELS, SERVICE_PROCESSES, Process, Service, Source, Status
from .rules import Run, evaluate, lookback_start, run_containing, service_on, substitute_on
from .state import Absence, PairFacts, PairState, ProcessHistory, StatusReport, on_since


@dataclass(frozen=True)
class Reason:
    """One reason, citing its rule and, when it rests on a fact with a time, that instant."""

    rule: str
    text: str
    at: dt.datetime | None = None


@dataclass(frozen=True)
class ServiceExplanation:
    """Why one service has its status: always `evaluate`'s status, with the reasons for it."""

    service: Service
    status: Status
    reopens_on: dt.date | None
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class PairExplanation:
    """Why one (office, practitioner) shows what it shows at `instant`."""

    instant: dt.datetime
    services: dict[Service, ServiceExplanation]
    #: R8: why the fastlegepanel's information message is (not) visible.
    panel: tuple[Reason, ...]
    #: R9: which substitute is shown and why, or why none.
    substitute: tuple[Reason, ...]
    #: R9/R10: the warnings that apply at the instant.
    warnings: tuple[Reason, ...]
    #: R13/R16: on the office's behandleroversikt, or left.
    listed: tuple[Reason, ...]


#: What a citizen sees of a service, in the words of the fastlegepanel (R5). Every explanation's
#: last reason for a service names it.
STATUS_TEXT: dict[Status, str] = {
    Status.AVAILABLE: "vises og kan brukes",
    Status.TEMPORARILY_CLOSED: "vises som midlertidig stengt",
    Status.NOT_OFFERED: "vises ikke",
}

#: R8: a service's own information message shows exactly when the service does.
INFO_TEXT: dict[bool, str] = {
    True: "Informasjonsmeldingen for tjenesten vises, fordi tjenesten vises.",
    False: "Informasjonsmeldingen for tjenesten vises ikke, fordi tjenesten ikke vises.",
}

#: Where a process report came from, in running text.
SOURCE_TEXT: dict[Source, str] = {
    Source.EPJ: "i journalsystemet (EPJ",
    Source.AR: "i Adresseregisteret (AR",
}


def explain(facts: PairFacts, instant: dt.datetime, pair: PairState | None = None) -> PairExplanation:
    """Why `evaluate(facts, instant)` says what it says, for every service, the panel and the pair."""
    availability = evaluate(facts, instant).availability
    day = local_date(instant)
    services: dict[Service, ServiceExplanation] = {}
    for service in Service:
        view = availability.services.of(service)
        reasons = _left(facts) if not facts.listed else _service_reasons(facts, service, day)
        info = Reason("R8", INFO_TEXT[view.info_visible])
        closing = Reason("R5", _status_sentence(service, view.status, view.reopens_on))
        services[service] = ServiceExplanation(service, view.status, view.reopens_on, (*reasons, info, closing))
    shown = [SERVICE_LABELS[s].button for s in Service if services[s].status is not Status.NOT_OFFERED]
    return PairExplanation(
        instant=instant,
        services=services,
        panel=_panel(facts, shown),
        substitute=_substitute(facts, day),
        warnings=_warnings(facts, day, pair, {s: e.status for s, e in services.items()}),
        listed=_left(facts) if not facts.listed else (_listed_reason(facts),),
    )


def known_at(facts: PairFacts, instant: dt.datetime) -> PairFacts:
    """The facts as they stood at `instant`, for looking back: reports with a later GenDate (R1's
    time) and absences registered later are left out.

    As far as the state can tell, and no further: it keeps no deleted absences and no earlier
    behandleroversikt, so an absence deleted since, a substitute period or a listing that changed
    since, count as they are now; and a process's folded reports (older than the ones it keeps,
    `ProcessHistory`) answer only "on until", which is cut at `instant`.
    """
    processes: dict[Process, ProcessHistory] = {}
    for process, history in facts.processes.items():
        on_until = history.on_until if history.on_until is None else min(history.on_until, instant)
        kept = tuple(r for r in history.reports if r.gen_date <= instant)
        processes[process] = ProcessHistory(reports=kept, on_until=on_until, folded=history.folded)
    absences = {k: a for k, a in facts.absences.items() if a.registered_at <= instant}
    return facts.model_copy(update={"processes": processes, "absences": absences})


# ---------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------


def _service_reasons(facts: PairFacts, service: Service, day: dt.date) -> list[Reason]:
    label = SERVICE_LABELS[service].button
    reasons = [_report_reason(process, facts.processes.get(process)) for process in SERVICE_PROCESSES[service]]
    on = service_on(facts, service)
    if len(SERVICE_PROCESSES[service]) > 1:
        reasons.append(
            Reason(
                "R2",
                f"{label} er på i EPJ/AR fordi minst én av prosessene bak tjenesten er på."
                if on
                else f"{label} er av i EPJ/AR: ingen av prosessene bak tjenesten er på.",
            )
        )
    run = run_containing(facts.absences, service, day)
    if run is None:
        reasons.append(Reason("R3", f"Ingen registrert fravær dekker {label} {norwegian_date(day)}."))
    else:
        reasons.extend(_run_reasons(facts, service, run))
        reasons.append(_normally_on_reason(facts, service, run))
    if service is Service.E_KONSULTASJON:
        reasons.extend(_replies_reasons(on, run is not None))
    return reasons


def _report_reason(process: Process, history: ProcessHistory | None) -> Reason:
    """R1: the report that wins for one process (newest GenDate, then the greater MsgId)."""
    if history is not None and history.folded and not history.reports:  # `known_at` before what is kept
        return Reason(
            "R1", f"Prosessen {process.value} er bare kjent fra eldre, oppsummerte meldinger, og regnes som av."
        )
    if history is None or not history.reports:
        return Reason("R1", f"Prosessen {process.value} er aldri meldt for behandleren, og regnes som av.")
    report = history.reports[-1]
    return Reason("R1", f"Prosessen {process.value} er slått {_on_off(report.on)} {_cited(report)}.", report.gen_date)


def _on_off(on: bool) -> str:
    return "på" if on else "av"


def _cited(report: StatusReport) -> str:
    """ "i journalsystemet (EPJ, melding 42, 20.12.2023 kl. 09.00)" — the source when it is known."""
    where = SOURCE_TEXT[report.source] + ", " if report.source is not None else "(meldt av EPJ/AR, "
    return f"{where}melding {report.msg_id}, {norwegian_instant(report.gen_date)})"


def _run_members(facts: PairFacts, service: Service, run: Run) -> list[Absence]:
    """The absences of R3's run: those naming the service within its dates (a run is maximal)."""
    members = [a for a in facts.absences.values() if service in a.services and a.overlaps(run.first, run.last)]
    return sorted(members, key=lambda a: (a.from_date, a.absence_id))


def _run_reasons(facts: PairFacts, service: Service, run: Run) -> list[Reason]:
    label = SERVICE_LABELS[service].button
    members = _run_members(facts, service, run)
    reasons = [
        Reason(
            "R3",
            f"Fravær {a.absence_id} ({_span(a.from_date, a.to_date)}) gjelder {label}, "
            f"registrert {norwegian_instant(a.registered_at)}.",
            a.registered_at,
        )
        for a in members
    ]
    together = "Fraværene henger sammen til én periode" if len(members) > 1 else "Fraværet varer"
    reasons.append(
        Reason(
            "R3",
            f"{together} {_span(run.first, run.last)}, så {label} åpner igjen {norwegian_date(run.reopens_on)}.",
        )
    )
    return reasons


def _normally_on_reason(facts: PairFacts, service: Service, run: Run) -> Reason:
    """R4: the report (or folded summary) that makes the service count as normally on, or that none does."""
    label = SERVICE_LABELS[service].button
    since = lookback_start(run)
    window = f"fra {norwegian_instant(since)}, 30 dager før fraværet begynte {norwegian_date(run.first)}"
    for process in SERVICE_PROCESSES[service]:
        history = facts.processes.get(process)
        if history is None:
            continue
        evidence = on_since(history, since)
        if isinstance(evidence, StatusReport):
            following = _following(history, evidence)
            held = f"til {norwegian_instant(following.gen_date)}" if following is not None else "og er fortsatt på"
            return Reason(
                "R4",
                f"{label} regnes som normalt på: prosessen {process.value} var på fra "
                f"{norwegian_instant(evidence.gen_date)} {held} (melding {evidence.msg_id}), "
                f"innenfor tiden som teller ({window}).",
                evidence.gen_date,
            )
        if evidence is not None:
            return Reason(
                "R4",
                f"{label} regnes som normalt på: prosessen {process.value} var på fram til "
                f"{norwegian_instant(evidence)} (eldre meldinger, oppsummert), innenfor tiden som teller ({window}).",
                evidence,
            )
    return Reason(
        "R4",
        f"{label} regnes ikke som normalt på: ingen av prosessene bak tjenesten har vært på {window}, "
        "så fraværet viser ikke knappen.",
    )


def _following(history: ProcessHistory, report: StatusReport) -> StatusReport | None:
    """The report after `report` in R1's order: where it stopped holding."""
    reports = history.reports
    at = reports.index(report)
    return reports[at + 1] if at + 1 < len(reports) else None


def _replies_reasons(on: bool, closed_by_absence: bool) -> list[Reason]:
    """R6 (replies follow the process, absence or not) and R7 (a closed conversation takes none)."""
    process = SERVICE_PROCESSES[Service.E_KONSULTASJON][0].value
    if not on:
        return [Reason("R6", f"Svar i eksisterende samtaler tas ikke imot: prosessen {process} er av i EPJ/AR.")]
    despite = ", selv om fraværet stenger for nye samtaler" if closed_by_absence else ""
    codes = " eller ".join(f"{code} «{meaning}»" for code, meaning in CLOSING_CODES.items())
    return [
        Reason("R6", f"Svar i eksisterende samtaler tas imot fordi prosessen {process} er på i EPJ/AR{despite}."),
        Reason("R7", f"En samtale som kontoret har avsluttet med kode {codes} tar likevel ikke imot flere svar."),
    ]


def _status_sentence(service: Service, status: Status, reopens_on: dt.date | None) -> str:
    label = SERVICE_LABELS[service].button
    if status is Status.TEMPORARILY_CLOSED and reopens_on is not None:
        return f"{label} {STATUS_TEXT[status]} – åpner igjen {norwegian_date(reopens_on)}."
    return f"{label} {STATUS_TEXT[status]}."


# ---------------------------------------------------------------------------------------------
# Panel, substitute, warnings, roster
# ---------------------------------------------------------------------------------------------


def _panel(facts: PairFacts, shown: list[str]) -> tuple[Reason, ...]:
    """R8: the panel's information message shows exactly when at least one service is shown."""
    left = _left(facts) if not facts.listed else ()
    if shown:
        return (
            *left,
            Reason(
                "R8",
                f"Informasjonsmeldingen på fastlegepanelet vises fordi minst én tjeneste vises: {', '.join(shown)}.",
            ),
        )
    return (*left, Reason("R8", "Informasjonsmeldingen på fastlegepanelet vises ikke fordi ingen tjeneste vises."))


def _substitute(facts: PairFacts, day: dt.date) -> tuple[Reason, ...]:
    """R9: the substitute listed for booking on `day` (the earliest-starting one), or why none."""
    if not facts.listed:
        return (*_left(facts), Reason("R9", "Ingen vikar vises for en behandler som har sluttet."))
    shown = substitute_on(facts, day)
    if shown is not None:
        others = [p for p in facts.substitutes if p.covers(day) and p.hpr != shown.hpr]
        why = " Flere vikarer dekker dagen; den som begynte først vises." if others else ""
        return (
            Reason(
                "R9",
                f"{shown.name} (HPR {shown.hpr}) er vikar for fastlegen {_span(shown.from_date, shown.to_date)} "
                f"og vises som «{shown.name} (vikar for fastlege)» ved timebestilling.{why}",
            ),
        )
    if facts.substitutes:
        periods = "; ".join(f"{p.name} {_span(p.from_date, p.to_date)}" for p in facts.substitutes)
        return (
            Reason(
                "R9", f"Ingen vikarperiode dekker {norwegian_date(day)} (vikarer i behandleroversikten: {periods})."
            ),
        )
    return (Reason("R9", "Behandleroversikten oppfører ingen vikar for fastlegen."),)


def _warnings(
    facts: PairFacts, day: dt.date, pair: PairState | None, statuses: dict[Service, Status]
) -> tuple[Reason, ...]:
    if not facts.listed:
        return ()  # R16: a practitioner who left is not warned about
    reasons: list[Reason] = []
    for absence in sorted(facts.absences.values(), key=lambda a: (a.from_date, a.absence_id)):
        if absence.to_date < day:
            continue
        for period in facts.substitutes:
            if not absence.overlaps(period.from_date, period.to_date):
                continue
            sent = ""
            if pair is not None:
                was_sent = (absence.absence_id, period.hpr) in pair.warned
                sent = " Varselet er sendt til fastlegen." if was_sent else " Varselet er ikke sendt ennå."
            reasons.append(Reason("R9", f"{overrides_substitute_text(absence, period)}{sent}", absence.registered_at))
    for service in Service:
        ended = _ended_run(facts, service, day) if statuses[service] is Status.NOT_OFFERED else None
        if ended is not None:
            reasons.append(Reason("R10", still_off_text(service), midnight(ended.reopens_on)))
    return tuple(reasons)


def _ended_run(facts: PairFacts, service: Service, day: dt.date) -> Run | None:
    """R10: for a service NOT_OFFERED on `day`, the latest run that ended before it, if the service
    was TEMPORARILY_CLOSED on that run's last day (so the run's end took it away)."""
    ends = [a.to_date for a in facts.absences.values() if service in a.services and a.to_date < day]
    if not ends or run_containing(facts.absences, service, day) is not None:
        return None
    run = run_containing(facts.absences, service, max(ends))
    if run is None:
        return None
    closed_then = evaluate(facts, midnight(run.last)).availability.services.of(service).status
    return run if closed_then is Status.TEMPORARILY_CLOSED else None


def _listed_reason(facts: PairFacts) -> Reason:
    return Reason(
        "R13",
        f"Behandleren (HPR {facts.practitioner_hpr}) står i behandleroversikten ved kontoret "
        f"{facts.office_her_id}, så meldinger og fravær for behandleren godtas.",
    )


def _left(facts: PairFacts) -> tuple[Reason, ...]:
    return (
        Reason(
            "R16",
            f"Behandleren (HPR {facts.practitioner_hpr}) står ikke lenger i behandleroversikten ved kontoret "
            f"{facts.office_her_id}: ingen tjenester vises, og nye meldinger om behandleren avvises (E20).",
        ),
    )


def _span(first: dt.date, last: dt.date | None) -> str:
    if last is None:
        return f"fra {norwegian_date(first)}, uten sluttdato"
    return f"{norwegian_date(first)}–{norwegian_date(last)}"
