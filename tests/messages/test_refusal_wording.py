"""The exact words of every refusal the XML edge gives (R15), and of its log line (issue 15).

An EPJ vendor reads a refusal's description in the AppRec's Error/@OT or in the error-queue report's
`errorDescription`, and operators read the same text as the `reason` of the "message refused" log
line: the wording is behaviour, so each refusal of `inbound.py`, `payloads.py` and `xmlsafe.py` is
pinned here to the letter, under the error whose 8221 code and answer docs/errors.md publishes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from lxml import etree
from msgsupport import NOW, variant
from pydantic import Field, create_model

from adapter.domain.model import SubstituteFor
from adapter.messages import errors, payloads
from adapter.messages.apprec import APPREC_NS, build_apprec, build_error_report
from adapter.messages.errors import InboundError
from adapter.messages.inbound import parse_message
from adapter.messages.xmlsafe import Limits

TS, BO, DI = "tjenestestatus-epj.xml", "behandleroversikt.xml", "dialog-avsluttet.xml"
OFFICE = 8141333
TEMA_13 = '<TemaKodet V="13" DN="Dialog avsluttet" S="2.16.578.1.12.4.1.1.7602"/>'
TS_NS = "urn:no:ddfl-adapter:tjenestestatus:"
WITHOUT_VIKARFOR = [("<VikarFor>", "<!--"), ("</VikarFor>", "-->")]
WITHOUT_CONVERSATION = [("<ConversationRef>", "<!--"), ("</ConversationRef>", "-->")]
FORESPORSEL = [("<Dialogmelding ", "<Foresporsel "), ("</Dialogmelding>", "</Foresporsel>")]
NO_PROCESS = [
    (f'<Prosess navn="Dialog_Innbygger_{p}" status="AV"/>', "")
    for p in ("Timereservasjon", "Reseptfornyelse", "Ekonsultasjon")
]


@dataclass(frozen=True)
class Body:
    """What arrives on `{own_her_id}_async`: the bytes and how the adapter is set to read them."""

    bytes_: bytes
    headers: dict[str, object] | None = None
    limits: Limits | None = None
    own_her_id: int = 8093244

    def refused(self) -> InboundError:
        with pytest.raises(InboundError) as caught:
            parse_message(self.bytes_, now=NOW, headers=self.headers, limits=self.limits, own_her_id=self.own_her_id)
        return caught.value


def of(name: str, *replacements: tuple[str, str], **options: Any) -> Callable[[], Body]:
    """A contract example changed as given (built when the test runs, so a missing contract skips)."""
    return lambda: Body(variant(name, *replacements), **options)


def raw(text: bytes, **options: Any) -> Callable[[], Body]:
    return lambda: Body(text, **options)


def what_the_sender_reads(error: InboundError) -> str:
    """The description as the answer carries it: the AppRec's Error/@OT (the envelope's sender is
    told), or the error-queue report's errorDescription header (a message no AppRec can answer)."""
    if error.error_condition is None:
        assert error.envelope is not None
        apprec = build_apprec(error.envelope, ok=False, errors=[(error.code, error.description)], gen_date=NOW)
        (error_element,) = etree.fromstring(apprec).iterfind(f"{{{APPREC_NS}}}Error")
        return str(error_element.get("OT"))
    _, headers = build_error_report(error, original_message_id=None)
    return headers["errorDescription"]


#: Per error (which decides the 8221 code and whom the answer goes to): each exact description and
#: a message refused with it. inbound.py's and payloads.py's are answered to the sender office with
#: an AppRec; xmlsafe.py's, before the envelope is read, on the transport sender's error queue.
REFUSALS: dict[type[InboundError], dict[str, Callable[[], Body]]] = {
    errors.NotMsgHead: {
        "the root element is AppRec, not a MsgHead 1.2": raw(b"<AppRec/>", headers={"fromHerId": OFFICE})
    },
    errors.SpoofedSender: {
        f"the AMQP header fromHerId does not match the MsgHead sender HER-id {OFFICE}": of(TS, headers={"fromHerId": 9})
    },
    errors.ReceiverUnknown: {"the receiver HER-id is 8093244, not 1": of(TS, own_her_id=1)},
    errors.UnsupportedMessageType: {
        "message type DIALOG_INNBYGGER_TIMEBESTILLING is not supported": of(
            TS, ('_TJENESTESTATUS"', '_TIMEBESTILLING"')
        )
    },
    errors.InvalidPatientId: {"the patient's FNR fails the mod-11 check": of(DI, ("13116900216", "13116900217"))},
    errors.PractitionerNotIdentified: {
        "the sender's HPR-nummer is not 6 to 9 digits": of(TS, ("<Id>9144900</Id>", "<Id>91449</Id>")),
        "Tjenestestatus needs the sender's HealthcareProfessional with an HPR-nummer": of(TS, ('V="HPR"', 'V="FNR"')),
    },
    errors.InvalidMessage: {
        "MIGversion must be 'v1.2 2006-05-24'": of(TS, (">v1.2 2006-05-24<", ">v1.1 2006-05-24<")),
        "expected one Document, found 2": of(TS, ("</Document>", "</Document><Document/>")),
        "Document/RefDoc/Content must hold exactly one element": of(TS, ("</Content>", "<Vedlegg/></Content>")),
        f"a DIALOG_INNBYGGER_TJENESTESTATUS payload must be in namespace {TS_NS}1": of(TS, (f"{TS_NS}1", f"{TS_NS}2")),
        "Tjenestestatus with Komplett=false must list at least one Prosess": of(TS, *NO_PROCESS),
        "Behandler 5522113 has Rolle 15 (vikar for fastlege) but no VikarFor": of(BO, *WITHOUT_VIKARFOR),
        "Behandler 5522113: VikarFor TilDato is before FraDato": of(BO, ("2024-07-31", "2024-06-30")),
        "the payload is not a Dialogmelding": of(DI, *FORESPORSEL),
        "the Dialogmelding has no Notat": of(DI, ("<Notat>", "<!--"), ("</Notat>", "-->")),
        "a Notat has no TemaKodet": of(DI, (TEMA_13, "")),
        "a note must name its conversation in ConversationRef/RefToConversation": of(DI, *WITHOUT_CONVERSATION),
    },
    errors.TooLarge: {"4 bytes; the limit is 3": raw(b"<a/>", limits=Limits(max_bytes=3))},
    errors.BadEncoding: {
        "unknown encoding 'x-ebcdic-ish'": raw(b'<?xml version="1.0" encoding="x-ebcdic-ish"?><a/>'),
        "multi-byte encodings are not supported": raw(b'<?xml version="1.0" encoding="Shift_JIS"?><a>\x82\xa0</a>'),
    },
    errors.TooDeep: {"elements nested deeper than 2 levels": raw(b"<a><b><c/></b></a>", limits=Limits(max_depth=2))},
    errors.DoctypeForbidden: {"the document has a DOCTYPE; messages must not carry a DTD": raw(b"<!DOCTYPE a><a/>")},
    errors.NotWellFormed: {"line 1, column 8: mismatched tag": raw(b"<a><b></a>")},
}


@pytest.mark.parametrize(
    ("body", "error", "description"),
    [(body, error, text) for error, refused in REFUSALS.items() for text, body in refused.items()],
    ids=[text for refused in REFUSALS.values() for text in refused],
)
def test_r15_each_refusal_tells_the_sender_exactly_why(
    body: Callable[[], Body], error: type[InboundError], description: str
) -> None:
    """R15: the refusal is the error whose code and answer docs/errors.md publishes, and its description
    reaches the sender word for word (the "message refused" log line's reason is the same text)."""
    refused = body().refused()
    assert type(refused) is error
    assert refused.description == description
    assert what_the_sender_reads(refused) == description
    assert str(refused) == f"{refused.event_id}: {description}"


def test_r15_a_schema_refusal_quotes_the_first_three_of_the_validators_complaints() -> None:
    """Four faults, three quoted, each with its line: enough for the vendor to find them, and a
    hostile payload cannot make the description (nor the log line) grow with its faults."""
    body = variant(
        TS,
        ("<Komplett>false", "<Komplett>kanskje"),
        *[('status="AV"', f'status="X{n}"') for n in (1, 2, 3)],
    )
    refused = Body(body).refused()
    assert isinstance(refused, errors.InvalidMessage)
    element = "Element '{urn:no:ddfl-adapter:tjenestestatus:1}"
    assert refused.description == (
        f"the payload does not validate: line 56: {element}Komplett': "
        "'kanskje' is not a valid value of the atomic type 'xs:boolean'.; "
        f"line 57: {element}Prosess', attribute 'status': [facet 'enumeration'] "
        "The value 'X1' is not an element of the set {'PÅ', 'AV'}.; "
        f"line 58: {element}Prosess', attribute 'status': [facet 'enumeration'] "
        "The value 'X2' is not an element of the set {'PÅ', 'AV'}."
    )


def test_r15_a_model_refusal_names_the_field_and_what_the_model_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """building.build's reason follows the fixed words: the field, not its value (R15; no personal data)."""
    strict = create_model("SubstituteFor", __base__=SubstituteFor, gp_hpr=(str, Field(max_length=1)))
    monkeypatch.setattr(payloads, "SubstituteFor", strict)
    refused = Body(variant(BO)).refused()
    assert isinstance(refused, errors.InvalidMessage)
    assert refused.description == "the message does not fit the model: gp_hpr: String should have at most 1 character"


def test_r1_the_clock_must_be_an_instant_and_the_error_says_exactly_that() -> None:
    with pytest.raises(ValueError) as caught:
        parse_message(variant(TS), now=dt.datetime(2024, 1, 1))
    assert str(caught.value) == "now must carry a UTC offset"


def test_an_accepted_message_is_logged_by_type_id_and_sender(caplog: pytest.LogCaptureFixture) -> None:
    """The DEBUG line operators follow a message by: its type, MsgId and office, no personal data (a note's
    patient FNR stays out)."""
    caplog.set_level(logging.DEBUG, logger="adapter.messages.inbound")
    parse_message(variant(DI), now=NOW)
    lines = [r.getMessage() for r in caplog.records if r.name == "adapter.messages.inbound"]
    assert lines == [
        f"accepted DIALOG_INNBYGGER_EKONSULTASJON c4e8b2a0-9d7f-4b13-a6e5-3f1d2c8b7e95 from HER-id {OFFICE}"
    ]
    assert [r.levelno for r in caplog.records if r.name == "adapter.messages.inbound"] == [logging.DEBUG]
