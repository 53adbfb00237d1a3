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
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ..domain.model import DeleteAbsence, RegisterAbsence
from ..messages.absences import AbsenceRejected, parse_absence
from ..messages.envelope import Envelope
from ..messages.errors import InboundError
from ..messages.identifiers import is_her_id
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

    kind: Literal["xml", "absence", "tick", "resync"]
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


#: What a resync request's `request_id` may be: it becomes part of event ids and AMQP message ids.
RESYNC_REQUEST_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def _her_id(value: int | None) -> int | None:
    if value is not None and not is_her_id(value):
        raise ValueError("not a HER-id")
    return value


class ResyncRequest(BaseModel):
    """The portal asks for what is true now: of one office, or (`office_her_id` null) of every
    pair. The key is required either way, so a request that forgot it does not resync the country."""

    model_config = ConfigDict(frozen=True, extra="ignore", title="resync.requested")

    type: Literal["resync.requested"]
    request_id: str = Field(
        pattern=RESYNC_REQUEST_ID,
        description="The portal's id of the request (a UUID, say): names its snapshots and its "
        "resync.completed; a request id seen before changes nothing.",
    )
    office_her_id: Annotated[int | None, AfterValidator(_her_id)] = Field(
        strict=True,
        description="The office's HER-id, or null for every pair the adapter holds.",
    )


@dataclass(frozen=True)
class ResyncRequested:
    """A valid resync request: handled by the single writer between batches (`service.resync`)."""

    request: ResyncRequest


@dataclass(frozen=True)
class ResyncRefused:
    """A resync request that cannot be read: it goes to the invalid path with its reason."""

    digest: str
    body: bytes
    reason: str
    description: str


@dataclass(frozen=True)
class Tick:
    """R11: the clock passed `until` for one pair."""

    key: PairKey
    until: dt.datetime


Command = XmlMessage | XmlRefused | AbsenceMessage | AbsenceRefused | Tick | ResyncRequested | ResyncRefused


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
    if work.kind == "resync":
        return parse_resync(work.body)
    if work.key is None or work.until is None:
        raise ValueError("a tick needs the pair's key and the instant")
    return Tick(work.key, work.until)


def parse_resync(body: bytes) -> ResyncRequested | ResyncRefused:
    """A resync request's bytes → the request, or a refusal with a reason key (the catalogue's
    `RESYNC_REASONS`) and a description naming the field, never quoting the input."""
    try:
        return ResyncRequested(ResyncRequest.model_validate_json(body))
    except ValidationError as error:
        reason, description = _resync_refusal(error)
    return ResyncRefused(digest(body), body, reason, description)


def _resync_refusal(error: ValidationError) -> tuple[str, str]:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    kind = first["type"]
    if kind in ("json_invalid", "json_type", "model_type") or not where:
        return "invalid_json", "not a JSON object"
    if kind == "missing":
        return "missing_field", f"{where} is missing"
    if where == "type":
        return "unknown_type", "type is not resync.requested"
    return "invalid_field", f"{where}: {first['msg']}"


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
