"""Reads the MsgHead 1.2 envelope: what the adapter needs to decide and to answer.

The official MsgHead schema is not shipped with the adapter, so every field read here is checked
here; a message without what an AppRec needs (type, GenDate, MsgId, sender HER-id) cannot be
answered with one and goes to the sender's error queue instead.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from lxml import etree

from adapter.domain.calendar import OSLO
from adapter.domain.model import MessageRef
from adapter.messages.errors import UnreadableEnvelope
from adapter.messages.identifiers import HER_ID_PATTERN
from adapter.messages.namespaces import MSGHEAD_NS
from adapter.topology import HELSENORGE_HER_ID

__all__ = ["HELSENORGE_HER_ID", "MIG_VERSION", "MSGHEAD_NS", "NS", "OSLO", "Envelope", "read_envelope"]

MIG_VERSION = "v1.2 2006-05-24"
NS = {"mh": MSGHEAD_NS}

_DATETIME = re.compile(r"-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")


@dataclass(frozen=True)
class Envelope:
    """The MsgHead fields the adapter acts on and answers to."""

    msg_type: str
    msg_id: str
    gen_date: dt.datetime
    ack_requested: bool
    sender_her_id: int
    #: As written in the message: checked against the HPR format by whoever needs it.
    sender_hpr: str | None
    receiver_her_id: int | None
    conversation_ref: str | None
    #: The sending organisation's OrganisationName (an office's name: "Lysaker legesenter").
    sender_name: str | None = None

    @property
    def message_ref(self) -> MessageRef:
        return MessageRef(msg_id=self.msg_id, gen_date=self.gen_date, sender_her_id=self.sender_her_id)


def read_envelope(msghead: etree._Element) -> Envelope:
    """Read the envelope of a MsgHead root element, or raise `UnreadableEnvelope`."""
    info = msghead.find("mh:MsgInfo", NS)
    if info is None:
        raise UnreadableEnvelope("MsgHead has no MsgInfo")
    msg_type = _attribute(info.find("mh:Type", NS), "V")
    if not msg_type:
        raise UnreadableEnvelope("MsgInfo/Type has no V")
    msg_id = _text(info.find("mh:MsgId", NS))
    if not msg_id:
        raise UnreadableEnvelope("MsgInfo/MsgId is missing or empty")
    gen_date = parse_datetime(_text(info.find("mh:GenDate", NS)))
    if gen_date is None:
        raise UnreadableEnvelope("MsgInfo/GenDate is missing or not an xs:dateTime")
    sender = _office(info.find("mh:Sender", NS))
    sender_her_id = _her_id(sender)
    if sender_her_id is None:
        raise UnreadableEnvelope("the sender organisation has no valid HER-id")
    professional = _professional(info.find("mh:Sender", NS))
    return Envelope(
        msg_type=msg_type,
        msg_id=msg_id,
        gen_date=gen_date,
        ack_requested=_attribute(info.find("mh:Ack", NS), "V") == "J",
        sender_her_id=sender_her_id,
        sender_hpr=_ident(professional, "HPR"),
        receiver_her_id=_her_id(_office(info.find("mh:Receiver", NS))),
        conversation_ref=_text(info.find("mh:ConversationRef/mh:RefToConversation", NS)),
        sender_name=_text(sender.find("mh:OrganisationName", NS)) if sender is not None else None,
    )


def mig_version(msghead: etree._Element) -> str | None:
    return _text(msghead.find("mh:MsgInfo/mh:MIGversion", NS))


def patient_idents(msghead: etree._Element) -> list[tuple[str, str]]:
    """(TypeId V, Id) of each `Patient/Ident`; personal data, so never log what this returns."""
    idents = msghead.iterfind("mh:MsgInfo/mh:Patient/mh:Ident", NS)
    return [
        (_attribute(ident.find("mh:TypeId", NS), "V") or "", _text(ident.find("mh:Id", NS)) or "") for ident in idents
    ]


def parse_datetime(value: str | None) -> dt.datetime | None:
    """An xs:dateTime as an aware datetime; one without an offset is Oslo time, as KITH intends."""
    if value is None or not _DATETIME.fullmatch(value):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=OSLO)


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _attribute(element: etree._Element | None, name: str) -> str | None:
    if element is None:
        return None
    return (element.get(name) or "").strip() or None


def _ident(holder: etree._Element | None, type_id: str) -> str | None:
    """The Id of the holder's first `Ident` whose TypeId V is `type_id`."""
    if holder is None:
        return None
    for ident in holder.iterfind("mh:Ident", NS):
        if _attribute(ident.find("mh:TypeId", NS), "V") == type_id:
            return _text(ident.find("mh:Id", NS))
    return None


def _her_id(organisation: etree._Element | None) -> int | None:
    value = _ident(organisation, "HER")
    return int(value) if value and HER_ID_PATTERN.fullmatch(value) else None


def _organisations(party: etree._Element | None) -> list[etree._Element]:
    """A Sender's or Receiver's organisations, outermost first."""
    chain = []
    organisation = party.find("mh:Organisation", NS) if party is not None else None
    while organisation is not None:
        chain.append(organisation)
        organisation = organisation.find("mh:Organisation", NS)
    return chain


def _office(party: etree._Element | None) -> etree._Element | None:
    """The organisation a party speaks for: the one holding the HealthcareProfessional, else the
    innermost one. Organisations without a HER-id are passed over (KITH allows empty levels)."""
    with_her_id = [org for org in _organisations(party) if _her_id(org) is not None]
    holding = [org for org in with_her_id if org.find("mh:HealthcareProfessional", NS) is not None]
    chosen = holding or with_her_id
    return chosen[-1] if chosen else None


def _professional(party: etree._Element | None) -> etree._Element | None:
    """The innermost HealthcareProfessional of a party's organisations."""
    professionals = [
        professional
        for org in _organisations(party)
        if (professional := org.find("mh:HealthcareProfessional", NS)) is not None
    ]
    return professionals[-1] if professionals else None
