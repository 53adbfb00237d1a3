"""The edge of the service layer: a delivery's bytes become a typed command or a typed refusal.

Parsing and schema validation are most of a message's CPU, and need nothing from the store, so
they run here — in the delivery's own coroutine, before the batch's transaction begins — and the
transaction holds only load → decide → stage → commit. Duplicate detection is not done here: it
needs the inbox, and so belongs inside the transaction (`handlers`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..domain.model import DeleteAbsence, RegisterAbsence
from ..messages.absences import AbsenceRejected, parse_absence
from ..messages.envelope import Envelope
from ..messages.errors import InboundError
from ..messages.inbound import parse_message
from ..messages.payloads import MessageCommand
from ..store.base import PairKey
from .routing import Routing


@dataclass(frozen=True)
class Work:
    """One delivery or clock tick, as it arrives: raw bytes, or a pair due at an instant.

    `parsed` is set once the edge has read it (`parse`); the processor parses any item that
    arrives without it, still before its transaction begins. `at` is the instant the item is
    processed at when it is not the processor's clock's: a replay's step, which lets one batch hold
    the steps of a whole stretch of the scenario's time.
    """

    kind: Literal["xml", "absence", "tick"]
    body: bytes = b""
    headers: Mapping[str, Any] | None = None
    key: PairKey | None = None
    until: dt.datetime | None = None
    parsed: Command | None = field(default=None, compare=False)
    at: dt.datetime | None = None


# --- what the edge makes of a delivery -------------------------------------------------------


@dataclass(frozen=True)
class XmlMessage:
    """An XML message that was read and may be trusted: its envelope (for the AppRec) and command."""

    envelope: Envelope
    command: MessageCommand


@dataclass(frozen=True)
class XmlRefused:
    """An XML message refused before deciding anything: an AppRec or an error-queue report."""

    error: InboundError
    headers: Mapping[str, Any] | None


@dataclass(frozen=True)
class AbsenceMessage:
    """A valid absence command; `digest` identifies it in the inbox (this path has no MsgId)."""

    digest: str
    body: bytes
    command: RegisterAbsence | DeleteAbsence


@dataclass(frozen=True)
class AbsenceRefused:
    """An absence command that is not valid JSON or breaks the contract (R14)."""

    digest: str
    body: bytes
    refusal: AbsenceRejected


@dataclass(frozen=True)
class Tick:
    """R11: the clock passed `until` for one pair."""

    key: PairKey
    until: dt.datetime


Command = XmlMessage | XmlRefused | AbsenceMessage | AbsenceRefused | Tick


def digest(body: bytes) -> str:
    """The identity of a message without a MsgId: the same command is the same bytes."""
    return hashlib.sha256(body).hexdigest()[:32]


def parse(work: Work, now: dt.datetime, routing: Routing) -> Command:
    """Bytes → a typed command or a typed refusal; pure but for `now`, which is given."""
    if work.parsed is not None:
        return work.parsed
    if work.kind == "xml":
        try:
            inbound = parse_message(
                work.body, now=now, headers=work.headers, limits=routing.limits, own_her_id=routing.own_her_id
            )
        except InboundError as error:
            return XmlRefused(error, work.headers)
        return XmlMessage(inbound.envelope, inbound.command)
    if work.kind == "absence":
        key = digest(work.body)
        try:
            return AbsenceMessage(key, work.body, parse_absence(work.body))
        except AbsenceRejected as refusal:
            return AbsenceRefused(key, work.body, refusal)
    if work.key is None or work.until is None:
        raise ValueError("a tick needs the pair's key and the instant")
    return Tick(work.key, work.until)


def office_of(command: Command) -> int | None:
    """The office whose state (or inbox rows) deciding `command` may touch: what a batch locks
    before its first read when several workers share one store."""
    if isinstance(command, XmlMessage):
        return command.envelope.sender_her_id
    if isinstance(command, XmlRefused):
        return command.error.envelope.sender_her_id if command.error.envelope is not None else None
    if isinstance(command, AbsenceMessage):
        return command.command.office_her_id
    if isinstance(command, Tick):
        return command.key[0]
    return None
