"""The message builders word for word (issue 15's wording-only and unreached mutants of
adapter/messages/builders.py).

What the builders write is what an EPJ system or Tilpass Helsenorge sends: every element,
attribute and display name the adapter or a KITH schema reads. The contract's examples
(../shared/contract/examples) and our fixtures (fixtures/README.md: "made with them") are each read
back into the builders' arguments and written again, which must give the very same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import uuid
from pathlib import Path

import pytest
from lxml import etree
from msgsupport import NOW, PROJECT, example

from adapter.domain.model import DialogueNote, Process, Service
from adapter.messages.builders import (
    Office,
    Patient,
    Person,
    RosterEntry,
    absence_deleted,
    absence_registered,
    behandleroversikt,
    dialogmelding,
    msghead,
    new_id,
    tjenestestatus,
)
from adapter.messages.inbound import parse_message
from adapter.messages.namespaces import BEHANDLEROVERSIKT_NS, DIALOG_NS, MSGHEAD_NS, TJENESTESTATUS_NS

NS = {"mh": MSGHEAD_NS, "ts": TJENESTESTATUS_NS, "bo": BEHANDLEROVERSIKT_NS, "dm": DIALOG_NS}
FIXTURES = sorted((PROJECT / "fixtures" / "messages").glob("*.xml"))
#: The one Ident of the contract's EPJ example the builders do not write (the office's
#: organisation number in Enhetsregisteret, which the adapter does not read).
ENH_IDENT = (
    "        <Ident>\n"
    "          <Id>974760924</Id>\n"
    '          <TypeId V="ENH" DN="Organisasjonsnummeret i Enhetsregister" S="2.16.578.1.12.4.1.1.9051"/>\n'
    "        </Ident>\n"
)


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text is not None else None


def _person(element: etree._Element) -> Person:
    """The HealthcareProfessional of a MsgHead's sender."""
    return Person(
        hpr=element.findtext("mh:Ident/mh:Id", namespaces=NS),
        given_name=element.findtext("mh:GivenName", namespaces=NS),
        family_name=element.findtext("mh:FamilyName", namespaces=NS),
    )


def _roster(payload: etree._Element) -> list[RosterEntry]:
    entries = []
    for row in payload.iterfind("bo:Behandler", NS):
        her = row.findtext("bo:HER", namespaces=NS)
        person = Person(
            hpr=row.findtext("bo:HPR", namespaces=NS),
            given_name=row.findtext("bo:Fornavn", namespaces=NS),
            family_name=row.findtext("bo:Etternavn", namespaces=NS),
            her_id=int(her) if her is not None else None,
        )
        cover = row.find("bo:VikarFor", NS)
        covers = None
        if cover is not None:
            covers = (
                cover.findtext("bo:HPR", namespaces=NS),
                dt.date.fromisoformat(cover.findtext("bo:FraDato", namespaces=NS)),
                _date(cover.findtext("bo:TilDato", namespaces=NS)),
            )
        entries.append(RosterEntry(person=person, role=row.find("bo:Rolle", NS).get("V"), covers=covers))
    return entries


def rebuilt(message: bytes) -> bytes:
    """`message` read back into the builders' arguments and written again by them."""
    root = etree.fromstring(message)
    note = re.match(rb'<\?xml version="1.0" encoding="UTF-8"\?>\n<!-- (.*?) -->\n', message, re.DOTALL)
    info = root.find("mh:MsgInfo", NS)
    msg_type = info.find("mh:Type", NS).get("V")
    sender = info.find("mh:Sender/mh:Organisation", NS)
    professional = sender.find("mh:HealthcareProfessional", NS)
    common = {
        "office": Office(
            her_id=int(sender.findtext("mh:Ident/mh:Id", namespaces=NS)),
            name=sender.findtext("mh:OrganisationName", namespaces=NS),
        ),
        "gen_date": dt.datetime.fromisoformat(info.findtext("mh:GenDate", namespaces=NS)),
        "msg_id": info.findtext("mh:MsgId", namespaces=NS),
        "ack": info.find("mh:Ack", NS).get("V") == "J",
        "comment": note.group(1).decode() if note else None,
    }
    payload = root.find("mh:Document/mh:RefDoc/mh:Content", NS)[0]
    if msg_type == "DIALOG_INNBYGGER_TJENESTESTATUS":
        receiver = info.findtext("mh:Receiver/mh:Organisation/mh:OrganisationName", namespaces=NS)
        return tjenestestatus(
            **common,
            gp=_person(professional),
            statuses={Process(p.get("navn")): p.get("status") == "PÅ" for p in payload.iterfind("ts:Prosess", NS)},
            complete=payload.findtext("ts:Komplett", namespaces=NS) == "true",
            source=payload.find("ts:Kilde", NS).get("V"),
            via_nhn=receiver == "Norsk helsenett SF",
        )
    if msg_type == "DIALOG_INNBYGGER_BEHANDLEROVERSIKT":
        return behandleroversikt(**common, entries=_roster(payload))
    patient = info.find("mh:Patient", NS)
    subject = payload.find("dm:Notat/dm:TemaKodet", NS)
    return dialogmelding(
        **common,
        gp=_person(professional),
        conversation=(
            info.findtext("mh:ConversationRef/mh:RefToParent", namespaces=NS),
            info.findtext("mh:ConversationRef/mh:RefToConversation", namespaces=NS),
        ),
        patient=Patient(
            given_name=patient.findtext("mh:GivenName", namespaces=NS),
            family_name=patient.findtext("mh:FamilyName", namespaces=NS),
            fnr=patient.findtext("mh:Ident/mh:Id", namespaces=NS),
        ),
        code=subject.get("V"),
        code_name=subject.get("DN"),
        text=payload.findtext("dm:Notat/dm:TekstNotatInnhold", namespaces=NS),
        service=Service.E_KONSULTASJON
        if msg_type == "DIALOG_INNBYGGER_EKONSULTASJON"
        else Service.KONTAKT_LEGEKONTORET,
    )


@pytest.mark.parametrize("name", ["tjenestestatus-ar-komplett.xml", "behandleroversikt.xml", "dialog-avsluttet.xml"])
def test_the_builders_write_the_contracts_examples_byte_for_byte(name: str) -> None:
    """Contract, "Inbound XML": a status from AR without an Ack, a roster with a personal HER-id,
    a substitute (R9) and a midwife, a note closing a conversation (R7), each exactly as published."""
    assert rebuilt(example(name)).decode() == example(name).decode()


def test_the_builders_write_the_epj_example_via_norsk_helsenett() -> None:
    """Contract, tjenestestatus-epj.xml: addressed to Helsenorge.no as a department of Norsk
    helsenett SF — byte for byte but for the organisation number the builders leave out."""
    published = example("tjenestestatus-epj.xml").decode()
    assert ENH_IDENT in published
    assert rebuilt(example("tjenestestatus-epj.xml")).decode() == published.replace(ENH_IDENT, "")


def test_the_fixtures_hold_every_kind_of_message() -> None:
    """So that the next test cannot pass on an empty folder: statuses, rosters and notes."""
    kinds = {path.name.split("-")[0] for path in FIXTURES}
    assert kinds == {"tjenestestatus", "behandleroversikt", "dialog"}


@pytest.mark.parametrize("path", FIXTURES, ids=[path.name for path in FIXTURES])
def test_every_fixture_is_what_the_builders_write(path: Path) -> None:
    """fixtures/README.md: the fixtures were made with the builders, and are still what they write."""
    assert rebuilt(path.read_bytes()).decode() == path.read_text(encoding="utf-8")


def _note(**kwargs: object) -> bytes:
    """A note closing a Kontakt legekontoret conversation, the other arguments as given."""
    return dialogmelding(
        office=Office(her_id=8141333, name="Lysaker legesenter"),
        gp=Person(hpr="9144900", given_name="Astrid", family_name="Info"),
        gen_date=dt.datetime(2023, 12, 21, 11, 20, tzinfo=dt.UTC),
        msg_id="m-1",
        conversation=("p-1", "c-1"),
        patient=Patient(given_name="Line", family_name="Danser", fnr="13116900216"),
        code="27",
        code_name="Avsluttet",
        text="Samtalen er avsluttet.",
        service=Service.KONTAKT_LEGEKONTORET,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_note_in_an_ekontakt_conversation_is_typed_ekontakt() -> None:
    """Kontakt legekontoret's conversations are DIALOG_INNBYGGER_EKONTAKT (R7: a note in one closes it)."""
    body = _note()
    assert b'    <Type V="DIALOG_INNBYGGER_EKONTAKT" DN="Dialog med innbygger - eKontakt"/>\n' in body
    note = parse_message(body, now=NOW).command
    assert isinstance(note, DialogueNote)
    assert (note.service, note.conversation_ref, note.code) == (Service.KONTAKT_LEGEKONTORET, "c-1", "27")


def test_a_note_asks_for_a_receipt_unless_told_not_to() -> None:
    """MsgHead's Ack: J by default (the office wants its AppRec), N when the sender asks for none."""
    assert b'    <Ack V="J" DN="Ja"/>\n' in _note()
    assert b'    <Ack V="N" DN="Nei"/>\n' in _note(ack=False)
    assert b'V="J"' not in _note(ack=False)


def test_a_role_without_a_known_name_is_named_by_its_code() -> None:
    """Kodeverk 9034 has more roles than the builders name; any other is written with its code as
    DN, in a roster and as a sender's role to the patient."""
    arna = Person(hpr="7310428", given_name="Arna", family_name="Berg")
    office = Office(her_id=8141333, name="Lysaker legesenter")
    gen_date = dt.datetime(2023, 12, 1, 9, 0, tzinfo=dt.UTC)
    roster = behandleroversikt(
        office=office, entries=[RosterEntry(person=arna, role="52")], gen_date=gen_date, msg_id="m-2"
    )
    assert b'            <Rolle V="52" DN="52" S="2.16.578.1.12.4.1.1.9034"/>\n' in roster
    head = msghead(
        msg_type="DIALOG_INNBYGGER_TJENESTESTATUS",
        gen_date=gen_date,
        msg_id="m-3",
        office=office,
        payload="",
        professional=arna,
        role="52",
    )
    assert b'          <RoleToPatient V="52" DN="52" S="2.16.578.1.12.4.1.1.9034"/>\n' in head


def test_the_absence_commands_are_the_contracts_examples() -> None:
    """Contract, absence-registered.json and absence-deleted.json: every field, named and written as published."""
    oslo = dt.timezone(dt.timedelta(hours=1))
    registered = absence_registered(
        absence_id="f3a9c2d1-5b7e-4c8a-9d10-2e4f6a8b0c13",
        office_her_id=8141333,
        practitioner_hpr="9144900",
        from_date=dt.date(2023, 12, 22),
        to_date=dt.date(2024, 1, 1),
        services=list(reversed(Service)),
        registered_at=dt.datetime(2023, 12, 20, 15, 5, tzinfo=oslo),
    )
    assert registered == json.loads(example("absence-registered.json"))
    deleted = absence_deleted(
        absence_id="f3a9c2d1-5b7e-4c8a-9d10-2e4f6a8b0c13",
        office_her_id=8141333,
        deleted_by_hpr="9144900",
        deleted_at=dt.datetime(2023, 12, 21, 7, 0, tzinfo=dt.UTC),
    )
    assert deleted == json.loads(example("absence-deleted.json"))


def test_new_ids_are_version_4_uuids_drawn_from_the_seed() -> None:
    """Synthetic sets are deterministic by seed (fixtures/README.md): the same seed, the same MsgIds."""
    ids = [new_id(random.Random(7)) for _ in range(2)]
    assert ids[0] == ids[1]
    drawn = random.Random(7).getrandbits(128)
    assert ids[0] == str(uuid.UUID(int=drawn, version=4))
    assert uuid.UUID(ids[0]).version == 4 and uuid.UUID(ids[0]).variant == uuid.RFC_4122
    rng = random.Random(7)
    assert new_id(rng) != new_id(rng)
