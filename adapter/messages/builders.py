"""Builders of the messages the adapter reads: KITH MsgHead XML (Tjenestestatus, Behandleroversikt,
Dialogmelding) and Tilpass Helsenorge's absence commands — the one module that writes them, for
`replay/generate.py`, the tests and the benchmarks. They copy the structure of the contract's
examples; the hand-written fixtures in `fixtures/` were made with them. Namespaces and OIDs come
from `adapter.messages.namespaces`.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from xml.sax.saxutils import escape, quoteattr

from ..domain.calendar import OSLO
from ..domain.model import Process, Role, Service
from ..topology import HELSENORGE_HER_ID
from .envelope import MIG_VERSION
from .namespaces import (
    BEHANDLEROVERSIKT_NS,
    DIALOG_NS,
    MSGHEAD_NS,
    OID_ORGANISATION_IDS,
    OID_PERSON_IDS,
    OID_ROLES,
    OID_TEMA,
    TJENESTESTATUS_NS,
)

#: Norsk helsenett SF, Helsenorge.no's parent organisation in AR.
NHN_HER_ID = 115851

_TYPES = {
    "DIALOG_INNBYGGER_TJENESTESTATUS": "Dialog med innbygger - tjenestestatus",
    "DIALOG_INNBYGGER_BEHANDLEROVERSIKT": "Benyttes til prosess for å hente behandler",
    "DIALOG_INNBYGGER_EKONSULTASJON": "Dialog med innbygger - eKonsultasjon",
    "DIALOG_INNBYGGER_EKONTAKT": "Dialog med innbygger - eKontakt",
}
_ROLE_NAMES = {"6": "Fastlege", "15": "Vikar for fastlege", "99": "Jordmor"}
_SOURCE_NAMES = {"EPJ": "Journalsystem", "AR": "Adresseregisteret"}


# ---------------------------------------------------------------------------------------------
# The cast
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Office:
    her_id: int
    name: str


@dataclass(frozen=True)
class Person:
    hpr: str
    given_name: str
    family_name: str
    #: a practitioner's personal HER-id, if they have one
    her_id: int | None = None

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True)
class RosterEntry:
    """One Behandler of a behandleroversikt; `covers` = (GP's HPR, from, to) for a substitute."""

    person: Person
    role: str = Role.FASTLEGE.value
    covers: tuple[str, dt.date, dt.date | None] | None = None


@dataclass(frozen=True)
class Patient:
    given_name: str
    family_name: str
    fnr: str


def new_id(rng: random.Random) -> str:
    """A UUID (version 4 layout) drawn from `rng`: unique in practice, and reproducible."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def instant_text(instant: dt.datetime) -> str:
    """An xs:dateTime as KITH messages write it: Oslo time with its offset."""
    local = instant.astimezone(OSLO)
    return local.isoformat(timespec="milliseconds" if local.microsecond else "seconds")


# ---------------------------------------------------------------------------------------------
# Message builders
# ---------------------------------------------------------------------------------------------


def _ident(value: object, type_id: str, name: str, system: str, indent: int) -> str:
    """An `Ident` element on its own lines, `indent` spaces in (the first line's are the caller's)."""
    pad = " " * indent
    return f'<Ident>\n{pad}  <Id>{value}</Id>\n{pad}  <TypeId V="{type_id}" DN="{name}" S="{system}"/>\n{pad}</Ident>'


def _her(value: int, indent: int) -> str:
    return _ident(value, "HER", "HER-id", OID_ORGANISATION_IDS, indent)


def _sender(office: Office, professional: Person | None, role: str) -> str:
    inner = ""
    if professional is not None:
        inner = (
            "\n        <HealthcareProfessional>\n"
            f'          <RoleToPatient V="{role}" DN="{_ROLE_NAMES.get(role, role)}" S="{OID_ROLES}"/>\n'
            f"          <FamilyName>{escape(professional.family_name)}</FamilyName>\n"
            f"          <GivenName>{escape(professional.given_name)}</GivenName>\n"
            f"          {_ident(professional.hpr, 'HPR', 'HPR-nummer', OID_PERSON_IDS, 10)}\n"
            "        </HealthcareProfessional>"
        )
    return (
        "    <Sender>\n"
        "      <Organisation>\n"
        f"        <OrganisationName>{escape(office.name)}</OrganisationName>\n"
        f"        {_her(office.her_id, 8)}{inner}\n"
        "      </Organisation>\n"
        "    </Sender>\n"
    )


def _receiver(via_nhn: bool) -> str:
    if via_nhn:  # Helsenorge.no as a department of Norsk helsenett, as EPJ systems often address it
        return (
            "    <Receiver>\n"
            "      <Organisation>\n"
            "        <OrganisationName>Norsk helsenett SF</OrganisationName>\n"
            f"        {_her(NHN_HER_ID, 8)}\n"
            "        <Organisation>\n"
            "          <OrganisationName>Helsenorge.no</OrganisationName>\n"
            f"          {_her(HELSENORGE_HER_ID, 10)}\n"
            "        </Organisation>\n"
            "      </Organisation>\n"
            "    </Receiver>\n"
        )
    return (
        "    <Receiver>\n"
        "      <Organisation>\n"
        "        <OrganisationName>Helsenorge.no</OrganisationName>\n"
        f"        {_her(HELSENORGE_HER_ID, 8)}\n"
        "      </Organisation>\n"
        "    </Receiver>\n"
    )


def msghead(
    *,
    msg_type: str,
    gen_date: dt.datetime,
    msg_id: str,
    office: Office,
    payload: str,
    professional: Person | None = None,
    role: str = Role.FASTLEGE.value,
    ack: bool = True,
    conversation: tuple[str, str] | None = None,
    patient: Patient | None = None,
    via_nhn: bool = False,
    comment: str | None = None,
) -> bytes:
    """A MsgHead 1.2 message to Helsenorge.no carrying `payload` (one element, as XML text).

    `conversation` is (RefToParent, RefToConversation). `comment` is put before the root element.
    """
    conversation_ref = ""
    if conversation is not None:
        conversation_ref = (
            "    <ConversationRef>\n"
            f"      <RefToParent>{escape(conversation[0])}</RefToParent>\n"
            f"      <RefToConversation>{escape(conversation[1])}</RefToConversation>\n"
            "    </ConversationRef>\n"
        )
    patient_xml = ""
    if patient is not None:
        patient_xml = (
            "    <Patient>\n"
            f"      <FamilyName>{escape(patient.family_name)}</FamilyName>\n"
            f"      <GivenName>{escape(patient.given_name)}</GivenName>\n"
            f"      {_ident(patient.fnr, 'FNR', 'Fødselsnummer', OID_PERSON_IDS, 6)}\n"
            "    </Patient>\n"
        )
    note = f"<!-- {comment.strip()} -->\n" if comment else ""
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"{note}"
        f'<MsgHead xmlns="{MSGHEAD_NS}">\n'
        "  <MsgInfo>\n"
        f'    <Type V="{msg_type}" DN={quoteattr(_TYPES[msg_type])}/>\n'
        f"    <MIGversion>{MIG_VERSION}</MIGversion>\n"
        f"    <GenDate>{instant_text(gen_date)}</GenDate>\n"
        f"    <MsgId>{escape(msg_id)}</MsgId>\n"
        + ('    <Ack V="J" DN="Ja"/>\n' if ack else '    <Ack V="N" DN="Nei"/>\n')
        + conversation_ref
        + _sender(office, professional, role)
        + _receiver(via_nhn)
        + patient_xml
        + "  </MsgInfo>\n"
        "  <Document>\n"
        "    <RefDoc>\n"
        '      <MsgType V="XML" DN="XML-instans"/>\n'
        "      <Content>\n"
        f"{payload}"
        "      </Content>\n"
        "    </RefDoc>\n"
        "  </Document>\n"
        "</MsgHead>\n"
    )
    return text.encode("utf-8")


def tjenestestatus(
    *,
    office: Office,
    gp: Person,
    gen_date: dt.datetime,
    msg_id: str,
    statuses: Mapping[Process, bool],
    complete: bool,
    source: Literal["EPJ", "AR"] = "EPJ",
    ack: bool = True,
    via_nhn: bool = False,
    comment: str | None = None,
) -> bytes:
    """DIALOG_INNBYGGER_TJENESTESTATUS: `gp` at `office` switches processes on (True) or off."""
    processes = "".join(
        f'          <Prosess navn="{process.value}" status="{"PÅ" if statuses[process] else "AV"}"/>\n'
        for process in Process
        if process in statuses
    )
    payload = (
        f'        <Tjenestestatus xmlns="{TJENESTESTATUS_NS}">\n'
        f'          <Kilde V="{source}" DN="{_SOURCE_NAMES[source]}"/>\n'
        f"          <Komplett>{'true' if complete else 'false'}</Komplett>\n"
        f"{processes}"
        "        </Tjenestestatus>\n"
    )
    return msghead(
        msg_type="DIALOG_INNBYGGER_TJENESTESTATUS",
        gen_date=gen_date,
        msg_id=msg_id,
        office=office,
        payload=payload,
        professional=gp,
        ack=ack,
        via_nhn=via_nhn,
        comment=comment,
    )


def behandleroversikt(
    *,
    office: Office,
    entries: Sequence[RosterEntry],
    gen_date: dt.datetime,
    msg_id: str,
    ack: bool = True,
    comment: str | None = None,
) -> bytes:
    """DIALOG_INNBYGGER_BEHANDLEROVERSIKT: the office's complete list of practitioners."""
    rows = []
    for entry in entries:
        person = entry.person
        her = f"            <HER>{person.her_id}</HER>\n" if person.her_id is not None else ""
        cover = ""
        if entry.covers is not None:
            gp_hpr, start, end = entry.covers
            until = f"              <TilDato>{end.isoformat()}</TilDato>\n" if end is not None else ""
            cover = (
                "            <VikarFor>\n"
                f"              <HPR>{gp_hpr}</HPR>\n"
                f"              <FraDato>{start.isoformat()}</FraDato>\n"
                f"{until}"
                "            </VikarFor>\n"
            )
        rows.append(
            "          <Behandler>\n"
            f"            <HPR>{person.hpr}</HPR>\n"
            f"{her}"
            f"            <Fornavn>{escape(person.given_name)}</Fornavn>\n"
            f"            <Etternavn>{escape(person.family_name)}</Etternavn>\n"
            f'            <Rolle V="{entry.role}" DN="{_ROLE_NAMES.get(entry.role, entry.role)}" '
            f'S="{OID_ROLES}"/>\n'
            f"{cover}"
            "          </Behandler>\n"
        )
    payload = (
        f'        <Behandleroversikt xmlns="{BEHANDLEROVERSIKT_NS}">\n'
        + "".join(rows)
        + "        </Behandleroversikt>\n"
    )
    return msghead(
        msg_type="DIALOG_INNBYGGER_BEHANDLEROVERSIKT",
        gen_date=gen_date,
        msg_id=msg_id,
        office=office,
        payload=payload,
        ack=ack,
        comment=comment,
    )


def dialogmelding(
    *,
    office: Office,
    gp: Person,
    gen_date: dt.datetime,
    msg_id: str,
    conversation: tuple[str, str],
    patient: Patient,
    code: str,
    code_name: str,
    text: str,
    service: Service = Service.E_KONSULTASJON,
    ack: bool = True,
    comment: str | None = None,
) -> bytes:
    """A Dialogmelding 1.1 note from `gp` in a citizen conversation; code 13 or 27 closes it (R7)."""
    msg_type = "DIALOG_INNBYGGER_EKONSULTASJON" if service is Service.E_KONSULTASJON else "DIALOG_INNBYGGER_EKONTAKT"
    payload = (
        f'        <Dialogmelding xmlns="{DIALOG_NS}">\n'
        "          <Notat>\n"
        f'            <TemaKodet V="{code}" DN={quoteattr(code_name)} S="{OID_TEMA}"/>\n'
        f"            <TekstNotatInnhold>{escape(text)}</TekstNotatInnhold>\n"
        "          </Notat>\n"
        "        </Dialogmelding>\n"
    )
    return msghead(
        msg_type=msg_type,
        gen_date=gen_date,
        msg_id=msg_id,
        office=office,
        payload=payload,
        professional=gp,
        ack=ack,
        conversation=conversation,
        patient=patient,
        comment=comment,
    )


def absence_registered(
    *,
    absence_id: str,
    office_her_id: int,
    practitioner_hpr: str,
    from_date: dt.date,
    to_date: dt.date,
    services: Sequence[Service],
    registered_at: dt.datetime,
    registered_by_hpr: str | None = None,
) -> dict[str, Any]:
    """The JSON object Tilpass Helsenorge sends when a GP registers an absence."""
    return {
        "type": "absence.registered",
        "absence_id": absence_id,
        "office_her_id": office_her_id,
        "practitioner_hpr": practitioner_hpr,
        "from": from_date.isoformat(),
        "to": to_date.isoformat(),
        "services": [s.value for s in Service if s in services],
        "registered_by_hpr": registered_by_hpr or practitioner_hpr,
        "registered_at": instant_text(registered_at),
    }


def absence_deleted(
    *, absence_id: str, office_her_id: int, deleted_by_hpr: str, deleted_at: dt.datetime
) -> dict[str, Any]:
    """The JSON object Tilpass Helsenorge sends when an absence is deleted."""
    return {
        "type": "absence.deleted",
        "absence_id": absence_id,
        "office_her_id": office_her_id,
        "deleted_by_hpr": deleted_by_hpr,
        "deleted_at": instant_text(deleted_at),
    }
