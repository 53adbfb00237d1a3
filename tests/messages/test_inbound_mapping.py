"""Every contract example becomes its command; each refusal has its code and its way back (R15)."""

from __future__ import annotations

import datetime as dt

import pytest
from msgsupport import NOW, OSLO, PATIENT_FNR, example, variant

from adapter.domain import engine
from adapter.domain.model import (
    DialogueNote,
    Practitioner,
    Process,
    ReplaceRoster,
    ReportServiceStatus,
    Service,
    Source,
    SubstituteFor,
)
from adapter.messages import errors
from adapter.messages.errors import CODE_NAMES_8221, InboundError
from adapter.messages.inbound import Inbound, parse_message
from adapter.messages.xmlsafe import Limits

TS_OPEN = '<Tjenestestatus xmlns="urn:no:ddfl-adapter:tjenestestatus:1">'
EKONSULTASJON = '<Type V="DIALOG_INNBYGGER_EKONSULTASJON"'
EPJ_GENDATE = dt.datetime(2023, 12, 20, 15, 0, tzinfo=OSLO)
HCP_IN_EPJ = """        <HealthcareProfessional>
          <RoleToPatient V="6" DN="Fastlege" S="2.16.578.1.12.4.1.1.9034"/>
          <FamilyName>Info</FamilyName>
          <GivenName>Astrid</GivenName>
          <Ident>
            <Id>9144900</Id>
            <TypeId V="HPR" DN="HPR-nummer" S="2.16.578.1.12.4.1.1.8116"/>
          </Ident>
        </HealthcareProfessional>
"""


def accept(body: bytes, **options: object) -> Inbound:
    options.setdefault("now", NOW)
    return parse_message(body, **options)


def refuse(body: bytes, expected: type[InboundError], **options: object) -> InboundError:
    options.setdefault("now", NOW)
    with pytest.raises(expected) as caught:
        parse_message(body, **options)
    return caught.value


# --- the examples ----------------------------------------------------------------------------


def test_tjenestestatus_from_epj() -> None:
    inbound = accept(example("tjenestestatus-epj.xml"))
    envelope = inbound.envelope
    assert envelope.msg_type == "DIALOG_INNBYGGER_TJENESTESTATUS"
    assert envelope.msg_id == "5b0d9c1e-6a43-4f8e-9a51-0c2f4d6e7a10"
    assert envelope.gen_date == EPJ_GENDATE
    assert envelope.ack_requested is True
    assert (envelope.sender_her_id, envelope.sender_hpr) == (8141333, "9144900")
    assert envelope.receiver_her_id == 8093244  # Helsenorge, nested inside NHN (115851)
    assert envelope.conversation_ref is None
    assert inbound.command == ReportServiceStatus(
        message=envelope.message_ref,
        office_her_id=8141333,
        practitioner_hpr="9144900",
        source=Source.EPJ,
        complete=False,
        statuses={
            Process.TIMERESERVASJON: False,
            Process.RESEPTFORNYELSE: False,
            Process.EKONSULTASJON: False,
        },
    )


def test_tjenestestatus_complete_from_ar() -> None:
    inbound = accept(example("tjenestestatus-ar-komplett.xml"))
    assert inbound.envelope.ack_requested is False
    command = inbound.command
    assert isinstance(command, ReportServiceStatus)
    assert (command.source, command.complete) == (Source.AR, True)
    assert command.statuses == {
        Process.TIMERESERVASJON: True,
        Process.EKONSULTASJON: True,
        Process.EKONTAKT: True,
    }


def test_a_complete_tjenestestatus_with_no_process_switches_everything_off() -> None:
    body = variant(
        "tjenestestatus-ar-komplett.xml",
        ('<Prosess navn="Dialog_Innbygger_Timereservasjon" status="PÅ"/>', ""),
        ('<Prosess navn="Dialog_Innbygger_Ekonsultasjon" status="PÅ"/>', ""),
        ('<Prosess navn="Dialog_Innbygger_Ekontakt" status="PÅ"/>', ""),
    )
    command = accept(body).command
    assert isinstance(command, ReportServiceStatus)
    assert (command.complete, command.statuses) == (True, {})


def test_behandleroversikt() -> None:
    inbound = accept(example("behandleroversikt.xml"))
    assert inbound.envelope.sender_hpr is None
    assert inbound.command == ReplaceRoster(
        message=inbound.envelope.message_ref,
        office_her_id=8141333,
        practitioners=(
            Practitioner(
                hpr="9144900", her_id=8141705, given_name="Astrid", family_name="Info", role="6", role_name="Fastlege"
            ),
            Practitioner(
                hpr="5522113",
                given_name="Ingar",
                family_name="Vik",
                role="15",
                role_name="Vikar for fastlege",
                covers=SubstituteFor(gp_hpr="9144900", from_date=dt.date(2024, 7, 1), to_date=dt.date(2024, 7, 31)),
            ),
            Practitioner(hpr="7310428", given_name="Arna", family_name="Berg", role="99", role_name="Jordmor"),
        ),
        office_name="Lysaker legesenter",  # the MsgHead sender's OrganisationName
    )


def test_a_substitute_period_may_be_open_ended() -> None:
    command = accept(variant("behandleroversikt.xml", ("<TilDato>2024-07-31</TilDato>", ""))).command
    assert isinstance(command, ReplaceRoster)
    assert command.practitioners[1].covers.to_date is None


def test_dialog_avsluttet_closes_an_e_consultation() -> None:
    inbound = accept(example("dialog-avsluttet.xml"))
    assert inbound.command == DialogueNote(
        message=inbound.envelope.message_ref,
        office_her_id=8141333,
        practitioner_hpr="9144900",
        service=Service.E_KONSULTASJON,
        conversation_ref="0a8c6e4d-7b2f-4e1a-b9c3-5d8e7f6a4b21",
        code="13",
        code_system="2.16.578.1.12.4.1.1.7602",
    )


def test_an_ekontakt_note_is_about_kontakt_legekontoret() -> None:
    body = variant("dialog-avsluttet.xml", (EKONSULTASJON, '<Type V="DIALOG_INNBYGGER_EKONTAKT"'))
    command = accept(body).command
    assert isinstance(command, DialogueNote)
    assert command.service == Service.KONTAKT_LEGEKONTORET


def test_a_closing_note_decides_wherever_it_stands() -> None:
    other = '<Notat><TemaKodet V="1" DN="Annet" S="2.16.578.1.12.4.1.1.7602"/></Notat>'
    body = variant("dialog-avsluttet.xml", ("<Notat>", other + "<Notat>"))
    assert accept(body).command.code == "13"


def test_a_note_with_another_code_is_accepted_with_that_code() -> None:
    body = variant("dialog-avsluttet.xml", ('<TemaKodet V="13"', '<TemaKodet V="2"'))
    assert accept(body).command.code == "2"


def test_a_gendate_without_offset_is_oslo_time() -> None:
    body = variant(
        "tjenestestatus-epj.xml",
        ("<GenDate>2023-12-20T15:00:00+01:00</GenDate>", "<GenDate>2023-12-20T15:00:00</GenDate>"),
    )
    assert accept(body).envelope.gen_date == EPJ_GENDATE


# --- refusals answered with an AppRec ---------------------------------------------------------


def assert_answered_by_apprec(error: InboundError, code: str) -> None:
    assert error.code == code
    assert error.error_condition is None
    assert error.envelope is not None
    assert error.reported_sender == error.envelope.sender_her_id == 8141333


def test_an_unsupported_type_is_t10() -> None:
    body = variant("dialog-avsluttet.xml", (EKONSULTASJON, '<Type V="DIALOG_INNBYGGER_RESEPTFORNYELSE"'))
    error = refuse(body, errors.UnsupportedMessageType)
    assert_answered_by_apprec(error, "T10")
    assert error.event_id == "DDFL-T10-UNSUPPORTED-TYPE"


def test_a_description_quoting_the_sender_is_kept_short() -> None:
    body = variant("dialog-avsluttet.xml", ("DIALOG_INNBYGGER_EKONSULTASJON", "X" * 100_000))
    error = refuse(body, errors.UnsupportedMessageType)
    assert len(error.description) == errors.MAX_DESCRIPTION


def test_an_invalid_fnr_is_e31() -> None:
    body = variant("dialog-avsluttet.xml", (PATIENT_FNR, "13116900217"))
    error = refuse(body, errors.InvalidPatientId)
    assert_answered_by_apprec(error, "E31")
    assert "1311690021" not in str(error)


@pytest.mark.parametrize(
    "kind, number",
    [("FNR", "13116900216"), ("DNR", "41019012393"), ("FNR", "01010112377")],
)
def test_valid_person_numbers_are_accepted(kind: str, number: str) -> None:
    body = variant(
        "dialog-avsluttet.xml",
        (PATIENT_FNR, number),
        ('<TypeId V="FNR" DN="Fødselsnummer"', f'<TypeId V="{kind}" DN="Fødselsnummer"'),
    )
    assert accept(body).command.code == "13"


@pytest.mark.parametrize(
    "kind, number",
    [
        ("DNR", "13116900216"),  # a valid FNR is not a D-nummer
        ("FNR", "41019012393"),  # nor the other way round
        ("DNR", "41019012394"),
        ("FNR", "1311690021"),
        ("FNR", "1311690021x"),
        ("FNR", ""),
    ],
)
def test_invalid_person_numbers_are_e31(kind: str, number: str) -> None:
    body = variant(
        "dialog-avsluttet.xml",
        (f"<Id>{PATIENT_FNR}</Id>", f"<Id>{number}</Id>"),
        ('<TypeId V="FNR" DN="Fødselsnummer"', f'<TypeId V="{kind}" DN="Fødselsnummer"'),
    )
    refuse(body, errors.InvalidPatientId)


def test_a_gendate_exactly_ten_minutes_ahead_is_accepted() -> None:
    body = example("tjenestestatus-epj.xml")
    assert accept(body, now=EPJ_GENDATE - dt.timedelta(minutes=10)).envelope.gen_date == EPJ_GENDATE


def test_a_gendate_more_than_ten_minutes_ahead_is_x99() -> None:
    """R1's clock check is the domain's, one rule for every command (the edge only reads the GenDate)."""
    body = example("tjenestestatus-epj.xml")
    now = EPJ_GENDATE - dt.timedelta(minutes=10, seconds=1)
    inbound = accept(body, now=now)
    rejection = engine.clock_refusal(inbound.command.message, now)
    assert rejection is not None and rejection.code == "X99"
    assert engine.clock_refusal(inbound.command.message, now + dt.timedelta(seconds=1)) is None


def test_now_must_be_an_instant() -> None:
    with pytest.raises(ValueError):
        parse_message(example("tjenestestatus-epj.xml"), now=dt.datetime(2024, 1, 1))


def test_another_receiver_is_e21() -> None:
    body = variant("tjenestestatus-epj.xml", ("<Id>8093244</Id>", "<Id>8093245</Id>"))
    error = refuse(body, errors.ReceiverUnknown)
    assert_answered_by_apprec(error, "E21")
    assert error.envelope.receiver_her_id == 8093245


def test_the_own_her_id_is_configurable() -> None:
    body = variant("tjenestestatus-epj.xml", ("<Id>8093244</Id>", "<Id>8093245</Id>"))
    assert accept(body, own_her_id=8093245).envelope.receiver_her_id == 8093245
    refuse(example("tjenestestatus-epj.xml"), errors.ReceiverUnknown, own_her_id=8093245)


def test_tjenestestatus_without_a_practitioner_is_e20() -> None:
    body = variant("tjenestestatus-epj.xml", (HCP_IN_EPJ, ""))
    assert_answered_by_apprec(refuse(body, errors.PractitionerNotIdentified), "E20")


def test_a_malformed_hpr_is_e20() -> None:
    body = variant("dialog-avsluttet.xml", ("<Id>9144900</Id>", "<Id>91449</Id>"))
    assert_answered_by_apprec(refuse(body, errors.PractitionerNotIdentified), "E20")


@pytest.mark.parametrize(
    "name, replacements",
    [
        pytest.param(
            "tjenestestatus-epj.xml",
            [('status="AV"', 'status="AVSLÅTT"')],
            id="payload-does-not-validate",
        ),
        pytest.param(
            "tjenestestatus-epj.xml",
            [
                ('<Prosess navn="Dialog_Innbygger_Timereservasjon" status="AV"/>', ""),
                ('<Prosess navn="Dialog_Innbygger_Reseptfornyelse" status="AV"/>', ""),
                ('<Prosess navn="Dialog_Innbygger_Ekonsultasjon" status="AV"/>', ""),
            ],
            id="partial-tjenestestatus-lists-nothing",
        ),
        pytest.param(
            "behandleroversikt.xml",
            [("<VikarFor>", "<!--"), ("</VikarFor>", "-->")],
            id="substitute-without-vikarfor",
        ),
        pytest.param(
            "behandleroversikt.xml",
            [("<TilDato>2024-07-31</TilDato>", "<TilDato>2024-06-30</TilDato>")],
            id="vikar-period-ends-before-it-starts",
        ),
        pytest.param(
            "dialog-avsluttet.xml",
            [("<ConversationRef>", "<!--"), ("</ConversationRef>", "-->")],
            id="note-without-conversation",
        ),
        pytest.param(
            "dialog-avsluttet.xml",
            [("<Notat>", "<Foresporsel>"), ("</Notat>", "</Foresporsel>")],
            id="dialogmelding-without-notat",
        ),
        pytest.param(
            "dialog-avsluttet.xml",
            [('<TemaKodet V="13" DN="Dialog avsluttet" S="2.16.578.1.12.4.1.1.7602"/>', "")],
            id="notat-without-temakodet",
        ),
        pytest.param(
            "dialog-avsluttet.xml",
            [("dialog/2013-01-23", "dialog/2006-10-11")],
            id="dialogmelding-1.0",
        ),
        pytest.param(
            "tjenestestatus-epj.xml",
            [('<Type V="DIALOG_INNBYGGER_TJENESTESTATUS"', EKONSULTASJON)],
            id="payload-of-another-type",
        ),
        pytest.param(
            "tjenestestatus-epj.xml",
            [(TS_OPEN, '<Tjenestestatus xmlns="urn:no:ddfl-adapter:tjenestestatus:1"/>' + TS_OPEN)],
            id="two-payloads",
        ),
        pytest.param(
            "tjenestestatus-epj.xml",
            [
                (
                    "</Document>",
                    "</Document><Document><RefDoc><MsgType V='XML'/></RefDoc></Document>",
                )
            ],
            id="two-documents",
        ),
        pytest.param(
            "tjenestestatus-epj.xml",
            [
                (
                    "<MIGversion>v1.2 2006-05-24</MIGversion>",
                    "<MIGversion>v1.1 2006-05-24</MIGversion>",
                )
            ],
            id="another-msghead-version",
        ),
        pytest.param(
            "dialog-avsluttet.xml",
            [("<Dialogmelding ", "<Dialogmeldinger "), ("</Dialogmelding>", "</Dialogmeldinger>")],
            id="not-a-dialogmelding-root",
        ),
    ],
)
def test_an_invalid_message_is_t02(name: str, replacements: list[tuple[str, str]]) -> None:
    error = refuse(variant(name, *replacements), errors.InvalidMessage)
    assert_answered_by_apprec(error, "T02")


# --- refusals reported on the error queue ------------------------------------------------------


def test_a_sender_other_than_the_transport_sender_is_a_spoofing_attack() -> None:
    error = refuse(example("tjenestestatus-epj.xml"), errors.SpoofedSender, headers={"fromHerId": 1234})
    assert (error.code, error.error_condition) == ("X99", "abuse:spoofing-attack")
    assert error.envelope is not None and error.envelope.sender_her_id == 8141333
    assert error.reported_sender == 1234  # the transport-level sender, not the claimed office


def test_an_unreadable_fromherid_is_a_spoofing_attack_reported_to_nobody() -> None:
    error = refuse(example("tjenestestatus-epj.xml"), errors.SpoofedSender, headers={"fromHerId": "abc"})
    assert error.reported_sender is None


@pytest.mark.parametrize("header", [8141333, "8141333", b"8141333", " 8141333 "])
def test_a_matching_fromherid_is_accepted_in_any_amqp_form(header: object) -> None:
    assert accept(example("tjenestestatus-epj.xml"), headers={"fromHerId": header}).envelope


def test_spoofing_is_checked_before_anything_answered_with_an_apprec() -> None:
    body = variant("tjenestestatus-epj.xml", ("<Id>8093244</Id>", "<Id>8093245</Id>"))
    refuse(body, errors.SpoofedSender, headers={"fromHerId": 1234})


EPJ_GENDATE_ELEMENT = "<GenDate>2023-12-20T15:00:00+01:00</GenDate>"


@pytest.mark.parametrize(
    "replacements",
    [
        pytest.param([("<MsgId>5b0d9c1e-6a43-4f8e-9a51-0c2f4d6e7a10</MsgId>", "")], id="no-msgid"),
        pytest.param([(EPJ_GENDATE_ELEMENT, "<GenDate>i går</GenDate>")], id="bad-gendate"),
        pytest.param([(EPJ_GENDATE_ELEMENT, "<GenDate>2023-12-20</GenDate>")], id="gendate-is-a-date"),
        pytest.param([('<Type V="DIALOG_INNBYGGER_TJENESTESTATUS"', "<Type")], id="no-type"),
        pytest.param([("<Id>8141333</Id>", "<Id>HER8141333</Id>")], id="sender-her-id-not-a-number"),
        pytest.param([("<MsgInfo>", "<MsgInfoX>"), ("</MsgInfo>", "</MsgInfoX>")], id="no-msginfo"),
    ],
)
def test_an_envelope_an_apprec_cannot_answer_goes_to_the_error_queue(
    replacements: list[tuple[str, str]],
) -> None:
    body = variant("tjenestestatus-epj.xml", *replacements)
    error = refuse(body, errors.UnreadableEnvelope, headers={"fromHerId": 8141333})
    assert (error.code, error.error_condition) == ("T02", "transport:invalid-field-value")
    assert error.envelope is None
    assert error.reported_sender == 8141333


def test_a_document_that_is_not_a_msghead_is_unsupported() -> None:
    body = b'<AppRec xmlns="http://www.kith.no/xmlstds/apprec/2004-11-21"/>'
    error = refuse(body, errors.NotMsgHead)
    assert (error.code, error.error_condition) == ("T10", "transport:unsupported-message")
    assert error.reported_sender is None


def test_unreadable_xml_is_reported_to_the_transport_sender() -> None:
    error = refuse(b"<MsgHead", errors.NotWellFormed, headers={"fromHerId": "8141333"})
    assert (error.code, error.error_condition) == ("T01", "transport:not-well-formed-xml")
    assert error.reported_sender == 8141333


def test_the_limits_are_passed_on() -> None:
    refuse(example("tjenestestatus-epj.xml"), errors.TooLarge, limits=Limits(max_bytes=100))


# --- the table of errors ------------------------------------------------------------------------

ERROR_TYPES = InboundError.__subclasses__()
CONDITIONS = {
    None,
    "transport:not-well-formed-xml",
    "transport:invalid-field-value",
    "transport:unsupported-message",
    "abuse:spoofing-attack",
}


@pytest.mark.parametrize("error_type", ERROR_TYPES, ids=lambda error_type: error_type.__name__)
def test_each_error_has_one_code_one_condition_and_a_stable_event_id(
    error_type: type[InboundError],
) -> None:
    assert error_type.code in CODE_NAMES_8221
    assert error_type.error_condition in CONDITIONS
    assert error_type.event_id.startswith(f"DDFL-{error_type.code}-")


def test_event_ids_are_unique_and_every_code_is_used() -> None:
    assert len({error_type.event_id for error_type in ERROR_TYPES}) == len(ERROR_TYPES)
    assert {error_type.code for error_type in ERROR_TYPES} == set(CODE_NAMES_8221)


# --- the payload: exactly one element in Content (issue 15) -----------------------------------


@pytest.mark.parametrize("name", ["tjenestestatus-epj.xml", "behandleroversikt.xml", "dialog-avsluttet.xml"])
@pytest.mark.parametrize("content", ["<Content></Content>", "<Content/>", "<Content>  text only </Content>", "twice"])
def test_an_empty_or_multi_element_content_is_t02(name: str, content: str) -> None:
    """R15: answered with an AppRec T02 like any payload that does not validate, never an exception
    the worker would redeliver until the message is dead-lettered."""
    body = example(name).decode("utf-8")
    start, end = body.index("<Content>"), body.index("</Content>") + len("</Content>")
    inner = body[start + len("<Content>") : end - len("</Content>")]
    replaced = f"<Content>{inner}{inner}</Content>" if content == "twice" else content
    error = refuse((body[:start] + replaced + body[end:]).encode("utf-8"), errors.InvalidMessage)
    assert_answered_by_apprec(error, "T02")
    assert "exactly one element" in error.description


def test_a_document_without_content_is_t02() -> None:
    body = example("tjenestestatus-epj.xml").decode("utf-8")
    start, end = body.index("<Content>"), body.index("</Content>") + len("</Content>")
    error = refuse((body[:start] + body[end:]).encode("utf-8"), errors.InvalidMessage)
    assert_answered_by_apprec(error, "T02")
