"""Thin handlers: parse → command → engine → unit of work, one per kind of inbound work.

Each handler reads and stages through the batch's unit of work and returns the `Receipt` that
says what became of the item. Bad input is an ordinary outcome here (an AppRec, an error-queue
report or an invalid-path message, and a logged reason); only a bug raises.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ..domain import engine
from ..domain.events import Event
from ..domain.model import DialogueNote
from ..domain.state import PairState
from ..messages.absences import AbsenceRejected, parse_absence
from ..messages.apprec import build_apprec, build_error_report
from ..messages.envelope import Envelope
from ..messages.errors import InboundError
from ..messages.inbound import parse_message
from ..messages.xmlsafe import Limits
from ..store.base import OutboxMessage, PairKey
from .unit_of_work import BatchUnitOfWork

log = logging.getLogger("ddfl.service")

ReceiptStatus = Literal["OK", "DUPLICATE", "REJECTED", "ERROR_QUEUE"]

#: The inbox "sender" of absence commands: Tilpass Helsenorge has no HER-id on this path.
ABSENCE_SENDER = "tilpass-helsenorge"


@dataclass(frozen=True)
class Receipt:
    """What became of one inbound item: the contract's `--receipts` line."""

    kind: Literal["xml", "absence"]
    id: str | None
    status: ReceiptStatus
    codes: list[str] = field(default_factory=list)
    error_condition: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Routing:
    """Where the worker publishes what it produces; all names are configurable."""

    own_her_id: int = 8093244
    portal_queue: str = "portal.availability"
    absence_invalid_queue: str = "tilpass-helsenorge.absences.invalid"
    limits: Limits = field(default_factory=Limits)

    @staticmethod
    def receipts_queue(her_id: int) -> str:
        return f"{her_id}_async"

    @staticmethod
    def errors_queue(her_id: int) -> str:
        return f"{her_id}_error"


def event_message(event: Event, routing: Routing) -> OutboxMessage:
    """A portal event as published: JSON, AMQP message id = event_id (stable across crashes)."""
    return OutboxMessage(
        routing_key=routing.portal_queue,
        message_id=event.event_id,
        body=event.model_dump_json(by_alias=True).encode(),
        headers={"type": event.type},
        content_type="application/json",
    )


def _stage_events(uow: BatchUnitOfWork, events: Sequence[Event], routing: Routing) -> None:
    uow.staged.outbox.extend(event_message(e, routing) for e in events)


def _stage_outcome(uow: BatchUnitOfWork, outcome: engine.Outcome, office_her_id: int, routing: Routing) -> None:
    if outcome.office is not None:
        uow.staged.offices[outcome.office.her_id] = outcome.office
    for pair in outcome.pairs:
        uow.staged.pairs[pair.key] = pair
    uow.staged.closed |= {(office_her_id, ref) for ref in outcome.closed_conversations}
    _stage_events(uow, outcome.events, routing)


# ---------------------------------------------------------------------------------------------
# XML from EPJ and AR
# ---------------------------------------------------------------------------------------------


async def handle_xml(
    uow: BatchUnitOfWork, body: bytes, headers: Mapping[str, Any] | None, now: dt.datetime, routing: Routing
) -> Receipt:
    try:
        inbound = parse_message(body, now=now, headers=headers, limits=routing.limits, own_her_id=routing.own_her_id)
    except InboundError as error:
        return await _refuse_xml(uow, error, headers, now, routing)

    envelope, command = inbound.envelope, inbound.command
    sender = str(envelope.sender_her_id)
    if (duplicate := await _duplicate(uow, sender, envelope.msg_id)) is not None:
        return duplicate

    office = await uow.office(envelope.sender_her_id)
    if isinstance(command, DialogueNote):
        closed = await uow.conversation_closed(office.her_id, command.conversation_ref)
        outcome = engine.note_dialogue(office, command, closed, now)
    else:
        pairs = await uow.pairs(office.her_id, engine.pairs_needed(office, command))
        outcome = engine.apply(office, pairs, command, now)
    _stage_outcome(uow, outcome, office.her_id, routing)

    rejection = outcome.rejection
    if rejection is None:
        receipt, errors = Receipt("xml", envelope.msg_id, "OK"), []
    else:
        log.info(
            "message rejected",
            extra={
                "event": f"DDFL-{rejection.code}-REJECTED",
                "msg_id": envelope.msg_id,
                "sender": sender,
                "reason": rejection.reason,
            },
        )
        receipt, errors = (
            Receipt("xml", envelope.msg_id, "REJECTED", [rejection.code]),
            [(rejection.code, rejection.reason)],
        )
    _answer(uow, envelope, receipt, errors, now, routing)
    return receipt


def _answer(
    uow: BatchUnitOfWork,
    envelope: Envelope,
    receipt: Receipt,
    errors: list[tuple[str, str]],
    now: dt.datetime,
    routing: Routing,
) -> None:
    """R15: an AppRec when the message asked for one; remembered with the receipt in the inbox,
    so a duplicate (same sender, same MsgId) is answered with the very same AppRec."""
    reply = None
    if envelope.ack_requested:
        reply = OutboxMessage(
            routing_key=routing.receipts_queue(envelope.sender_her_id),
            message_id=f"apprec-{envelope.msg_id}",
            body=build_apprec(envelope, ok=not errors, errors=errors, gen_date=now, own_her_id=routing.own_her_id),
            content_type="application/xml",
            headers={"fromHerId": routing.own_her_id, "toHerId": envelope.sender_her_id},
        )
        uow.staged.outbox.append(reply)
    record = {"receipt": receipt.to_json(), "reply": _reply_record(reply)}
    uow.staged.inbox[(str(envelope.sender_her_id), envelope.msg_id)] = json.dumps(record)


def _reply_record(reply: OutboxMessage | None) -> dict[str, Any] | None:
    if reply is None:
        return None
    return {
        "routing_key": reply.routing_key,
        "message_id": reply.message_id,
        "body": reply.body.decode(),
        "headers": dict(reply.headers),
        "content_type": reply.content_type,
    }


async def _duplicate(uow: BatchUnitOfWork, sender: str, msg_id: str) -> Receipt | None:
    """R12/R15: a message seen before changes nothing and gets the first one's AppRec again."""
    recorded = await uow.inbox_get(sender, msg_id)
    if recorded is None:
        return None
    first = json.loads(recorded)
    log.info("duplicate message", extra={"event": "DDFL-DUPLICATE", "msg_id": msg_id, "sender": sender})
    if (reply := first["reply"]) is not None:
        uow.staged.outbox.append(
            OutboxMessage(
                routing_key=reply["routing_key"],
                # a fresh transport id (the outbox publishes an id once); the AppRec inside is the same
                message_id=f"{reply['message_id']}-again-{uuid.uuid4().hex}",
                body=reply["body"].encode(),
                headers=reply["headers"],
                content_type=reply["content_type"],
            )
        )
    receipt = first["receipt"]
    return Receipt("xml", msg_id, "DUPLICATE", receipt["codes"], receipt["error_condition"])


async def _refuse_xml(
    uow: BatchUnitOfWork, error: InboundError, headers: Mapping[str, Any] | None, now: dt.datetime, routing: Routing
) -> Receipt:
    envelope = error.envelope
    msg_id = envelope.msg_id if envelope is not None else None
    log.warning(
        "message refused",
        extra={
            "event": error.event_id,
            "code": error.code,
            "msg_id": msg_id,
            "sender": error.reported_sender,
            "reason": error.description,
        },
    )
    if error.error_condition is None and envelope is not None:
        if (duplicate := await _duplicate(uow, str(envelope.sender_her_id), envelope.msg_id)) is not None:
            return duplicate
        receipt = Receipt("xml", msg_id, "REJECTED", [error.code])
        _answer(uow, envelope, receipt, [(error.code, error.description)], now, routing)
        return receipt

    # Not readable, or not to be trusted: report on the sender's error queue when we know whom.
    original_id = msg_id or _header(headers, "message_id")
    if error.reported_sender is not None:
        body, report_headers = build_error_report(error, original_message_id=original_id)
        uow.staged.outbox.append(
            OutboxMessage(
                routing_key=routing.errors_queue(error.reported_sender),
                message_id=f"error-{original_id or _digest(body)}-{error.code}",
                body=body,
                headers=report_headers,
                content_type="application/json",
            )
        )
    return Receipt("xml", msg_id, "ERROR_QUEUE", [error.code], error.error_condition)


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    value = (headers or {}).get(name)
    return str(value) if value is not None else None


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


# ---------------------------------------------------------------------------------------------
# Absence commands from Tilpass Helsenorge
# ---------------------------------------------------------------------------------------------


async def handle_absence(uow: BatchUnitOfWork, body: bytes, now: dt.datetime, routing: Routing) -> Receipt:
    digest = _digest(body)  # no MsgId on this path: the same command is the same bytes
    if (recorded := await uow.inbox_get(ABSENCE_SENDER, digest)) is not None:
        first = json.loads(recorded)["receipt"]
        return Receipt("absence", first["id"], "DUPLICATE", first["codes"])
    try:
        command = parse_absence(body)
    except AbsenceRejected as refusal:
        receipt = _refuse_absence(uow, refusal.absence_id, refusal.reason, refusal.description, body, routing)
    else:
        office = await uow.office(command.office_her_id)
        pairs = await uow.pairs(office.her_id, engine.pairs_needed(office, command))
        outcome = engine.apply(office, pairs, command, now)
        if outcome.rejection is not None:
            rejection = outcome.rejection
            receipt = _refuse_absence(uow, command.absence_id, rejection.code, rejection.reason, body, routing)
        else:
            _stage_outcome(uow, outcome, office.her_id, routing)
            receipt = Receipt("absence", command.absence_id, "OK")
    uow.staged.inbox[(ABSENCE_SENDER, digest)] = json.dumps({"receipt": receipt.to_json(), "reply": None})
    return receipt


def _refuse_absence(
    uow: BatchUnitOfWork, absence_id: str | None, reason: str, description: str, body: bytes, routing: Routing
) -> Receipt:
    """R14: an invalid command changes nothing; its reason goes to the log and the invalid path."""
    log.warning(
        "absence command refused",
        extra={"event": f"DDFL-ABSENCE-{reason.upper()}", "absence_id": absence_id, "reason": description},
    )
    uow.staged.outbox.append(
        OutboxMessage(
            routing_key=routing.absence_invalid_queue,
            message_id=f"invalid-{_digest(body)}",
            body=body,
            headers={"reason": reason, "description": description},
            content_type="application/json",
        )
    )
    return Receipt("absence", absence_id, "REJECTED", [reason])


# ---------------------------------------------------------------------------------------------
# The clock
# ---------------------------------------------------------------------------------------------


async def handle_tick(uow: BatchUnitOfWork, key: PairKey, until: dt.datetime, routing: Routing) -> int:
    """R11: publish the time-driven changes of one pair due by `until`; returns how many events."""
    pair: PairState | None = await uow.pair(key)
    if pair is None:
        return 0
    pair, events = engine.tick(pair, until)
    uow.staged.pairs[key] = pair
    _stage_events(uow, events, routing)
    return len(events)
