"""The support console (issue 13): what a citizen sees of each practitioner of an office, and why.

Norsk helsenett's customer centre answers GPs who ask "why can my patients not book?". This page,
served under `/console` by the read API's app, shows each practitioner's fastlegepanel as
Helsenorge shows it, the explanation of every button in plain Norwegian with the rule numbers
(`adapter.domain.explain`), the warnings, a strip picture of each service over the weeks around the
chosen instant, and the pair's timeline.

- **Any instant.** `?at=2023-12-27T12:00` (Oslo wall-clock time) evaluates the stored facts at that
  instant with the pure domain (`evaluate`, `explain`). For a past instant these are the facts as
  known *now* (a report that arrived later counts already); the page says so.
- **Read-only, off unless configured.** It is mounted only when `DDFL_CONSOLE_TOKEN` is set; every
  request must carry that token, as the password of HTTP Basic authentication (any user name: the
  browser asks for it) or as `Authorization: Bearer <token>`. Compared with
  `secrets.compare_digest`. Missing → 401 (with the Basic challenge), wrong → 403.
- **No personal data.** The state holds no fødselsnummer and no patient names, and nothing here
  reads anything else; practitioners' names and ids are shown, as the portal shows them.
- Server-rendered (Jinja2 templates in `templates/console/`, inline SVG); no script.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates

from ..domain import engine
from ..domain.calendar import OSLO, in_oslo, local_date, norwegian_date, norwegian_instant
from ..domain.events import Availability
from ..domain.explain import STATUS_TEXT, PairExplanation, Reason, explain
from ..domain.model import SERVICE_LABELS, Practitioner, Role, Service, Status
from ..domain.rules import evaluate
from ..domain.state import OfficeState, PairFacts, PairState
from ..messages.identifiers import HER_ID_PATTERN
from ..replay import show
from ..store.base import TimelineEntry
from .reads import Reader
from .strip import Strip, strip

log = logging.getLogger("ddfl.api.console")

PREFIX = "/console"
REALM = "ddfl-adapter console"
#: How many entries of a pair's timeline the page shows (the newest).
TIMELINE_LIMIT = 50
#: How many offices a name search lists at most.
SEARCH_LIMIT = 50
#: The years an instant may be picked in.
FIRST_YEAR, LAST_YEAR = 1900, 2999

_TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
_TEMPLATES.env.filters["norwegian_date"] = norwegian_date
_TEMPLATES.env.filters["norwegian_instant"] = norwegian_instant

#: Sent with every console answer: nothing is cached, framed, or fetched from elsewhere.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

ROLE_NAMES = {Role.FASTLEGE.value: "fastlege", Role.VIKAR_FOR_FASTLEGE.value: "vikar for fastlege"}

STATUS_CLASSES = {
    Status.AVAILABLE: "available",
    Status.TEMPORARILY_CLOSED: "closed",
    Status.NOT_OFFERED: "not-offered",
}


class ConsoleRefused(Exception):
    """A request without the console's credential (401) or with a wrong one (403)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class Button:
    """One button of the fastlegepanel at the chosen instant, with why it is so."""

    service: Service
    label: str
    status: Status
    text: str
    note: str | None
    reasons: tuple[Reason, ...]

    @property
    def css(self) -> str:
        return STATUS_CLASSES[self.status]


@dataclass(frozen=True)
class Panel:
    """One practitioner as the citizens whose GP they are see them, and why."""

    hpr: str
    name: str | None
    role: str | None
    heading: str
    nothing_offered: bool
    buttons: tuple[Button, ...]
    info_visible: bool
    substitute: str | None
    explanation: PairExplanation
    strip: Strip
    timeline: list[TimelineRow]


def instant_from_query(value: str | None, now: dt.datetime) -> dt.datetime:
    """`?at=`: an ISO date-time; without an offset it is Oslo wall-clock time (what the picker sends)."""
    if value is None or not value.strip():
        return now
    parsed = dt.datetime.fromisoformat(value.strip())
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:  # the strip's weeks around it must be dates too
        raise ValueError(f"year {parsed.year} is outside {FIRST_YEAR}-{LAST_YEAR}")
    return parsed.replace(tzinfo=OSLO) if parsed.tzinfo is None else parsed


def picker_value(instant: dt.datetime) -> str:
    """The instant as the `datetime-local` picker shows it (Oslo wall-clock time, minutes)."""
    return f"{in_oslo(instant):%Y-%m-%dT%H:%M}"


def _button(service: Service, availability: Availability, reasons: tuple[Reason, ...]) -> Button:
    lines = show.button_lines(service, availability.services.of(service).to_json())
    label, _, text = lines[0].partition(": ")
    note = lines[1].strip() if len(lines) > 1 else None
    return Button(service, label, availability.services.of(service).status, text, note, reasons)


def panel(
    hpr: str,
    practitioner: Practitioner | None,
    pair: PairState,
    instant: dt.datetime,
    timeline: list[TimelineRow],
) -> Panel:
    """The panel of one pair at `instant`: the domain's own `evaluate` and `explain` on its facts."""
    facts: PairFacts = pair.facts
    availability = evaluate(facts, instant).availability
    explanation = explain(facts, instant, pair)
    name = practitioner.name if practitioner is not None and practitioner.name else None
    role = None if practitioner is None else ROLE_NAMES.get(practitioner.role, f"rolle {practitioner.role}")
    heading = f"Fastlegen din er {name or f'fastlege med HPR-nummer {hpr}'}"
    buttons = tuple(_button(s, availability, explanation.services[s].reasons) for s in Service)
    return Panel(
        hpr=hpr,
        name=name,
        role=role,
        heading=heading,
        nothing_offered=all(b.status is Status.NOT_OFFERED for b in buttons),
        buttons=buttons,
        info_visible=availability.panel_info_visible,
        substitute=None if availability.substitute is None else show.substitute_line(availability.substitute.to_json()),
        explanation=explanation,
        strip=strip(facts, local_date(instant)),
        timeline=timeline,
    )


_BASIC = HTTPBasic(auto_error=False, realm=REALM)
_BEARER = HTTPBearer(auto_error=False)


def _credential_check(token: str) -> Callable[..., Any]:
    expected = token.encode()

    async def authorised(
        basic: Annotated[HTTPBasicCredentials | None, Depends(_BASIC)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        given = basic.password if basic is not None else bearer.credentials if bearer is not None else None
        if given is None:
            raise ConsoleRefused(401)
        if not secrets.compare_digest(given.encode(), expected):
            log.warning("console credential refused", extra={"event": "DDFL-CONSOLE-REFUSED"})
            raise ConsoleRefused(403)

    return authorised


def _render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = _TEMPLATES.TemplateResponse(request, template, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def install(app: FastAPI, reader: Reader, now: Callable[[], dt.datetime], token: str) -> None:
    """Mount the console under `/console` on the read API's app, behind `token`."""
    if not token:
        raise ValueError("the console needs a non-empty credential")

    @app.exception_handler(ConsoleRefused)
    async def _refused(request: Request, error: ConsoleRefused) -> Response:
        headers = dict(SECURITY_HEADERS)
        if error.status == 401:
            headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
        title = "Innlogging kreves" if error.status == 401 else "Ingen tilgang"
        return HTMLResponse(f"<!doctype html><title>{title}</title><h1>{title}</h1>", error.status, headers)

    router = APIRouter(prefix=PREFIX, dependencies=[Depends(_credential_check(token))], include_in_schema=False)

    async def not_found(request: Request, message: str) -> HTMLResponse:
        return _render(request, "console/message.html", {"title": "Ikke funnet", "message": message}, 404)

    @router.get("", response_class=HTMLResponse)
    @router.get("/", response_class=HTMLResponse)
    async def search(request: Request, q: Annotated[str | None, Query(max_length=100)] = None) -> Response:
        """Find an office by HER-id, or by (part of) a practitioner's name on its roster."""
        term = (q or "").strip()
        if HER_ID_PATTERN.fullmatch(term):
            if await reader.office_state(int(term)) is not None or await reader.office_pairs(int(term)):
                return RedirectResponse(f"{PREFIX}/offices/{int(term)}", status_code=303, headers=SECURITY_HEADERS)
            return await not_found(request, f"Legekontoret med HER-id {term} er ukjent for adapteren.")
        found = await _offices_by_name(reader, term) if term else []
        return _render(request, "console/search.html", {"q": term, "found": found, "searched": bool(term)})

    @router.get("/offices/{office_her_id}", response_class=HTMLResponse)
    async def office(
        request: Request,
        office_her_id: int,
        at: Annotated[str | None, Query(max_length=40)] = None,
    ) -> Response:
        """Every practitioner of the office at the chosen instant (now when none is given)."""
        current = now()
        try:
            instant = instant_from_query(at, current)
        except ValueError:
            message = f"«{at}» er ikke et tidspunkt: bruk for eksempel 2023-12-27T12:00."
            return _render(request, "console/message.html", {"title": "Ugyldig tidspunkt", "message": message}, 400)
        rows = await reader.office_pairs(office_her_id)
        text = await reader.office_state(office_her_id)
        if not rows and text is None:
            return await not_found(request, f"Legekontoret med HER-id {office_her_id} er ukjent for adapteren.")
        state = OfficeState.from_json(text) if text is not None else OfficeState(her_id=office_her_id)
        roster = state.roster or {}
        pairs = {row.practitioner_hpr: PairState.from_json(row.state) for row in rows}
        for hpr in roster:
            pairs.setdefault(hpr, engine.new_pair(state, hpr))
        panels = [
            panel(hpr, roster.get(hpr), pairs[hpr], instant, await _timeline(reader, office_her_id, hpr))
            for hpr in sorted(pairs, key=lambda h: (_role_order(roster.get(h)), h))
        ]
        context = {
            "office_her_id": office_her_id,
            "office_name": state.name,
            "instant": instant,
            "now": current,
            "picker": picker_value(instant),
            "is_now": at is None or not at.strip(),
            "past": instant < current,
            "future": instant > current,
            "panels": panels,
            "previous_day": picker_value(instant - dt.timedelta(days=1)),
            "next_day": picker_value(instant + dt.timedelta(days=1)),
            "now_picker": picker_value(current),
            "nothing_offered": show.NOTHING_OFFERED,
            "panel_visible": show.PANEL_VISIBLE,
            "panel_hidden": show.PANEL_HIDDEN,
        }
        return _render(request, "console/office.html", context)

    app.include_router(router)


def _role_order(practitioner: Practitioner | None) -> int:
    """GPs first, then their substitutes, then everyone else (and pairs no longer on the roster)."""
    if practitioner is None:
        return 3
    return {Role.FASTLEGE.value: 0, Role.VIKAR_FOR_FASTLEGE.value: 1}.get(practitioner.role, 2)


@dataclass(frozen=True)
class FoundOffice:
    office_her_id: int
    #: The office's own name, when its behandleroversikt named it.
    name: str | None
    #: The practitioners whose names matched (all of them when the office's name did).
    names: tuple[str, ...]


def _matches(words: list[str], text: str | None) -> bool:
    return bool(text) and all(w in str(text).casefold() for w in words)


async def _offices_by_name(reader: Reader, term: str) -> list[FoundOffice]:
    """Offices whose own name, or one of whose practitioners' names, contains every word of `term`
    (case ignored)."""
    words = term.casefold().split()
    found: list[FoundOffice] = []
    for office_her_id, text in await reader.offices_containing(max(words, key=len), SEARCH_LIMIT * 4):
        office = OfficeState.from_json(text)
        people = sorted(p.name for p in (office.roster or {}).values() if p.name)
        named = _matches(words, office.name)
        names = tuple(people if named else [name for name in people if _matches(words, name)])
        if named or names:
            found.append(FoundOffice(office_her_id, office.name, names))
        if len(found) == SEARCH_LIMIT:
            break
    return found


# ---------------------------------------------------------------------------------------------
# The timeline, in words
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineRow:
    """One timeline entry as the page lists it."""

    at: dt.datetime
    what: str
    detail: str


_EVENT_NAMES = {
    "availability.changed": "Hendelse til portalen: det innbyggerne ser er endret",
    "availability.warning": "Varsel til fastlegen",
    "dialogue.closed": "Hendelse til portalen: samtale avsluttet",
}
_RECEIPTS = {"OK": "kvittert OK", "REJECTED": "avvist", "DUPLICATE": "duplikat", "ERROR_QUEUE": "til feilkøen"}


def _services(values: Any) -> str:
    names = {s.value: SERVICE_LABELS[s].button for s in Service}
    return ", ".join(names.get(str(v), str(v)) for v in values or ())


def _receipt(detail: Any) -> str:
    receipt = _RECEIPTS.get(str(detail.get("receipt")), str(detail.get("receipt", "")))
    codes = detail.get("codes") or []
    return receipt + (f" ({', '.join(map(str, codes))})" if codes else "")


def timeline_row(entry: TimelineEntry) -> TimelineRow:
    """Norwegian words for an entry's metadata (ids, dates, codes, statuses: nothing else is stored)."""
    d = entry.detail
    if entry.kind == "message":
        what = f"Melding {d.get('message_type')} fra HER-id {d.get('sender_her_id')}"
        parts = [f"MsgId {d.get('msg_id')}", f"GenDate {_instant(d.get('gen_date'))}"]
        if "source" in d:
            parts.append(f"kilde {d['source']}")
        if d.get("processes"):
            parts.append("; ".join(f"{p} {'på' if on else 'av'}" for p, on in d["processes"].items()))
        if "practitioners" in d:
            parts.append(f"{d['practitioners']} behandlere")
        parts.append(_receipt(d))
        return TimelineRow(entry.at, what, ", ".join(parts))
    if entry.kind == "absence":
        if d.get("action") == "registered":
            what = f"Fravær registrert av HPR {d.get('by_hpr')}"
            period = f"{_date(d.get('from'))}–{_date(d.get('to'))}"
            parts = [f"id {d.get('absence_id')}", period, _services(d.get("services"))]
        else:
            what = f"Fravær slettet av HPR {d.get('by_hpr')}"
            parts = [f"id {d.get('absence_id')}"]
        return TimelineRow(entry.at, what, ", ".join([*parts, _receipt(d)]))
    if entry.kind == "clock":
        return TimelineRow(
            entry.at, "Klokken", f"midnatt passert, til {_instant(d.get('until'))}: {d.get('events')} hendelser"
        )
    what = _EVENT_NAMES.get(str(d.get("type")), str(d.get("type")))
    if d.get("type") == "availability.changed":
        statuses = d.get("statuses") or {}
        changed = [
            f"{SERVICE_LABELS[Service(s)].button} {STATUS_TEXT[Status(statuses[s])]}"
            for s in d.get("changed") or ()
            if s in Service.__members__ and statuses.get(s) in Status.__members__
        ]
        detail = f"sekvens {d.get('sequence')}: " + ("; ".join(changed) or "ingen knapp endret")
    elif d.get("type") == "availability.warning":
        detail = f"{d.get('code')}" + (f", {_services([d['service']])}" if d.get("service") else "")
    else:
        detail = f"{_services([d.get('service')])}, kode {d.get('code')}"
    return TimelineRow(entry.at, what, f"{detail} (hendelse {d.get('event_id')})")


def _instant(value: Any) -> str:
    try:
        return norwegian_instant(dt.datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _date(value: Any) -> str:
    try:
        return norwegian_date(str(value))
    except ValueError:
        return str(value)


async def _timeline(reader: Reader, office_her_id: int, hpr: str) -> list[TimelineRow]:
    return [timeline_row(entry) for entry in await reader.timeline(office_her_id, hpr, TIMELINE_LIMIT)]
