"""From the bytes of an inbound MsgHead message to a typed domain command, or a typed refusal.

The checks run in the order that decides how a refusal can be answered: first what makes the
message unreadable (error queue, to whoever the AMQP headers name), then whether its sender can be
trusted (R13), and only then what is answered with an AppRec to the sender office (R15).
Whether a GenDate lies too far ahead of the clock (R1, X99) is the domain's rule, decided where
the command is applied (`adapter.domain.engine.clock_refusal`), not here.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from adapter.messages.envelope import (
    HELSENORGE_HER_ID,
    MIG_VERSION,
    MSGHEAD_NS,
    NS,
    Envelope,
    mig_version,
    patient_idents,
    read_envelope,
)
from adapter.messages.errors import (
    InboundError,
    InvalidMessage,
    InvalidPatientId,
    NotMsgHead,
    PractitionerNotIdentified,
    ReceiverUnknown,
    SpoofedSender,
    UnsupportedMessageType,
)
from adapter.messages.identifiers import is_valid_person_number
from adapter.messages.payloads import MAPPERS, MessageCommand
from adapter.messages.privacy import PersonalDataFilter
from adapter.messages.xmlsafe import Limits, parse_xml

_HPR = re.compile(r"[0-9]{6,9}")
_HER_ID = re.compile(r"[0-9]{1,9}")

_log = logging.getLogger(__name__)
_log.addFilter(PersonalDataFilter())


@dataclass(frozen=True)
class Inbound:
    """An accepted message: its envelope (for the receipt) and the command it carries."""

    envelope: Envelope
    command: MessageCommand


def parse_message(
    body: bytes,
    *,
    now: dt.datetime,
    headers: Mapping[str, object] | None = None,
    limits: Limits | None = None,
    own_her_id: int = HELSENORGE_HER_ID,
) -> Inbound:
    """Parse and check one message from `{own_her_id}_async`; raise an `InboundError` to refuse it.

    `now` is the adapter's clock (never read here); `headers` are the AMQP application headers,
    of which `fromHerId` is checked against the MsgHead sender.
    """
    if now.utcoffset() is None:
        raise ValueError("now must carry a UTC offset")
    claimed_sender = (headers or {}).get("fromHerId")
    # A refusal propagates as its typed error; the service layer logs it once, with its event id.
    inbound = _parse(body, now, claimed_sender, limits or Limits(), own_her_id)
    envelope = inbound.envelope
    _log.debug("accepted %s %s from HER-id %s", envelope.msg_type, envelope.msg_id, envelope.sender_her_id)
    return inbound


def _parse(body: bytes, now: dt.datetime, claimed_sender: object, limits: Limits, own_her_id: int) -> Inbound:
    header_sender = _her_id(claimed_sender)
    try:
        msghead = parse_xml(body, limits)
        if msghead.tag != f"{{{MSGHEAD_NS}}}MsgHead":
            raise NotMsgHead(f"the root element is {etree.QName(msghead).localname}, not a MsgHead 1.2")
        envelope = read_envelope(msghead)
    except InboundError as error:
        error.reported_sender = header_sender
        raise
    if claimed_sender is not None and header_sender != envelope.sender_her_id:
        raise SpoofedSender(
            f"the AMQP header fromHerId does not match the MsgHead sender HER-id {envelope.sender_her_id}",
            envelope=envelope,
            reported_sender=header_sender,
        )
    if envelope.receiver_her_id != own_her_id:
        raise ReceiverUnknown(
            f"the receiver HER-id is {envelope.receiver_her_id}, not {own_her_id}",
            envelope=envelope,
        )
    if envelope.msg_type not in MAPPERS:
        raise UnsupportedMessageType(f"message type {envelope.msg_type} is not supported", envelope=envelope)
    if mig_version(msghead) != MIG_VERSION:
        raise InvalidMessage(f"MIGversion must be {MIG_VERSION!r}", envelope=envelope)
    for kind, value in patient_idents(msghead):
        if kind in ("FNR", "DNR") and not is_valid_person_number(value, kind):
            raise InvalidPatientId(f"the patient's {kind} fails the mod-11 check", envelope=envelope)
    if envelope.sender_hpr is not None and not _HPR.fullmatch(envelope.sender_hpr):
        raise PractitionerNotIdentified("the sender's HPR-nummer is not 6 to 9 digits", envelope=envelope)
    namespace, mapper = MAPPERS[envelope.msg_type]
    return Inbound(envelope=envelope, command=mapper(_payload(msghead, namespace, envelope), envelope))


def _payload(msghead: etree._Element, namespace: str, envelope: Envelope) -> etree._Element:
    """The single element in the single Document/RefDoc/Content, in the namespace its type needs."""
    documents = msghead.findall("mh:Document", NS)
    if len(documents) != 1:
        raise InvalidMessage(f"expected one Document, found {len(documents)}", envelope=envelope)
    content = documents[0].find("mh:RefDoc/mh:Content", NS)
    payload = list(content) if content is not None else []
    if len(payload) != 1:
        raise InvalidMessage("Document/RefDoc/Content must hold exactly one element", envelope=envelope)
    if etree.QName(payload[0]).namespace != namespace:
        raise InvalidMessage(f"a {envelope.msg_type} payload must be in namespace {namespace}", envelope=envelope)
    return payload[0]


def _her_id(value: object) -> int | None:
    """A HER-id from an AMQP header value (int, str or bytes), None when it is none."""
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 0 else None
    if isinstance(value, str) and _HER_ID.fullmatch(value.strip()):
        return int(value)
    return None
