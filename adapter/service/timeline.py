"""What a pair's timeline records (issue 13): each input that touched it and each event published
about it, as metadata — identifiers, dates, codes, statuses; never a message body, a conversation's
content or a citizen's identity (the domain's commands and events carry none to begin with, and
only named fields are copied here).

Pure functions from the service layer's inputs to `TimelineEntry` rows; the unit of work stages
them with the state they accompany, so they are written in the same transaction (docs/timeline.md
lists the fields per kind).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..domain.engine import Outcome
from ..domain.events import AvailabilityChanged, AvailabilityWarning, DialogueClosed, Event
from ..domain.model import (
    DeleteAbsence,
    DialogueNote,
    RegisterAbsence,
    ReplaceRoster,
    ReportServiceStatus,
    Service,
)
from ..domain.state import OfficeState
from ..messages.envelope import Envelope
from ..messages.payloads import MessageCommand
from ..store.base import PairKey, TimelineEntry


def _receipt(outcome: Outcome) -> dict[str, Any]:
    """The answer given: OK, or REJECTED with the code (kodeverk 8221 or the absence reason key)."""
    if outcome.rejection is None:
        return {"receipt": "OK", "codes": []}
    return {"receipt": "REJECTED", "codes": [outcome.rejection.code]}


def _touched(outcome: Outcome, office_her_id: int, *named: str | None) -> list[PairKey]:
    """The pairs an input touched: those it names and those whose state it changed, in order."""
    keys = [(office_her_id, hpr) for hpr in named if hpr is not None]
    keys += [pair.key for pair in outcome.pairs]
    return list(dict.fromkeys(keys))


def message_entries(
    envelope: Envelope, command: MessageCommand, outcome: Outcome, now: dt.datetime
) -> list[TimelineEntry]:
    """An XML message from EPJ or AR: its type, MsgId, GenDate, sender and the receipt it got."""
    detail: dict[str, Any] = {
        "message_type": envelope.msg_type,
        "command": command.kind,
        "msg_id": envelope.msg_id,
        "gen_date": envelope.gen_date.isoformat(),
        "sender_her_id": envelope.sender_her_id,
        **_receipt(outcome),
    }
    named: str | None = None
    if isinstance(command, ReportServiceStatus):
        named = command.practitioner_hpr
        detail["source"] = command.source.value
        detail["complete"] = command.complete
        detail["processes"] = {process.value: on for process, on in sorted(command.statuses.items())}
    elif isinstance(command, DialogueNote):
        named = command.practitioner_hpr
        detail["service"] = command.service.value
        detail["code"] = command.code
    elif isinstance(command, ReplaceRoster):
        detail["practitioners"] = len(command.practitioners)
    return [
        TimelineEntry(office, hpr, now, "message", detail)
        for office, hpr in _touched(outcome, command.office_her_id, named)
    ]


def absence_entries(
    office: OfficeState, command: RegisterAbsence | DeleteAbsence, outcome: Outcome, now: dt.datetime
) -> list[TimelineEntry]:
    """An absence command from Tilpass Helsenorge: its id, dates, services, who registered or deleted it."""
    if isinstance(command, RegisterAbsence):
        named: str | None = command.practitioner_hpr
        detail: dict[str, Any] = {
            "action": "registered",
            "absence_id": command.absence_id,
            "from": command.from_date.isoformat(),
            "to": command.to_date.isoformat(),
            "services": sorted(s.value for s in command.services),
            "by_hpr": command.registered_by_hpr,
            "registered_at": command.registered_at.isoformat(),
        }
    else:
        named = office.absence_owner.get(command.absence_id)
        detail = {
            "action": "deleted",
            "absence_id": command.absence_id,
            "by_hpr": command.deleted_by_hpr,
            "deleted_at": command.deleted_at.isoformat(),
        }
    detail.update(_receipt(outcome))
    return [
        TimelineEntry(her_id, hpr, now, "absence", detail)
        for her_id, hpr in _touched(outcome, command.office_her_id, named)
    ]


def clock_entry(key: PairKey, until: dt.datetime, events: int, now: dt.datetime) -> TimelineEntry:
    """The clock passed a midnight where an absence or substitute period starts or ends (R11)."""
    return TimelineEntry(key[0], key[1], now, "clock", {"until": until.isoformat(), "events": events})


def event_entry(event: Event) -> TimelineEntry | None:
    """An event published about a pair; None for a closed conversation with no practitioner."""
    detail: dict[str, Any] = {"type": event.type, "event_id": event.event_id}
    if isinstance(event, AvailabilityChanged):
        views = [(s.value, event.services.of(s)) for s in Service]
        detail |= {
            "sequence": event.sequence,
            "changed": [s.value for s in event.changed],
            "statuses": {name: view.status.value for name, view in views},
            "reopens_on": {name: view.reopens_on.isoformat() for name, view in views if view.reopens_on is not None},
            "panel_info_visible": event.panel_info_visible,
            "substitute_hpr": event.substitute.hpr if event.substitute is not None else None,
            "caused_by": {"kind": event.caused_by.kind, "id": event.caused_by.id},
        }
        return TimelineEntry(event.office_her_id, event.practitioner_hpr, event.effective_at, "event", detail)
    if isinstance(event, AvailabilityWarning):
        detail |= {
            "code": event.code,
            "service": event.service.value if event.service is not None else None,
            "absence_id": event.absence_id,
            "substitute_hpr": event.substitute_hpr,
        }
        return TimelineEntry(event.office_her_id, event.practitioner_hpr, event.effective_at, "event", detail)
    if isinstance(event, DialogueClosed) and event.practitioner_hpr is not None:
        detail |= {"service": event.service.value, "code": event.code}
        return TimelineEntry(event.office_her_id, event.practitioner_hpr, event.closed_at, "event", detail)
    return None
