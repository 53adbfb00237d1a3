"""Issue 15: pins that kill the mutation survivors of adapter/messages/portal.py and of the MsgHead
builders in adapter/messages/builders.py (`_her`, `_sender`, `_ident`, `instant_text`, `msghead`).

The builders write the fixtures and the replay set, so what they emit is the contract's MsgHead
(../shared/contract/README.md, "Inbound XML"); the portal message is the contract's
"Outbound: portal events".
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from msgsupport import example

from adapter.messages.builders import (
    NHN_HER_ID,
    Office,
    Patient,
    Person,
    _her,
    _ident,
    _sender,
    instant_text,
    msghead,
)
from adapter.messages.namespaces import OID_ORGANISATION_IDS, OID_ROLES
from adapter.messages.portal import PortalEvent, portal_message

OFFICE = Office(her_id=8141333, name="Legekontoret")
GP = Person(hpr="9144889", given_name="Kari", family_name="Lege")
GEN_DATE = dt.datetime(2026, 1, 15, 9, 30, tzinfo=dt.UTC)


def _head(**kwargs: object) -> str:
    """A MsgHead with every optional argument left at its default unless given."""
    args: dict[str, object] = {
        "msg_type": "DIALOG_INNBYGGER_TJENESTESTATUS",
        "gen_date": GEN_DATE,
        "msg_id": "m-1",
        "office": OFFICE,
        "payload": "<X/>\n",
    }
    args.update(kwargs)
    return msghead(**args).decode()  # type: ignore[arg-type]


def test_a_portal_message_carries_the_event_type_header_and_json() -> None:
    """Contract, "Outbound: portal events": JSON, message id = event_id, AMQP header `type`."""
    for name in ("availability-changed.json", "availability-warning.json", "dialogue-closed.json"):
        event = PortalEvent.model_validate_json(example(name)).root
        message = portal_message(event, "portal.availability")
        assert dict(message.headers) == {"type": event.type}
        assert message.content_type == "application/json"
        assert message.message_id == event.event_id
        assert message.routing_key == "portal.availability"


def test_an_ident_is_indented_and_names_its_type_and_system() -> None:
    assert _ident("123", "HPR", "HPR-nummer", "2.16.578.1.12.4.1.1.8116", 4) == (
        "<Ident>\n"
        "      <Id>123</Id>\n"
        '      <TypeId V="HPR" DN="HPR-nummer" S="2.16.578.1.12.4.1.1.8116"/>\n'
        "    </Ident>"
    )


def test_a_her_ident_is_named_her_id_in_the_organisation_ids_system() -> None:
    assert _her(NHN_HER_ID, 0) == (
        f'<Ident>\n  <Id>{NHN_HER_ID}</Id>\n  <TypeId V="HER" DN="HER-id" S="{OID_ORGANISATION_IDS}"/>\n</Ident>'
    )


def test_a_sender_without_a_professional_is_the_office_alone() -> None:
    text = _sender(OFFICE, None, "6")
    assert text.endswith("        </Ident>\n      </Organisation>\n    </Sender>\n")
    assert "None" not in text and "HealthcareProfessional" not in text


def test_instant_text_is_oslo_time_with_milliseconds_only_when_there_are_any(monkeypatch: pytest.MonkeyPatch) -> None:
    """KITH GenDate: Oslo local time with its offset (winter +01:00, summer +02:00), whatever the
    machine's zone (set to UTC here, so that the machine's zone in Oslo's place would show)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert instant_text(GEN_DATE) == "2026-01-15T10:30:00+01:00"
        assert instant_text(dt.datetime(2026, 7, 1, 8, 0, 5, 250_000, tzinfo=dt.UTC)) == "2026-07-01T10:00:05.250+02:00"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_msghead_defaults_ask_for_a_receipt_and_address_helsenorge_directly() -> None:
    """Defaults: Ack J (a receipt is wanted), no conversation, no patient, no comment, no NHN."""
    text = _head()
    assert '<Ack V="J" DN="Ja"/>' in text and 'V="N"' not in text
    assert "Norsk helsenett" not in text and f"<Id>{NHN_HER_ID}</Id>" not in text
    assert "None" not in text and "ConversationRef" not in text and "<Patient>" not in text
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<MsgHead ')


def test_msghead_writes_what_it_is_given() -> None:
    text = _head(
        ack=False,
        conversation=("p-1", "c-1"),
        patient=Patient(given_name="Ola", family_name="Nordmann", fnr="01010112345"),
        via_nhn=True,
        comment="  a note  ",
        professional=GP,
        role="15",
    )
    assert '<Ack V="N" DN="Nei"/>' in text and 'V="J"' not in text
    assert "<RefToParent>p-1</RefToParent>" in text and "<RefToConversation>c-1</RefToConversation>" in text
    assert "<Patient>\n      <FamilyName>Nordmann</FamilyName>" in text and "<Id>01010112345</Id>" in text
    assert (
        f"<OrganisationName>Norsk helsenett SF</OrganisationName>\n        <Ident>\n          <Id>{NHN_HER_ID}</Id>"
        in text
    )
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!-- a note -->\n<MsgHead ')
    assert f'<RoleToPatient V="15" DN="Vikar for fastlege" S="{OID_ROLES}"/>' in text
