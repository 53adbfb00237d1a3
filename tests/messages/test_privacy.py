"""No fødselsnummer and no patient name ever reaches a log record, an error text or a receipt."""

from __future__ import annotations

import logging
import sys

import pytest
from msgsupport import NOW, PATIENT_FNR, PATIENT_NAMES, XML_EXAMPLES, example, variant

from adapter.domain import engine
from adapter.domain.state import OfficeState
from adapter.messages.apprec import build_apprec, build_error_report
from adapter.messages.errors import InboundError
from adapter.messages.inbound import parse_message
from adapter.messages.privacy import MASK, PersonalDataFilter, mask

BAD_FNR = "13116900217"
#: Refusals of the example that carries a patient, each after its envelope was read.
REFUSALS = {
    "E31": [(PATIENT_FNR, BAD_FNR)],
    "T02": [("<ConversationRef>", "<!--"), ("</ConversationRef>", "-->")],
    "E21": [("<Id>8093244</Id>", "<Id>1</Id>")],
    "T10": [("DIALOG_INNBYGGER_EKONSULTASJON", "DIALOG_INNBYGGER_TEST")],
}
SECRETS = (PATIENT_FNR, BAD_FNR, *PATIENT_NAMES)


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, message, args, None)


def test_the_filter_masks_eleven_digit_numbers_in_message_and_arguments() -> None:
    entry = record("patient %s in %s", PATIENT_FNR, f"msg-{PATIENT_FNR}x")
    assert PersonalDataFilter().filter(entry)
    assert entry.getMessage() == f"patient {MASK} in msg-{MASK}x"


def test_the_filter_leaves_other_numbers_alone() -> None:
    assert mask("HER 8141333, HPR 9144900, org 974760924, 10 1234567890, 12 123456789012") == (
        "HER 8141333, HPR 9144900, org 974760924, 10 1234567890, 12 123456789012"
    )


def test_the_filter_masks_tracebacks() -> None:
    try:
        raise ValueError(f"bad {PATIENT_FNR}")
    except ValueError:
        entry = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    PersonalDataFilter().filter(entry)
    assert PATIENT_FNR not in logging.Formatter().format(entry)


def messages_of(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(message)s")
    return "\n".join(formatter.format(entry) for entry in caplog.records)


def assert_free_of_personal_data(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_parsing_every_example_logs_no_personal_data(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receipts = []
    for name in XML_EXAMPLES:
        inbound = parse_message(example(name), now=NOW, headers={"fromHerId": 8141333})
        receipts.append(build_apprec(inbound.envelope, ok=True, gen_date=NOW))
        assert_free_of_personal_data(repr(inbound))
    assert len(caplog.records) >= len(XML_EXAMPLES)
    assert_free_of_personal_data(messages_of(caplog))
    assert_free_of_personal_data(b"".join(receipts).decode("utf-8"))


@pytest.mark.parametrize("code", REFUSALS)
def test_refusing_a_message_about_a_patient_tells_nothing_about_them(
    caplog: pytest.LogCaptureFixture, code: str
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InboundError) as caught:
        parse_message(variant("dialog-avsluttet.xml", *REFUSALS[code]), now=NOW)
    error = caught.value
    assert error.code == code
    # parsing logs nothing of its own (the service layer logs each refusal once, with its event id:
    # see the every-example test above); whatever it logs at DEBUG is free of personal data
    assert_free_of_personal_data(messages_of(caplog))
    assert_free_of_personal_data(f"{error} {error.description} {error.envelope!r}")
    apprec = build_apprec(error.envelope, ok=False, errors=[(error.code, error.description)], gen_date=NOW)
    assert_free_of_personal_data(apprec.decode("utf-8"))


def test_a_message_about_a_patient_refused_by_the_domain_tells_nothing_about_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """X99 (R1: GenDate too far ahead) is decided by the domain; its AppRec says nothing of the patient."""
    caplog.set_level(logging.DEBUG)
    inbound = parse_message(variant("dialog-avsluttet.xml", ("2023-12-21T11:20:00", "2025-12-21T11:20:00")), now=NOW)
    office = OfficeState(her_id=inbound.command.office_her_id)
    outcome = engine.note_dialogue(office, inbound.command, already_closed=False, now=NOW)
    rejection = outcome.rejection
    assert rejection is not None and rejection.code == "X99" and outcome.events == ()
    apprec = build_apprec(inbound.envelope, ok=False, errors=[(rejection.code, rejection.reason)], gen_date=NOW)
    assert_free_of_personal_data(messages_of(caplog))
    assert_free_of_personal_data(f"{rejection} {apprec.decode('utf-8')}")


def test_a_spoofed_message_about_a_patient_is_reported_without_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InboundError) as caught:
        parse_message(example("dialog-avsluttet.xml"), now=NOW, headers={"fromHerId": 1})
    body, headers = build_error_report(caught.value, original_message_id="amqp-1")
    assert_free_of_personal_data(messages_of(caplog))
    assert_free_of_personal_data(body.decode("utf-8") + repr(headers))
