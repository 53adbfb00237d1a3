"""Maps the payload of each supported MsgHead type to its domain command.

Each mapper gets a payload that sits in the namespace its type requires, and the envelope that
carried it. Our own payloads are validated against `schemas/` first, so the mappers read them
without re-checking what the schema guarantees; what a schema cannot say is checked here.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from lxml import etree

from adapter.domain.model import (
    CLOSING_CODES,
    DialogueNote,
    Practitioner,
    Process,
    ReplaceRoster,
    ReportServiceStatus,
    Role,
    Service,
    Source,
    SubstituteFor,
)
from adapter.messages.building import build
from adapter.messages.envelope import Envelope
from adapter.messages.errors import InvalidMessage, PractitionerNotIdentified
from adapter.messages.schemas import (
    BEHANDLEROVERSIKT_NS,
    TJENESTESTATUS_NS,
    required_attribute,
    required_text,
    schema_errors,
)

DIALOG_NS = "http://www.kith.no/xmlstds/dialog/2013-01-23"
_SCHEMA_ERRORS_SHOWN = 3

MessageCommand = ReportServiceStatus | ReplaceRoster | DialogueNote
Mapper = Callable[[etree._Element, Envelope], MessageCommand]
C = TypeVar("C", ReportServiceStatus, ReplaceRoster, DialogueNote)


def service_status(payload: etree._Element, envelope: Envelope) -> ReportServiceStatus:
    """Tjenestestatus → ReportServiceStatus for the sending practitioner (R1)."""
    _validate(payload, TJENESTESTATUS_NS, envelope)
    ns = {"ts": TJENESTESTATUS_NS}
    complete = required_text(payload, "ts:Komplett", ns) in ("true", "1")
    statuses = {
        Process(required_attribute(prosess, "navn")): required_attribute(prosess, "status") == "PÅ"
        for prosess in payload.iterfind("ts:Prosess", ns)
    }
    if not complete and not statuses:
        raise InvalidMessage("Tjenestestatus with Komplett=false must list at least one Prosess", envelope=envelope)
    if envelope.sender_hpr is None:
        raise PractitionerNotIdentified(
            "Tjenestestatus needs the sender's HealthcareProfessional with an HPR-nummer",
            envelope=envelope,
        )
    return _from_office(
        ReportServiceStatus,
        envelope,
        practitioner_hpr=envelope.sender_hpr,
        source=Source(required_attribute(payload.find("ts:Kilde", ns), "V")),
        complete=complete,
        statuses=statuses,
    )


def roster(payload: etree._Element, envelope: Envelope) -> ReplaceRoster:
    """Behandleroversikt → ReplaceRoster: the sending office's complete list (R9, R16)."""
    _validate(payload, BEHANDLEROVERSIKT_NS, envelope)
    ns = {"bo": BEHANDLEROVERSIKT_NS}
    practitioners = []
    for entry in payload.iterfind("bo:Behandler", ns):
        hpr = required_text(entry, "bo:HPR", ns)
        role_code = entry.find("bo:Rolle", ns)
        role = required_attribute(role_code, "V")
        cover = entry.find("bo:VikarFor", ns)
        if role == Role.VIKAR_FOR_FASTLEGE and cover is None:
            raise InvalidMessage(
                f"Behandler {hpr} has Rolle 15 (vikar for fastlege) but no VikarFor",
                envelope=envelope,
            )
        her_id = entry.findtext("bo:HER", namespaces=ns)
        practitioners.append(
            build(
                Practitioner,
                _refusal(envelope),
                hpr=hpr,
                her_id=int(her_id) if her_id is not None else None,
                given_name=required_text(entry, "bo:Fornavn", ns),
                family_name=required_text(entry, "bo:Etternavn", ns),
                role=role,
                role_name=(role_code.get("DN") or "").strip() if role_code is not None else "",
                covers=_cover(cover, hpr, envelope) if cover is not None else None,
            )
        )
    return _from_office(ReplaceRoster, envelope, practitioners=tuple(practitioners), office_name=envelope.sender_name)


def dialogue_note(service: Service) -> Mapper:
    """Dialogmelding 1.1 Notat → DialogueNote in the conversation the envelope names (R7)."""
    return functools.partial(_dialogue_note, service)


def _dialogue_note(service: Service, payload: etree._Element, envelope: Envelope) -> DialogueNote:
    ns = {"dia": DIALOG_NS}
    if etree.QName(payload).localname != "Dialogmelding":
        raise InvalidMessage("the payload is not a Dialogmelding", envelope=envelope)
    found = [note.find("dia:TemaKodet", ns) for note in payload.iterfind("dia:Notat", ns)]
    if not found:
        raise InvalidMessage("the Dialogmelding has no Notat", envelope=envelope)
    codes = [code for code in found if code is not None]
    if len(codes) < len(found):
        raise InvalidMessage("a Notat has no TemaKodet", envelope=envelope)
    if envelope.conversation_ref is None:
        raise InvalidMessage(
            "a note must name its conversation in ConversationRef/RefToConversation",
            envelope=envelope,
        )
    # A note that closes the conversation decides, wherever it stands in the message.
    code = next((c for c in codes if c.get("V", "").strip() in CLOSING_CODES), codes[0])
    return _from_office(
        DialogueNote,
        envelope,
        practitioner_hpr=envelope.sender_hpr,
        service=service,
        conversation_ref=envelope.conversation_ref,
        code=(code.get("V") or "").strip() or None,
        code_system=(code.get("S") or "").strip() or None,
    )


#: Supported MsgHead types: the payload namespace each requires, and its mapper.
MAPPERS: dict[str, tuple[str, Mapper]] = {
    "DIALOG_INNBYGGER_TJENESTESTATUS": (TJENESTESTATUS_NS, service_status),
    "DIALOG_INNBYGGER_BEHANDLEROVERSIKT": (BEHANDLEROVERSIKT_NS, roster),
    "DIALOG_INNBYGGER_EKONSULTASJON": (DIALOG_NS, dialogue_note(Service.E_KONSULTASJON)),
    "DIALOG_INNBYGGER_EKONTAKT": (DIALOG_NS, dialogue_note(Service.KONTAKT_LEGEKONTORET)),
}


def _validate(payload: etree._Element, namespace: str, envelope: Envelope) -> None:
    errors = schema_errors(payload, namespace)
    if errors:
        raise InvalidMessage(
            "the payload does not validate: " + "; ".join(errors[:_SCHEMA_ERRORS_SHOWN]),
            envelope=envelope,
        )


def _cover(cover: etree._Element, hpr: str, envelope: Envelope) -> SubstituteFor:
    ns = {"bo": BEHANDLEROVERSIKT_NS}
    from_date = dt.date.fromisoformat(required_text(cover, "bo:FraDato", ns))
    to_text = cover.findtext("bo:TilDato", namespaces=ns)
    to_date = dt.date.fromisoformat(to_text.strip()) if to_text is not None else None
    if to_date is not None and to_date < from_date:
        raise InvalidMessage(f"Behandler {hpr}: VikarFor TilDato is before FraDato", envelope=envelope)
    return build(
        SubstituteFor,
        _refusal(envelope),
        gp_hpr=required_text(cover, "bo:HPR", ns),
        from_date=from_date,
        to_date=to_date,
    )


def _from_office(model: type[C], envelope: Envelope, **fields: Any) -> C:
    """A command on behalf of the sending office, which is the one it may change (R13)."""
    return build(
        model,
        _refusal(envelope),
        message=envelope.message_ref,
        office_her_id=envelope.sender_her_id,
        **fields,
    )


def _refusal(envelope: Envelope) -> Callable[[str], InvalidMessage]:
    return lambda reason: InvalidMessage(f"the message does not fit the model: {reason}", envelope=envelope)
