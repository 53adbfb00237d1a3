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
    info = _first(_children(msghead), "MsgInfo")
    if info is None:
        raise UnreadableEnvelope("MsgHead has no MsgInfo")
    fields = _children(info)
    msg_type = _attribute(_first(fields, "Type"), "V")
    if not msg_type:
        raise UnreadableEnvelope("MsgInfo/Type has no V")
    msg_id = _text(_first(fields, "MsgId"))
    if not msg_id:
        raise UnreadableEnvelope("MsgInfo/MsgId is missing or empty")
    gen_date = parse_datetime(_text(_first(fields, "GenDate")))
    if gen_date is None:
        raise UnreadableEnvelope("MsgInfo/GenDate is missing or not an xs:dateTime")
    senders = _organisations(_first(fields, "Sender"))
    sender = _office(senders)
    sender_her_id = _her_id(sender)
    if sender_her_id is None:
        raise UnreadableEnvelope("the sender organisation has no valid HER-id")
    professional = _professional(senders)
    return Envelope(
        msg_type=msg_type,
        msg_id=msg_id,
        gen_date=gen_date,
        ack_requested=_attribute(_first(fields, "Ack"), "V") == "J",
        sender_her_id=sender_her_id,
        sender_hpr=_ident(_children(professional), "HPR"),
        receiver_her_id=_her_id(_office(_organisations(_first(fields, "Receiver")))),
        conversation_ref=_text(_grandchild(fields, "ConversationRef", "RefToConversation")),
        sender_name=_text(_first(sender, "OrganisationName")),
    )


def mig_version(msghead: etree._Element) -> str | None:
    return _text(_grandchild(_children(msghead), "MsgInfo", "MIGversion"))


def patient_idents(msghead: etree._Element) -> list[tuple[str, str]]:
    """(TypeId V, Id) of each `Patient/Ident`; personal data, so never log what this returns."""
    return [
        (_attribute(_first(fields, "TypeId"), "V") or "", _text(_first(fields, "Id")) or "")
        for info in _all(_children(msghead), "MsgInfo")
        for patient in _all(_children(info), "Patient")
        for ident in _all(_children(patient), "Ident")
        for fields in (_children(ident),)
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


#: An element's children by tag (Clark notation), each tag's in document order: one pass over
#: the children answers every lookup of them. `find("mh:X", NS)` parsed an ElementPath per
#: lookup: a message's envelope cost about 97 µs that way, 7 % of the worker's CPU per message
#: (issue 14).
_Children = dict[object, list[etree._Element]]

_MH = f"{{{MSGHEAD_NS}}}"


def _children(parent: etree._Element | None) -> _Children:
    found: _Children = {}
    if parent is not None:
        for child in parent:
            if (same := found.get(child.tag)) is None:
                found[child.tag] = [child]
            else:
                same.append(child)
    return found


def _all(children: _Children, name: str) -> list[etree._Element]:
    """Every MsgHead child `name` (`iterfind("mh:name", NS)`)."""
    return children.get(_MH + name, [])


def _first(children: _Children, name: str) -> etree._Element | None:
    """The first MsgHead child `name` (`find("mh:name", NS)`)."""
    same = children.get(_MH + name)
    return same[0] if same else None


def _grandchild(children: _Children, name: str, inner: str) -> etree._Element | None:
    """The first `inner` child of any `name` child (`find("mh:name/mh:inner", NS)`)."""
    for middle in _all(children, name):
        if (found := _first(_children(middle), inner)) is not None:
            return found
    return None


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _attribute(element: etree._Element | None, name: str) -> str | None:
    if element is None:
        return None
    return (element.get(name) or "").strip() or None


def _ident(holder: _Children, type_id: str) -> str | None:
    """The Id of the holder's first `Ident` whose TypeId V is `type_id`."""
    for ident in _all(holder, "Ident"):
        fields = _children(ident)
        if _attribute(_first(fields, "TypeId"), "V") == type_id:
            return _text(_first(fields, "Id"))
    return None


def _her_id(organisation: _Children) -> int | None:
    value = _ident(organisation, "HER")
    return int(value) if value and HER_ID_PATTERN.fullmatch(value) else None


def _organisations(party: etree._Element | None) -> list[_Children]:
    """A Sender's or Receiver's organisations (each as its children), outermost first."""
    chain = []
    organisation = _first(_children(party), "Organisation")
    while organisation is not None:
        chain.append(fields := _children(organisation))
        organisation = _first(fields, "Organisation")
    return chain


def _office(organisations: list[_Children]) -> _Children:
    """The organisation a party speaks for: the one holding the HealthcareProfessional, else the
    innermost one. Organisations without a HER-id are passed over (KITH allows empty levels);
    none: no children."""
    with_her_id = [org for org in organisations if _her_id(org) is not None]
    holding = [org for org in with_her_id if _first(org, "HealthcareProfessional") is not None]
    chosen = holding or with_her_id
    return chosen[-1] if chosen else {}


def _professional(organisations: list[_Children]) -> etree._Element | None:
    """The innermost HealthcareProfessional of a party's organisations."""
    professionals = [
        professional for org in organisations if (professional := _first(org, "HealthcareProfessional")) is not None
    ]
    return professionals[-1] if professionals else None
