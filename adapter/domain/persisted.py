"""The stored form of the state: a versioned document of its own, not the portal's wire model.

Stores keep a pair's and an office's state as an opaque JSON text. That text is a document with a
schema version (`{"v": 2, ...}`) whose shape is written out here field by field, so the wire models
of the events (`Availability`, extra="forbid") can gain, lose or rename fields without making a
single stored pair unreadable: reading picks the fields it knows by name, ignores the rest, and
gives defaults to what an older document lacks. Each older version is migrated on read:

- v1 (release 0.1.0, no "v"): `PairState`/`OfficeState` dumped as pydantic models, each process's
  whole status history verbatim. Its history is compacted into today's bounded form on the way in.

A key added within a version is optional and beside what older readers know, never inside it, and
read with a default, so every v2 document still loads: a process history's "sources" (who reported
each report, EPJ or AR; issue 13), a list parallel to its "reports"; the office's "booking" (the
booking list last published, issue 12), "name" (issue 13) and "remembered_from" (issue 10, `memory`).

Pure functions, no I/O: text in, state out, and back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import Enum
from typing import Any, Protocol, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from .events import (
    Availability,
    BookablePractitioner,
    BookingView,
    ConsultationView,
    ServicesView,
    ServiceView,
    SubstituteView,
)
from .model import BookingMode, Practitioner, Process, Service, Source, Status, SubstituteFor
from .remembered import Remembered
from .state import (
    EMPTY_HISTORY,
    Absence,
    OfficeState,
    PairFacts,
    PairState,
    ProcessHistory,
    StatusReport,
    SubstitutePeriod,
    trusted,
    with_report,
)

#: The version written; every older one is migrated on read.
SCHEMA_VERSION = 2

Document = dict[str, Any]

_Model = TypeVar("_Model", bound=BaseModel)


class _Build(Protocol):
    """How a reader makes each model from fields it has already converted to their types."""

    def __call__(self, model: type[_Model], /, **fields: Any) -> _Model: ...


def _validated(model: type[_Model], /, **fields: Any) -> _Model:
    """Checked by the model, as anything written by another release (or by hand) must be."""
    return model(**fields)


#: Not checked: this release's own document, whose fields the reader has converted to exactly the
#: types the model holds. Reading states is a top cost of every workload (issue 14/10), and most of
#: it was pydantic checking, once per kept report, what this module wrote itself. Every field is
#: given, by name, in the model's order (`state.trusted`); a test holds every reader to give
#: exactly what `_validated` gives (tests/domain/test_persisted.py).
_trusted: _Build = trusted


_E = TypeVar("_E", bound=Enum)


def _by_value(enum: type[_E]) -> dict[Any, _E]:
    """An enum's members by stored value, looked up without the enum's call (many per state)."""
    return {member.value: member for member in enum}


_SERVICES = _by_value(Service)
_SERVICE_NAMES = tuple(_SERVICES)  # each service's view in `ServicesView` and key in a document
_PROCESSES = _by_value(Process)
_STATUSES = _by_value(Status)
_BOOKING_MODES = _by_value(BookingMode)


class UnreadableState(ValueError):
    """A stored state this release cannot read (a newer version, or not a state at all)."""


# ---------------------------------------------------------------------------------------------
# Pairs
# ---------------------------------------------------------------------------------------------


def dump_pair(pair: PairState) -> str:
    facts = pair.facts
    document: Document = {
        "v": SCHEMA_VERSION,
        "office": facts.office_her_id,
        "hpr": facts.practitioner_hpr,
        "listed": facts.listed,
        "processes": {process.value: _history(history) for process, history in facts.processes.items()},
        "absences": [
            {
                "id": a.absence_id,
                "from": a.from_date,
                "to": a.to_date,
                "services": sorted(a.services),
                "registered_at": _written_instant(a.registered_at),
            }
            for a in facts.absences.values()
        ],
        "substitutes": [
            {"hpr": p.hpr, "name": p.name, "from": p.from_date, "to": p.to_date} for p in facts.substitutes
        ],
        "published": _published(pair.published),
        "sequence": pair.sequence,
        "warnings_sent": pair.warnings_sent,
        "warned": sorted([absence_id, hpr] for absence_id, hpr in pair.warned),
        "closed_by": {service.value: absence_id for service, absence_id in pair.closed_by.items()},
        "as_of": _written_instant(pair.as_of),
    }
    return _json(document)


def load_pair(text: str | bytes, *, validate: bool = False) -> PairState:
    """A stored pair. This version's documents are built without pydantic's checks (`_trusted`)
    unless `validate` is asked for; an older version's are always checked."""
    document = _document(text)
    if "v" not in document:
        document, validate = _pair_v1_to_v2(document), True
    _check_version(document)
    build = _validated if validate else _trusted
    facts = build(
        PairFacts,
        office_her_id=document["office"],
        practitioner_hpr=document["hpr"],
        listed=document.get("listed", True),
        processes={
            _member(_PROCESSES, name): _read_history(h, build) for name, h in document.get("processes", {}).items()
        },
        absences={a["id"]: _read_absence(a, build) for a in document.get("absences", [])},
        substitutes=tuple(
            build(
                SubstitutePeriod,
                hpr=p["hpr"],
                name=p.get("name", ""),
                from_date=_date(p["from"]),
                to_date=_date(p.get("to")),
            )
            for p in document.get("substitutes", [])
        ),
    )
    return build(
        PairState,
        facts=facts,
        published=_read_published(document.get("published"), build),
        sequence=document.get("sequence", 0),
        warnings_sent=document.get("warnings_sent", 0),
        warned=frozenset((a, s) for a, s in document.get("warned", [])),
        closed_by={_member(_SERVICES, k): v for k, v in document.get("closed_by", {}).items()},
        as_of=_instant(document.get("as_of")),
    )


class _PublishedPart(BaseModel):
    """The keys of a stored pair that `load_published` reads; the rest of the text is skipped by
    the JSON parser, not built into models (facts, histories: most of it)."""

    model_config = ConfigDict(extra="ignore")

    v: int | None = None
    published: Availability | None = None
    sequence: int = 0


def load_published(text: str | bytes) -> tuple[Availability, int]:
    """A stored pair's published part and sequence only: what a reader needs when no change of the
    pair is due (a resync's snapshot, the read API), without building its facts and histories.

    This version's document stores `published` in the wire model's shape, so it is validated as
    that model straight from the text; anything else (an older version, or a wire model that has
    since changed) is read the long way, `load_pair`, which migrates and fills gaps."""
    try:
        part = _PublishedPart.model_validate_json(text)
    except ValidationError:
        part = None
    if part is None or part.v != SCHEMA_VERSION:
        pair = load_pair(text)
        return pair.published, pair.sequence
    return part.published or _read_published(None, _trusted), part.sequence


def _history(history: ProcessHistory) -> Document:
    reports = history.reports
    document: Document = {
        "reports": [[_written_instant(r.gen_date), r.msg_id, r.on] for r in reports],
        "on_until": _written_instant(history.on_until),
        "folded": history.folded,
    }
    if any(r.source is not None for r in reports):
        # Beside the reports, not in them: a reader that does not know it ignores it (issue 13).
        document["sources"] = [r.source for r in reports]  # orjson writes a Source as its value
    return document


def _written_instant(instant: dt.datetime | None) -> dt.datetime | str | None:
    """An instant for `_json`: the datetime itself, which orjson writes as `isoformat()` does at a
    fraction of its cost (every kept report is written on every message), except for an offset
    that is not whole minutes, which orjson would round. (Dates, enums: orjson writes them as
    `isoformat()` and `.value` do, so they are handed to it as they are.)"""
    if instant is None:
        return None
    offset = instant.utcoffset()
    if offset is None or offset.seconds % 60 or offset.microseconds:
        return instant.isoformat()
    return instant


#: Source by its stored value (one per kept report, on every message).
_SOURCES = _by_value(Source)


def _read_history(document: Mapping[str, Any], build: _Build) -> ProcessHistory:
    listed = document.get("reports", [])
    sources = document.get("sources") or [None] * len(listed)
    reports = tuple(
        build(
            StatusReport,
            gen_date=dt.datetime.fromisoformat(gen),
            msg_id=msg_id,
            on=on,
            source=_member(_SOURCES, source) if source else None,
        )
        for (gen, msg_id, on), source in zip(listed, sources, strict=True)
    )
    return build(
        ProcessHistory,
        reports=reports,
        on_until=_instant(document.get("on_until")),
        folded=document.get("folded", False),
    )


def _read_absence(document: Mapping[str, Any], build: _Build) -> Absence:
    return build(
        Absence,
        absence_id=document["id"],
        from_date=_date(document["from"]),
        to_date=_date(document["to"]),
        services=frozenset(_member(_SERVICES, s) for s in document["services"]),
        registered_at=_instant(document["registered_at"]),
    )


def _published(availability: Availability) -> Document:
    services: Document = {}
    for name in _SERVICE_NAMES:
        view = getattr(availability.services, name)
        entry: Document = {"status": view.status, "reopens_on": view.reopens_on, "info_visible": view.info_visible}
        if isinstance(view, BookingView):
            entry["booking_mode"] = view.booking_mode
        if isinstance(view, ConsultationView):
            entry["accepts_replies"] = view.accepts_replies
        services[name] = entry
    substitute = availability.substitute
    return {
        "services": services,
        "panel_info_visible": availability.panel_info_visible,
        "substitute": None
        if substitute is None
        else {
            "hpr": substitute.hpr,
            "name": substitute.name,
            "from": substitute.from_date,
            "to": substitute.to_date,
        },
    }


def _read_published(document: Mapping[str, Any] | None, build: _Build) -> Availability:
    """What the portal was last told, from the fields this release knows (R8 fills the gaps)."""
    if document is None:
        return PairState.model_fields["published"].default  # type: ignore[no-any-return]
    services = document.get("services", {})

    # A Service is a str equal to its value: it looks its entry up as it is (without `.value`).
    def common(service: Service) -> dict[str, Any]:
        entry = services.get(service, {})
        status = _member(_STATUSES, entry.get("status", Status.NOT_OFFERED))
        return {
            "status": status,
            "reopens_on": _date(entry.get("reopens_on")),
            "info_visible": entry.get("info_visible", status is not Status.NOT_OFFERED),
        }

    booking = services.get(Service.TIMEBESTILLING, {})
    consultation = services.get(Service.E_KONSULTASJON, {})
    mode = booking.get("booking_mode")
    views = build(
        ServicesView,
        TIMEBESTILLING=build(
            BookingView,
            **common(Service.TIMEBESTILLING),
            booking_mode=_member(_BOOKING_MODES, mode) if mode is not None else None,
        ),
        RESEPTFORNYELSE=build(ServiceView, **common(Service.RESEPTFORNYELSE)),
        E_KONSULTASJON=build(
            ConsultationView,
            **common(Service.E_KONSULTASJON),
            accepts_replies=consultation.get("accepts_replies", False),
        ),
        KONTAKT_LEGEKONTORET=build(ServiceView, **common(Service.KONTAKT_LEGEKONTORET)),
    )
    substitute = document.get("substitute")
    if "panel_info_visible" in document:
        panel_info_visible = document["panel_info_visible"]
    else:  # R8, worked out only when it is missing
        panel_info_visible = any(views.of(s).status is not Status.NOT_OFFERED for s in Service)
    return build(
        Availability,
        services=views,
        panel_info_visible=panel_info_visible,
        substitute=None
        if substitute is None
        else build(
            SubstituteView,
            hpr=substitute["hpr"],
            name=substitute.get("name", ""),
            from_date=_date(substitute["from"]),
            to_date=_date(substitute.get("to")),
        ),
    )


def _pair_v1_to_v2(v1: Mapping[str, Any]) -> Document:
    """Release 0.1.0's `PairState.model_dump_json()`; its verbatim histories compacted as today's."""
    facts = v1["facts"]
    processes = {}
    for name, reports in facts.get("processes", {}).items():
        history = EMPTY_HISTORY
        for r in reports:
            source = Source(r["source"]) if r.get("source") else None  # none in 0.1.0; kept if present
            report = StatusReport(
                gen_date=dt.datetime.fromisoformat(r["gen_date"]), msg_id=r["msg_id"], on=r["on"], source=source
            )
            history = with_report(history, report)
        processes[name] = orjson.loads(_json(_history(history)))  # as stored: instants as text
    published = v1.get("published")
    if published is not None and published.get("substitute") is not None:
        sub = published["substitute"]  # dumped by field name, not by the wire's alias
        published = {
            **published,
            "substitute": {
                **sub,
                "from": sub.get("from_date", sub.get("from")),
                "to": sub.get("to_date", sub.get("to")),
            },
        }
    return {
        "v": 2,
        "office": facts["office_her_id"],
        "hpr": facts["practitioner_hpr"],
        "listed": facts.get("listed", True),
        "processes": processes,
        "absences": [
            {
                "id": a["absence_id"],
                "from": a["from_date"],
                "to": a["to_date"],
                "services": a["services"],
                "registered_at": a["registered_at"],
            }
            for a in facts.get("absences", {}).values()
        ],
        "substitutes": [
            {"hpr": p["hpr"], "name": p.get("name", ""), "from": p["from_date"], "to": p.get("to_date")}
            for p in facts.get("substitutes", [])
        ],
        "published": published,
        "sequence": v1.get("sequence", 0),
        "warnings_sent": v1.get("warnings_sent", 0),
        "warned": v1.get("warned", []),
        "closed_by": v1.get("closed_by", {}),
        "as_of": v1.get("as_of"),
    }


# ---------------------------------------------------------------------------------------------
# Offices
# ---------------------------------------------------------------------------------------------


def dump_office(office: OfficeState) -> str:
    document: Document = {
        "v": SCHEMA_VERSION,
        "her_id": office.her_id,
        "roster": None if office.roster is None else _roster(office.roster),
        "roster_version": None
        if office.roster_version is None
        else [_written_instant(office.roster_version[0]), office.roster_version[1]],
        "absence_owner": dict(office.absence_owner),
        "deleted_absences": sorted(office.deleted_absences),
        "booking": {
            "sequence": office.booking_sequence,
            "practitioners": [
                {
                    "hpr": e.hpr,
                    "name": e.name,
                    "role": e.role,
                    "role_name": e.role_name,
                    "label": e.label,
                    "covers_hpr": e.covers_hpr,
                }
                for e in office.booking
            ],
        },
        "remembered_from": dict(sorted(office.remembered_from.items())),
    }
    if office.name is not None:  # optional: older readers ignore it, older documents have none
        document["name"] = office.name
    return _json(document)


def _roster(roster: Mapping[str, Practitioner]) -> orjson.Fragment:
    """The roster as written, remembered by the very roster (an office is written each time its
    booking list changes, and its roster, 50 practitioners, is the same object until a new
    behandleroversikt: issue 14). orjson writes a fragment's bytes as they are, so the text is
    the one the document itself would give."""
    known = _ROSTERS.get(roster)
    if known is not None:
        return known[0]
    written = [
        {
            "hpr": p.hpr,
            "her_id": p.her_id,
            "given_name": p.given_name,
            "family_name": p.family_name,
            "role": p.role,
            "role_name": p.role_name,
            "covers": None
            if p.covers is None
            else {
                "gp_hpr": p.covers.gp_hpr,
                "from": p.covers.from_date,
                "to": p.covers.to_date,
            },
        }
        for p in roster.values()
    ]
    return _ROSTERS.put(roster, None, orjson.Fragment(orjson.dumps(written)))


#: Rosters as written, by the very roster (`Remembered`: each entry keeps its roster alive; a roster
#: is shared by every office state copied from it, so one entry per office a worker is busy with).
_ROSTERS: Remembered[orjson.Fragment] = Remembered(256)


def load_office(text: str | bytes, *, validate: bool = False) -> OfficeState:
    """A stored office; checked as `load_pair` is."""
    document = _document(text)
    if "v" not in document:
        document, validate = _office_v1_to_v2(document), True
    _check_version(document)
    build = _validated if validate else _trusted
    roster = document.get("roster")
    version = document.get("roster_version")
    booking = document.get("booking") or {}
    return build(
        OfficeState,
        her_id=document["her_id"],
        name=document.get("name"),
        roster=None if roster is None else {p["hpr"]: _read_practitioner(p, build) for p in roster},
        roster_version=None if version is None else (dt.datetime.fromisoformat(version[0]), version[1]),
        absence_owner=document.get("absence_owner", {}),
        deleted_absences=frozenset(document.get("deleted_absences", [])),
        # a document written before the booking list: the baseline (the list is rebuilt, and
        # published, the first time a practitioner of the office is changed: `domain/booking.py`)
        booking=tuple(_read_bookable(entry, build) for entry in booking.get("practitioners", [])),
        booking_sequence=booking.get("sequence", 0),
        # absent before issue 10: dated when next changed
        remembered_from={a: dt.date.fromisoformat(day) for a, day in document.get("remembered_from", {}).items()},
    )


def _read_bookable(document: Mapping[str, Any], build: _Build) -> BookablePractitioner:
    return build(
        BookablePractitioner,
        hpr=document["hpr"],
        name=document.get("name", ""),
        role=document["role"],
        role_name=document.get("role_name", ""),
        label=document.get("label", ""),
        covers_hpr=document.get("covers_hpr"),
    )


def _read_practitioner(document: Mapping[str, Any], build: _Build) -> Practitioner:
    covers = document.get("covers")
    return build(
        Practitioner,
        hpr=document["hpr"],
        her_id=document.get("her_id"),
        given_name=document.get("given_name", ""),
        family_name=document.get("family_name", ""),
        role=document["role"],
        role_name=document.get("role_name", ""),
        covers=None
        if covers is None
        else build(
            SubstituteFor,
            gp_hpr=covers["gp_hpr"],
            from_date=_date(covers["from"]),
            to_date=_date(covers.get("to")),
        ),
    )


def _office_v1_to_v2(v1: Mapping[str, Any]) -> Document:
    """Release 0.1.0's `OfficeState.model_dump_json()`: the roster was a mapping by HPR."""
    roster = v1.get("roster")
    return {
        "v": 2,
        "her_id": v1["her_id"],
        "roster": None
        if roster is None
        else [
            {
                **p,
                "covers": None
                if p.get("covers") is None
                else {
                    "gp_hpr": p["covers"]["gp_hpr"],
                    "from": p["covers"]["from_date"],
                    "to": p["covers"].get("to_date"),
                },
            }
            for p in roster.values()
        ],
        "roster_version": v1.get("roster_version"),
        "absence_owner": v1.get("absence_owner", {}),
        "deleted_absences": v1.get("deleted_absences", []),
        "remembered_from": v1.get("remembered_from", {}),
    }


# ---------------------------------------------------------------------------------------------


def _json(document: Document) -> str:
    """Compact UTF-8 JSON, as json.dumps(ensure_ascii=False, separators=(",", ":")) writes it, at
    a tenth of its cost: every message reads and writes a pair's state."""
    return orjson.dumps(document).decode()


def _document(text: str | bytes) -> Document:
    try:
        document = orjson.loads(text)
    except ValueError as error:
        raise UnreadableState(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise UnreadableState("a stored state is a JSON object")
    return document


def _check_version(document: Mapping[str, Any]) -> None:
    if document.get("v") != SCHEMA_VERSION:
        raise UnreadableState(f"stored state version {document.get('v')!r}; this release reads 1 and {SCHEMA_VERSION}")


def _member(members: Mapping[Any, _E], value: Any) -> _E:
    """`members[value]`, or the enum's own refusal (a ValueError) for a value it does not have."""
    member = members.get(value)
    if member is None:
        return type(next(iter(members.values())))(value)
    return member


def _instant(text: str | None) -> dt.datetime | None:
    """A stored instant as written (`isoformat`); `_validated` refuses one without an offset."""
    return None if text is None else dt.datetime.fromisoformat(text)


def _date(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)
