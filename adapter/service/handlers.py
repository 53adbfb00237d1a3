"""Handlers, registered by command type: load → decide → stage, inside the batch's transaction.

Two mappings, one per level. `COMMAND_HANDLERS` maps what the edge made of a delivery (see
`commands`) to its handler: it deduplicates against the inbox, asks a decider and answers (AppRec,
error-queue report, invalid path). `DECIDERS` maps each domain command to how it is decided: which
states it loads and which engine function it calls. Adding an inbound kind is a parser, a
command, a decider and one `@decides` line. Bad input is an ordinary outcome here (an AppRec, an
error-queue report or an invalid-path message, and a logged reason); only a bug raises.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

from ..domain import booking, engine
from ..domain.events import CLOCK, AvailabilityChanged, Cause, Event
from ..domain.model import DeleteAbsence, DialogueNote, RegisterAbsence, ReplaceRoster, ReportServiceStatus
from ..domain.state import OfficeState, PairState
from ..messages.apprec import build_apprec, build_error_report
from ..messages.envelope import Envelope
from ..store.base import OutboxMessage
from . import timeline
from .commands import (
    AbsenceMessage,
    AbsenceRefused,
    Command,
    ResyncRefused,
    Tick,
    XmlMessage,
    XmlRefused,
    digest,
)
from .routing import Routing
from .unit_of_work import BatchUnitOfWork

__all__ = ["COMMAND_HANDLERS", "DECIDERS", "Done", "Receipt", "Routing", "handle"]

log = logging.getLogger("ddfl.service")

ReceiptStatus = Literal["OK", "DUPLICATE", "REJECTED", "ERROR_QUEUE"]

#: The inbox "sender" of absence commands: Tilpass Helsenorge has no HER-id on this path.
ABSENCE_SENDER = "tilpass-helsenorge"
#: The inbox "sender" of the portal's resync requests (valid ones by request id, refused ones by
#: their bytes' digest).
RESYNC_SENDER = "resync"


@dataclass(frozen=True)
class Receipt:
    """What became of one inbound item: the contract's `--receipts` line."""

    kind: Literal["xml", "absence", "resync"]
    id: str | None
    status: ReceiptStatus
    codes: list[str] = field(default_factory=list)
    error_condition: str | None = None

    def to_json(self) -> dict[str, Any]:
        # not dataclasses.asdict: its deep copy cost more than the rest of handling an AppRec
        return {name: getattr(self, name) for name in _RECEIPT_FIELDS} | {"codes": list(self.codes)}


_RECEIPT_FIELDS = tuple(f.name for f in fields(Receipt))


@dataclass(frozen=True)
class Done:
    """How an item ended: `ok` items are acknowledged; the others are handed back for redelivery."""

    ok: bool
    receipt: Receipt | None = None
    events: int = 0
    error_id: str | None = None
    #: how many of its outbox rows were not portal events (AppRecs, error reports): a replay split
    #: over processes puts each back in its item's place
    replies: int = 0


# ---------------------------------------------------------------------------------------------
# Deciders: one per domain command, registered by its type
# ---------------------------------------------------------------------------------------------

Decider = Callable[[BatchUnitOfWork, OfficeState, Any, dt.datetime], Awaitable[engine.Outcome]]
DECIDERS: dict[type, Decider] = {}
D = TypeVar("D", bound=Decider)


def decides(*command_types: type) -> Callable[[D], D]:
    """Register a decider for these domain command types."""

    def register(decider: D) -> D:
        for command_type in command_types:
            DECIDERS[command_type] = decider
        return decider

    return register


@decides(ReportServiceStatus, ReplaceRoster, RegisterAbsence, DeleteAbsence)
async def _apply_to_pairs(
    uow: BatchUnitOfWork,
    office: OfficeState,
    command: ReportServiceStatus | ReplaceRoster | RegisterAbsence | DeleteAbsence,
    now: dt.datetime,
) -> engine.Outcome:
    """Commands about practitioners: load the pairs the engine names, then apply."""
    pairs = await uow.pairs(office.her_id, engine.pairs_needed(office, command))
    return engine.apply(office, pairs, command, now)


@decides(DialogueNote)
async def _note_dialogue(
    uow: BatchUnitOfWork, office: OfficeState, command: DialogueNote, now: dt.datetime
) -> engine.Outcome:
    """R7: a dialogue note needs only whether its conversation is already closed."""
    closed = await uow.conversation_closed(office.her_id, command.conversation_ref)
    return engine.note_dialogue(office, command, closed, now)


async def _decide(uow: BatchUnitOfWork, office: OfficeState, command: object, now: dt.datetime) -> engine.Outcome:
    decider = DECIDERS.get(type(command))
    if decider is None:
        raise TypeError(f"no decider registered for {type(command).__name__}")
    return await decider(uow, office, command, now)


async def _stage_outcome(
    uow: BatchUnitOfWork, outcome: engine.Outcome, before: OfficeState, now: dt.datetime, cause: Cause
) -> None:
    if outcome.office is not None:
        uow.save_office(outcome.office)
    for pair in outcome.pairs:
        uow.save_pair(pair)
    for ref in outcome.closed_conversations:
        uow.close_conversation(before.her_id, ref)
    for event in outcome.events:
        uow.publish_event(event)
    await _follow_booking_list(uow, before, outcome.pairs, outcome.events, now, cause)


async def _follow_booking_list(
    uow: BatchUnitOfWork,
    before: OfficeState,
    pairs: Iterable[PairState],
    events: Iterable[Event],
    now: dt.datetime,
    cause: Cause,
) -> int:
    """Issue 12: publish the office's booking list when this item changed it (`domain/booking.py`);
    returns how many events that made (0 or 1).

    Only a new roster, or a pair whose lines on the list differ from the ones last published,
    rebuilds it: then what every practitioner's pair of the office shows at the item's instant is
    read through the unit of work (`availabilities_at`: a pair with no change due by then only by
    its published part, as `booking.booking_list_at` defines the list), and the list compared
    whole, so an unrelated change publishes nothing. Per item, not per batch, so what is published does not
    depend on how deliveries were batched.
    """
    office = await uow.office(before.her_id)  # as this item left it
    if office.roster == before.roster and not any(
        booking.changes_with(office, pair.facts.practitioner_hpr, pair.published) for pair in pairs
    ):
        return 0
    at = max((e.effective_at for e in events if isinstance(e, AvailabilityChanged)), default=now)
    listed = booking.booking_list(office, await uow.availabilities_at(office.her_id, set(office.roster or {}), at))
    office, event = booking.publish(office, listed, at, cause)
    if event is None:
        return 0
    uow.save_office(office)
    uow.publish_event(event)
    return 1


# ---------------------------------------------------------------------------------------------
# XML from EPJ and AR
# ---------------------------------------------------------------------------------------------


async def handle_xml(uow: BatchUnitOfWork, item: XmlMessage, now: dt.datetime, routing: Routing) -> Done:
    envelope, command = item.envelope, item.command
    sender = str(envelope.sender_her_id)
    if (duplicate := await _duplicate(uow, sender, envelope.msg_id)) is not None:
        return Done(ok=True, receipt=duplicate)

    office = await uow.office(envelope.sender_her_id)
    outcome = await _decide(uow, office, command, now)
    if uow.keeps_timeline:
        uow.record_timeline(timeline.message_entries(envelope, command, outcome, now))
    await _stage_outcome(uow, outcome, office, now, Cause(kind="message", id=envelope.msg_id))

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
    return Done(ok=True, receipt=receipt)


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
        uow.reply(reply)
    record = {"receipt": receipt.to_json(), "reply": _reply_record(reply)}
    body = reply.body if reply is not None else None
    uow.record_receipt(str(envelope.sender_her_id), envelope.msg_id, json.dumps(record), body)


def _reply_record(reply: OutboxMessage | None) -> dict[str, Any] | None:
    """Where the reply went and how; its body is stored once, beside the record (InboxEntry)."""
    if reply is None:
        return None
    return {
        "routing_key": reply.routing_key,
        "message_id": reply.message_id,
        "headers": dict(reply.headers),
        "content_type": reply.content_type,
    }


async def _duplicate(uow: BatchUnitOfWork, sender: str, msg_id: str) -> Receipt | None:
    """R12/R15: a message seen before changes nothing and gets the first one's AppRec again."""
    entry = await uow.inbox_entry(sender, msg_id)
    if entry is None:
        return None
    first = json.loads(entry.outcome)
    log.info("duplicate message", extra={"event": "DDFL-DUPLICATE", "msg_id": msg_id, "sender": sender})
    if (reply := first["reply"]) is not None:
        uow.reply(
            OutboxMessage(
                routing_key=reply["routing_key"],
                # a fresh transport id (the outbox publishes an id once); the AppRec inside is the same
                message_id=f"{reply['message_id']}-again-{uuid.uuid4().hex}",
                # rows written before the body was kept beside the record carry it inside
                body=entry.reply_body if entry.reply_body is not None else reply["body"].encode(),
                headers=reply["headers"],
                content_type=reply["content_type"],
            )
        )
    receipt = first["receipt"]
    return Receipt("xml", msg_id, "DUPLICATE", receipt["codes"], receipt["error_condition"])


async def refuse_xml(uow: BatchUnitOfWork, item: XmlRefused, now: dt.datetime, routing: Routing) -> Done:
    error, headers = item.error, item.headers
    envelope = error.envelope
    msg_id = envelope.msg_id if envelope is not None else None
    log.warning(
        "message refused",
        extra={
            "event": error.event_id,
            "code": error.code,
            "msg_id": msg_id,
            "sender": str(error.reported_sender) if error.reported_sender is not None else None,
            "reason": error.description,
        },
    )
    if error.error_condition is None and envelope is not None:
        if (duplicate := await _duplicate(uow, str(envelope.sender_her_id), envelope.msg_id)) is not None:
            return Done(ok=True, receipt=duplicate)
        receipt = Receipt("xml", msg_id, "REJECTED", [error.code])
        _answer(uow, envelope, receipt, [(error.code, error.description)], now, routing)
        return Done(ok=True, receipt=receipt)

    # Not readable, or not to be trusted: report on the sender's error queue when we know whom.
    original_id = msg_id or _header(headers, "message_id")
    if error.reported_sender is not None:
        body, report_headers = build_error_report(error, original_message_id=original_id)
        uow.reply(
            OutboxMessage(
                routing_key=routing.errors_queue(error.reported_sender),
                message_id=f"error-{original_id or digest(body)}-{error.code}",
                body=body,
                headers=report_headers,
                content_type="application/json",
            )
        )
    return Done(ok=True, receipt=Receipt("xml", msg_id, "ERROR_QUEUE", [error.code], error.error_condition))


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    value = (headers or {}).get(name)
    return str(value) if value is not None else None


# ---------------------------------------------------------------------------------------------
# Absence commands from Tilpass Helsenorge
# ---------------------------------------------------------------------------------------------


async def _absence_duplicate(uow: BatchUnitOfWork, key: str) -> Done | None:
    if (entry := await uow.inbox_entry(ABSENCE_SENDER, key)) is None:
        return None
    first = json.loads(entry.outcome)["receipt"]
    return Done(ok=True, receipt=Receipt("absence", first["id"], "DUPLICATE", first["codes"]))


def _record_absence(uow: BatchUnitOfWork, key: str, receipt: Receipt) -> Done:
    uow.record_receipt(ABSENCE_SENDER, key, json.dumps({"receipt": receipt.to_json(), "reply": None}))
    return Done(ok=True, receipt=receipt)


async def handle_absence(uow: BatchUnitOfWork, item: AbsenceMessage, now: dt.datetime, routing: Routing) -> Done:
    if (duplicate := await _absence_duplicate(uow, item.digest)) is not None:
        return duplicate
    command = item.command
    office = await uow.office(command.office_her_id)
    outcome = await _decide(uow, office, command, now)
    if uow.keeps_timeline:
        uow.record_timeline(timeline.absence_entries(office, command, outcome, now))
    if (rejection := outcome.rejection) is not None:
        receipt = _refuse_absence(uow, command.absence_id, rejection.code, rejection.reason, item, routing)
    else:
        await _stage_outcome(uow, outcome, office, now, Cause(kind="absence", id=command.absence_id))
        receipt = Receipt("absence", command.absence_id, "OK")
    return _record_absence(uow, item.digest, receipt)


async def refuse_absence(uow: BatchUnitOfWork, item: AbsenceRefused, now: dt.datetime, routing: Routing) -> Done:
    if (duplicate := await _absence_duplicate(uow, item.digest)) is not None:
        return duplicate
    refusal = item.refusal
    receipt = _refuse_absence(uow, refusal.absence_id, refusal.reason, refusal.description, item, routing)
    return _record_absence(uow, item.digest, receipt)


def _refuse_absence(
    uow: BatchUnitOfWork,
    absence_id: str | None,
    reason: str,
    description: str,
    item: AbsenceMessage | AbsenceRefused,
    routing: Routing,
) -> Receipt:
    """R14: an invalid command changes nothing; its reason goes to the log and the invalid path."""
    log.warning(
        "absence command refused",
        extra={"event": f"DDFL-ABSENCE-{reason.upper()}", "absence_id": absence_id, "reason": description},
    )
    uow.reply(
        OutboxMessage(
            routing_key=routing.absence_invalid_queue,
            message_id=f"invalid-{item.digest}",
            body=item.body,
            headers={"reason": reason, "description": description},
            content_type="application/json",
        )
    )
    return Receipt("absence", absence_id, "REJECTED", [reason])


# ---------------------------------------------------------------------------------------------
# The portal's resync requests (a valid one is run between batches: `service.resync`)
# ---------------------------------------------------------------------------------------------


async def refuse_resync(uow: BatchUnitOfWork, item: ResyncRefused, now: dt.datetime, routing: Routing) -> Done:
    """A request that cannot be read changes nothing: its reason to the log and, with the request
    as sent, to the invalid path; the same bytes again are not refused twice."""
    if (entry := await uow.inbox_entry(RESYNC_SENDER, item.digest)) is not None:
        first = json.loads(entry.outcome)["receipt"]
        return Done(ok=True, receipt=Receipt("resync", None, "DUPLICATE", first["codes"]))
    log.warning(
        "resync request refused",
        extra={"event": f"DDFL-RESYNC-{item.reason.upper()}", "reason": item.description},
    )
    uow.reply(
        OutboxMessage(
            routing_key=routing.resync_invalid_queue,
            message_id=f"invalid-{item.digest}",
            body=item.body,
            headers={"reason": item.reason, "description": item.description},
            content_type="application/json",
        )
    )
    receipt = Receipt("resync", None, "REJECTED", [item.reason])
    uow.record_receipt(RESYNC_SENDER, item.digest, json.dumps({"receipt": receipt.to_json(), "reply": None}))
    return Done(ok=True, receipt=receipt)


# ---------------------------------------------------------------------------------------------
# The clock
# ---------------------------------------------------------------------------------------------


async def handle_tick(uow: BatchUnitOfWork, item: Tick, now: dt.datetime, routing: Routing) -> Done:
    """R11: publish the time-driven changes of one pair due by `until`."""
    pair = await uow.pair(item.key)
    if pair is None:
        return Done(ok=True)
    pair, events, next_change_at = uow.tick(pair, item.until)
    uow.save_pair(pair, next_change_at=next_change_at)
    if events and uow.keeps_timeline:
        uow.record_timeline([timeline.clock_entry(item.key, item.until, len(events), now)])
    for event in events:
        uow.publish_event(event)
    office = await uow.office(item.key[0])
    listed = await _follow_booking_list(uow, office, (pair,), events, item.until, CLOCK)
    return Done(ok=True, events=len(events) + listed)


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------

Handler = Callable[[BatchUnitOfWork, Any, dt.datetime, Routing], Awaitable[Done]]

#: What the edge made of a delivery → its handler (`commands.Command` lists them all).
COMMAND_HANDLERS: dict[type, Handler] = {
    XmlMessage: handle_xml,
    XmlRefused: refuse_xml,
    AbsenceMessage: handle_absence,
    AbsenceRefused: refuse_absence,
    Tick: handle_tick,
    ResyncRefused: refuse_resync,
}


async def handle(uow: BatchUnitOfWork, command: Command, now: dt.datetime, routing: Routing) -> Done:
    return await COMMAND_HANDLERS[type(command)](uow, command, now, routing)
