"""Conformance with the official KITH standards in ../shared/kith (skipped where it is absent).

Every AppRec the adapter can build validates against AppRec 1.0; every contract example validates
against MsgHead 1.2 with our payload schemas and Dialogmelding 1.1 beside it, through the same
`schemas/ddfl-meldinger.xsd` and command that `schemas/README.md` gives vendors; and every public
sample gets a typed answer.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree
from msgsupport import (
    KITH_SAMPLES,
    KITH_SCHEMAS,
    NOW,
    PROJECT,
    XML_EXAMPLES,
    example,
    require_kith,
    sample,
    variant,
)

from adapter.messages import errors
from adapter.messages.apprec import build_apprec
from adapter.messages.envelope import read_envelope
from adapter.messages.errors import CODE_NAMES_8221, InboundError
from adapter.messages.inbound import parse_message
from adapter.messages.payloads import MAPPERS
from adapter.messages.xmlsafe import parse_xml

pytestmark = pytest.mark.kith

WRAPPER = PROJECT / "schemas" / "ddfl-meldinger.xsd"
#: What the wrapper imports beside itself; a vendor puts these official files there.
KITH_FILES = (
    "MsgHead-v1_2.xsd",
    "xmldsig-core-schema.xsd",
    "kith-base64.xsd",
    "dialogmelding-v1.1.xsd",
    "kith.xsd",
    "felleskomponent1.xsd",
)


class _KithBeside(etree.Resolver):
    """Finds the official KITH schemas where the wrapper expects them beside itself."""

    def resolve(self, url: str, public_id: str, context: object) -> object:
        name = url.rsplit("/", 1)[-1]
        if name in KITH_FILES:
            return self.resolve_filename(str(KITH_SCHEMAS / name), context)
        return None


@pytest.fixture(scope="module")
def apprec_schema() -> etree.XMLSchema:
    require_kith()
    return etree.XMLSchema(etree.parse(str(KITH_SCHEMAS / "apprec-v1.0.xsd")))


@pytest.fixture(scope="module")
def message_schema() -> etree.XMLSchema:
    require_kith()
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(_KithBeside())
    return etree.XMLSchema(etree.parse(str(WRAPPER), parser))


def assert_valid(schema: etree.XMLSchema, document: bytes) -> None:
    assert schema.validate(etree.fromstring(document)), str(schema.error_log)


# --- AppRec -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", XML_EXAMPLES)
@pytest.mark.parametrize("code", [None, *CODE_NAMES_8221])
def test_every_apprec_validates_against_apprec_1_0(apprec_schema: etree.XMLSchema, name: str, code: str | None) -> None:
    envelope = parse_message(example(name), now=NOW).envelope
    found = [] if code is None else [(code, f"{CODE_NAMES_8221[code]}: <details> & more")]
    assert_valid(apprec_schema, build_apprec(envelope, ok=code is None, errors=found, gen_date=NOW))


def test_an_apprec_with_several_errors_validates(apprec_schema: etree.XMLSchema) -> None:
    envelope = parse_message(example("dialog-avsluttet.xml"), now=NOW).envelope
    found = [(code, CODE_NAMES_8221[code]) for code in CODE_NAMES_8221]
    assert_valid(apprec_schema, build_apprec(envelope, ok=False, errors=found, gen_date=NOW))


# --- MsgHead with our payloads ------------------------------------------------------------------


@pytest.mark.parametrize("name", XML_EXAMPLES)
def test_every_example_validates_against_msghead_and_its_payload_schema(
    message_schema: etree.XMLSchema, name: str
) -> None:
    assert_valid(message_schema, example(name))


@pytest.mark.parametrize(
    "name, old, new",
    [
        ("tjenestestatus-epj.xml", 'status="AV"', 'status="AVSLÅTT"'),
        ("behandleroversikt.xml", "<HPR>7310428</HPR>", ""),
        ("dialog-avsluttet.xml", "<TemaKodet ", "<Tema "),
    ],
)
def test_a_broken_payload_fails_the_whole_message_schema(
    message_schema: etree.XMLSchema, name: str, old: str, new: str
) -> None:
    assert not message_schema.validate(etree.fromstring(variant(name, (old, new))))


def test_the_readme_xmllint_command_validates_the_examples(tmp_path: Path) -> None:
    require_kith()
    xmllint = shutil.which("xmllint")
    if xmllint is None:
        pytest.skip("xmllint is not installed (Debian package libxml2-utils)")
    for schema in (PROJECT / "schemas").glob("*.xsd"):
        shutil.copy(schema, tmp_path)
    for name in KITH_FILES:
        shutil.copy(KITH_SCHEMAS / name, tmp_path)
    for name in XML_EXAMPLES:
        (tmp_path / name).write_bytes(example(name))
        command = [xmllint, "--noout", "--nonet", "--schema", "ddfl-meldinger.xsd", name]
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr


# --- the public samples ----------------------------------------------------------------------

KS_DIALOG_1_0 = "ks-fiks-nhn-client/dialogmelding_1.0_foresporsel-og-svar_"
KS_APPREC = "ks-fiks-nhn-client/app-rec_"

#: Each public sample, and how the adapter (Helsenorge, 8093244) answers it.
SAMPLE_ANSWERS = {
    # Citizens' messages to an office: a Foresporsel, not the office's Notat the adapter takes.
    "helsenorge-messaging/DIALOG_INNBYGGER_EKONTAKT.xml": errors.InvalidMessage,
    "helsenorge-messaging/DIALOG_INNBYGGER_RESEPTFORNYELSE.xml": errors.UnsupportedMessageType,
    # A MsgHead without type, id, date or sender.
    "ks-fiks-nhn-client/dialogmelding_invalid-version.xml": errors.UnreadableEnvelope,
    # MsgHeads addressed to others.
    **dict.fromkeys(
        [
            "helsenorge-messaging/Dialogtjeneste12_Kommunikasjonstest_Request.xml",
            "helsenorge-messaging/Helsenorge_Message.xml",
            "helsenorge-messaging/MetadataTestsDialogmelding11.xml",
            f"{KS_DIALOG_1_0}dialog-foresporsel-samsvar-test.xml",
            f"{KS_DIALOG_1_0}dialog-notat-webmed-test.xml",
            f"{KS_DIALOG_1_0}dialog-svar-webmed-test-2.xml",
            f"{KS_DIALOG_1_0}dialog-svar-webmed-test.xml",
            "ks-fiks-nhn-client/dialogmelding_1.1_helsefaglig-dialog_samsvar-test-message.xml",
        ],
        errors.ReceiverUnknown,
    ),
    # Not a MsgHead: AppRecs, NAV's EI_fellesformat wrapper, a dummy document.
    **dict.fromkeys(
        [
            "helsenorge-messaging/MetadataTests_Apprec10.xml",
            "helsenorge-messaging/MetadataTests_Apprec11.xml",
            "helsenorge-messaging/SampleMessage.xml",
            f"{KS_APPREC}1.0_all-data.xml",
            f"{KS_APPREC}1.0_example-avvist.xml",
            f"{KS_APPREC}1.0_example-ok-feil-i-delmelding.xml",
            f"{KS_APPREC}1.0_example-ok.xml",
            f"{KS_APPREC}1.0_unknown-status.xml",
            f"{KS_APPREC}1.1_all-data.xml",
            f"{KS_APPREC}1.1_example-avvist.xml",
            f"{KS_APPREC}1.1_example-ok.xml",
            f"{KS_APPREC}1.1_unknown-status.xml",
            f"{KS_APPREC}missing-migversion.xml",
            f"{KS_APPREC}unknown-migversion.xml",
            "navikt-isdialogmelding/apprecError.xml",
            "navikt-isdialogmelding/apprecErrorUkjentMottaker.xml",
            "navikt-isdialogmelding/apprecOK.xml",
            "navikt-padm2/dialogmelding_dialog_notat.xml",
            "navikt-padm2/dialogmelding_dialog_notat_invalid.xml",
            "navikt-padm2/dialogmelding_dialog_svar_foresporsel_om_pasient.xml",
            "navikt-padm2/dialogmelding_dialog_svar_innkalling_dialogmote.xml",
        ],
        errors.NotMsgHead,
    ),
}


def sample_files() -> list[str]:
    if not KITH_SAMPLES.is_dir():
        return []
    return sorted(str(path.relative_to(KITH_SAMPLES)) for path in KITH_SAMPLES.glob("*/*.xml"))


def test_every_sample_has_an_expected_answer() -> None:
    require_kith()
    assert sample_files() == sorted(SAMPLE_ANSWERS)


@pytest.mark.parametrize("name", sorted(SAMPLE_ANSWERS))
def test_every_sample_gets_its_answer(apprec_schema: etree.XMLSchema, name: str) -> None:
    with pytest.raises(InboundError) as caught:
        parse_message(sample(name), now=NOW)
    error = caught.value
    assert type(error) is SAMPLE_ANSWERS[name]
    if error.error_condition is None:
        found = [(error.code, error.description)]
        assert_valid(apprec_schema, build_apprec(error.envelope, ok=False, errors=found, gen_date=NOW))


@pytest.mark.parametrize(
    "name",
    [name for name, answer in SAMPLE_ANSWERS.items() if answer is errors.ReceiverUnknown],
)
def test_a_sample_for_another_receiver_is_judged_on_its_merits_once_addressed_to_the_adapter(
    name: str,
) -> None:
    body = sample(name)
    envelope = read_envelope(parse_xml(body))
    # A type the adapter does not handle is T10; Helsenorge_Message.xml is a citizen's
    # Foresporsel under a handled type, which lacks the office's Notat.
    expected = errors.InvalidMessage if envelope.msg_type in MAPPERS else errors.UnsupportedMessageType
    with pytest.raises(expected):
        parse_message(body, now=NOW, own_her_id=envelope.receiver_her_id)
