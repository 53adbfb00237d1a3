"""Behaviour of the XML edge the mutation run of issue 15 found unpinned (`bench/mutation.py`), by rule.

Each test kills one or more surviving mutants by asserting what the message standards and
DOMAIN.md ask for; survivors that cannot change behaviour are in `bench/mutation-equivalent.txt`.
"""

from __future__ import annotations

import codecs
import datetime as dt

import pytest
from msgsupport import NOW, variant
from pydantic import BaseModel, Field, create_model

from adapter.domain.model import DialogueNote, ReplaceRoster, ReportServiceStatus
from adapter.messages import errors, payloads
from adapter.messages.errors import InboundError
from adapter.messages.inbound import Inbound, parse_message
from adapter.messages.xmlsafe import Limits, parse_xml


def accept(body: bytes) -> Inbound:
    return parse_message(body, now=NOW)


def refuse(body: bytes, expected: type[InboundError]) -> InboundError:
    with pytest.raises(expected) as caught:
        parse_message(body, now=NOW)
    return caught.value


def answered_by_apprec(error: InboundError, code: str) -> bool:
    """R15: answered to the sender office with an AppRec (so the envelope is known), not on the error queue."""
    return (
        error.code == code
        and error.error_condition is None
        and error.envelope is not None
        and error.reported_sender == error.envelope.sender_her_id
    )


# --- R1: Tjenestestatus ---------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "complete"), [("true", True), ("1", True), ("false", False), ("0", False)])
def test_r1_komplett_is_an_xml_boolean_in_either_spelling(written: str, complete: bool) -> None:
    """xs:boolean allows 1 and 0 as well as true and false; a complete report switches off the rest."""
    body = variant("tjenestestatus-ar-komplett.xml", ("<Komplett>true</Komplett>", f"<Komplett>{written}</Komplett>"))
    command = accept(body).command
    assert isinstance(command, ReportServiceStatus) and command.complete is complete


# --- R9: behandleroversikt --------------------------------------------------------------------------


def test_r9_a_substitute_period_of_a_single_day_is_taken() -> None:
    body = variant("behandleroversikt.xml", ("<TilDato>2024-07-31</TilDato>", "<TilDato>2024-07-01</TilDato>"))
    command = accept(body).command
    assert isinstance(command, ReplaceRoster)
    cover = command.practitioners[1].covers
    assert cover is not None and (cover.from_date, cover.to_date) == (dt.date(2024, 7, 1), dt.date(2024, 7, 1))


def test_issue_12_a_role_without_a_name_is_read_as_no_name() -> None:
    """Rolle's DN is optional in the behandleroversikt: without it the role has no name of its own,
    so the booking list words the role itself ("behandler" for a code it does not name)."""
    body = variant("behandleroversikt.xml", ('<Rolle V="99" DN="Jordmor"', '<Rolle V="99"'))
    command = accept(body).command
    assert isinstance(command, ReplaceRoster)
    assert [p.role_name for p in command.practitioners if p.role == "99"] == [""]


def test_r9_r15_a_substitute_period_ending_before_it_starts_names_the_entry_in_the_refusal() -> None:
    body = variant("behandleroversikt.xml", ("<TilDato>2024-07-31</TilDato>", "<TilDato>2024-06-30</TilDato>"))
    error = refuse(body, errors.InvalidMessage)
    assert answered_by_apprec(error, "T02")
    assert "Behandler 5522113" in error.description


def test_r15_a_behandleroversikt_that_does_not_validate_is_answered_t02() -> None:
    body = variant("behandleroversikt.xml", ("<HPR>7310428</HPR>", "<HPR>not-a-number</HPR>"))
    error = refuse(body, errors.InvalidMessage)
    assert answered_by_apprec(error, "T02")
    assert "does not validate" in error.description


def test_r1_the_clock_must_be_an_instant_and_the_refusal_says_so() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        parse_message(variant("tjenestestatus-epj.xml"), now=dt.datetime(2024, 1, 1))


# --- R7: Dialogmelding notes ------------------------------------------------------------------------

TEMA_13 = '<TemaKodet V="13" DN="Dialog avsluttet" S="2.16.578.1.12.4.1.1.7602"/>'


def test_r7_a_temakodet_without_a_code_is_a_note_that_closes_nothing() -> None:
    """No V: the note carries no code (None, not an invented one), so it is acknowledged and closes nothing."""
    command = accept(variant("dialog-avsluttet.xml", (TEMA_13, '<TemaKodet DN="Dialog avsluttet"/>'))).command
    assert isinstance(command, DialogueNote)
    assert (command.code, command.code_system) == (None, None)


def test_r7_a_closing_code_without_its_code_list_is_read_without_one() -> None:
    """No S: the code list is not named (None), which R7 takes as kodeverk 7602."""
    command = accept(variant("dialog-avsluttet.xml", (TEMA_13, '<TemaKodet V="13" DN="Dialog avsluttet"/>'))).command
    assert isinstance(command, DialogueNote)
    assert (command.code, command.code_system) == ("13", None)


def test_r7_a_closing_note_after_one_without_a_code_still_closes() -> None:
    two_notes = '<TemaKodet DN="uten kode"/></Notat><Notat>' + TEMA_13
    command = accept(variant("dialog-avsluttet.xml", (TEMA_13, two_notes))).command
    assert isinstance(command, DialogueNote) and command.code == "13"


# --- R13, R15: who sent it ---------------------------------------------------------------------------


@pytest.mark.parametrize("header", [0, -8141333, b"\xff8141333", b"\xc2\xa08141333", "8141333x", True])
def test_r13_a_fromherid_that_is_no_her_id_is_spoofing_reported_to_nobody(header: object) -> None:
    """A HER-id is a positive number; bytes that are not ASCII digits, zero, a negative or a flag are
    no sender's address, so the spoofing report goes to nobody, and reading them never fails. Header
    bytes are read as ASCII: UTF-8's no-break space (C2 A0) is no padding to strip off a HER-id."""
    with pytest.raises(errors.SpoofedSender) as caught:
        parse_message(variant("tjenestestatus-epj.xml"), now=NOW, headers={"fromHerId": header})
    assert caught.value.reported_sender is None


def test_r13_the_smallest_her_id_is_a_sender_to_report_to() -> None:
    with pytest.raises(errors.SpoofedSender) as caught:
        parse_message(variant("tjenestestatus-epj.xml"), now=NOW, headers={"fromHerId": 1})
    assert caught.value.reported_sender == 1


# --- R15: a model stricter than the schema still gets an answer -------------------------------------


def stricter(model: type[BaseModel], field: str) -> type[BaseModel]:
    """`model` with `field` limited to one character: a domain model stricter than the XML checks."""
    return create_model(model.__name__, __base__=model, **{field: (str, Field(max_length=1))})  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("name", "model", "field"),
    [
        ("tjenestestatus-epj.xml", "ReportServiceStatus", "practitioner_hpr"),
        ("behandleroversikt.xml", "Practitioner", "hpr"),
        ("behandleroversikt.xml", "SubstituteFor", "gp_hpr"),
        ("dialog-avsluttet.xml", "DialogueNote", "conversation_ref"),
    ],
)
def test_r15_a_command_the_domain_model_refuses_is_answered_t02(
    monkeypatch: pytest.MonkeyPatch, name: str, model: str, field: str
) -> None:
    """building.build's guarantee: a pydantic refusal never escapes; it is an AppRec T02 to the sender."""
    monkeypatch.setattr(payloads, model, stricter(getattr(payloads, model), field))
    error = refuse(variant(name), errors.InvalidMessage)
    assert answered_by_apprec(error, "T02")
    assert error.description.startswith("the message does not fit the model: ")
    assert field in error.description


# --- R15 (T01): the depth limit ----------------------------------------------------------------------


def test_r15_closing_an_element_returns_to_its_parents_depth_not_to_the_top() -> None:
    """After `<b/>` closes at depth 3 the count is 2 again, so a sibling nesting two levels deeper
    reaches 5 and is refused by a limit of 4: closed elements never buy room for deeper ones."""
    deeper_sibling = b"<r><a><b/><b><c><d/></c></b></a></r>"
    with pytest.raises(errors.TooDeep):
        parse_xml(deeper_sibling, Limits(max_depth=4))
    assert parse_xml(deeper_sibling, Limits(max_depth=5)) is not None


def test_r15_an_unfinished_document_is_refused_by_the_vetting_pass_saying_where() -> None:
    """The vetting pass reads the body as complete (expat's final chunk), so an element never closed is
    refused there, with the line and column the sender needs, before lxml ever sees the bytes."""
    with pytest.raises(errors.NotWellFormed) as caught:
        parse_xml(b"<a>")
    assert caught.value.description == "line 1, column 3: no element found"


def test_r15_an_encoding_the_vetting_parser_cannot_read_says_why() -> None:
    with pytest.raises(errors.BadEncoding) as caught:
        parse_xml(b'<?xml version="1.0" encoding="Shift_JIS"?><a>\x82\xa0</a>')
    assert "multi-byte" in caught.value.description


# --- R15 (T01): encodings, XML 1.0 appendix F -------------------------------------------------------

DECLARED = '<?xml version="1.0" encoding="{}"?><a>PÅ</a>'


@pytest.mark.parametrize(
    ("body", "said"),
    [
        pytest.param(DECLARED.format("UTF-8").encode("utf-16"), "declares UTF-8 but the bytes are utf-16", id="utf-16"),
        pytest.param(
            codecs.BOM_UTF8 + DECLARED.format("ISO-8859-1").encode("latin-1"),
            "declares ISO-8859-1 but the bytes are utf-8",
            id="utf-8-bom",
        ),
        pytest.param(DECLARED.format("UTF-16").encode(), "declares UTF-16 but the bytes are not", id="no-bom"),
        pytest.param(DECLARED.format("UTF-32").encode(), "declares UTF-32 but the bytes are not", id="no-bom-32"),
        pytest.param(b"<a>\xc3\x28</a>", "not valid UTF-8 at byte 3", id="undeclared"),
        pytest.param(DECLARED.format("US-ASCII").encode(), "not valid US-ASCII at byte 45", id="declared"),
    ],
)
def test_r15_an_encoding_refusal_says_what_was_declared_and_what_the_bytes_are(body: bytes, said: str) -> None:
    """The adapter's own check decides (a byte order mark, even UTF-8's, is read past to find the
    declaration), and the sender is told which claim the bytes contradict, not a parser's guess."""
    with pytest.raises(errors.BadEncoding) as caught:
        parse_xml(body)
    assert caught.value.description == said


def test_r15_text_before_the_xml_declaration_is_not_well_formed_not_an_encoding_claim() -> None:
    """XML 1.0 puts the declaration at the very start (only a byte order mark may precede it): a body
    opening with anything else has no declaration to be checked against, and is refused as not
    well-formed where the vetting parser stops, not for the encoding a misplaced declaration names."""
    with pytest.raises(errors.NotWellFormed) as caught:
        parse_xml(b'X<?xml version="1.0" encoding="UTF-16"?><a/>')
    assert caught.value.description == "line 1, column 1: not well-formed (invalid token)"


PADDED = b'<?xml version="1.0"%bencoding="ISO-8859-1"?><a>\xe5</a>'


def test_r15_the_declaration_is_read_from_the_first_512_bytes_only() -> None:
    """The encoding check decodes a 512-byte prologue, not the whole body (up to 1 MiB), to find the
    declaration: one padded with blanks so that it ends past byte 512 is not read there, so the body is
    taken for UTF-8 and its Latin-1 byte refused, rather than a claim the check never saw being trusted.
    A declaration is a few dozen bytes, so no sender meets this limit."""
    ends_at_511 = PADDED % (b" " * 472)
    ends_at_512 = PADDED % (b" " * 473)
    assert ends_at_512.index(b'"?>') == 512
    assert parse_xml(ends_at_511).findtext(".") == "å"
    with pytest.raises(errors.BadEncoding) as caught:
        parse_xml(ends_at_512)
    assert caught.value.description == "not valid UTF-8 at byte 518"


# --- R15: the tree lxml builds ------------------------------------------------------------------------


def test_r15_comments_and_processing_instructions_are_no_payload_elements() -> None:
    """Content must hold exactly one element: a comment or a processing instruction beside the payload
    is no second element (the parser drops both), so the message is read as usual."""
    body = variant(
        "tjenestestatus-epj.xml",
        ("<Content>", "<Content><!-- eksportert fra EPJ --><?epj versjon='7'?>"),
    )
    assert isinstance(accept(body).command, ReportServiceStatus)


def test_r15_an_unbound_namespace_prefix_is_refused_saying_which() -> None:
    """The vetting pass reads names without namespaces; lxml then refuses the unbound prefix, and says so."""
    with pytest.raises(errors.NotWellFormed) as caught:
        parse_xml(b"<p:a/>")
    assert caught.value.description.startswith("Namespace prefix p on a is not defined")
