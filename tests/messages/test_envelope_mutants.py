"""Pins what the mutation run of issue 15 found unpinned in envelope.py, identifiers.py and
privacy.py: which organisation a sender speaks for (R13), that a GenDate's own offset is kept,
a person number whose check digit is 0 (kodeverk 8116, R15 E31), and the traceback and stack
texts the personal-data filter leaves behind."""

from __future__ import annotations

import datetime as dt
import io
import logging

import pytest
from lxml import etree

from adapter.messages.envelope import MSGHEAD_NS, OSLO, parse_datetime, read_envelope
from adapter.messages.identifiers import is_valid_person_number
from adapter.messages.privacy import MASK, PersonalDataFilter

PATIENT_FNR = "13116900216"


def _organisation(her_id: str, inner: str = "", professional: bool = False) -> str:
    hpr = (
        "<HealthcareProfessional><Ident><Id>9144900</Id><TypeId V='HPR'/></Ident></HealthcareProfessional>"
        if professional
        else ""
    )
    return f"<Organisation><Ident><Id>{her_id}</Id><TypeId V='HER'/></Ident>{hpr}{inner}</Organisation>"


def _msghead(sender: str) -> etree._Element:
    return etree.fromstring(
        f"<MsgHead xmlns='{MSGHEAD_NS}'><MsgInfo><Type V='DIALOG_INNBYGGER_EKONSULTASJON'/>"
        "<MsgId>m-1</MsgId><GenDate>2024-01-02T10:00:00</GenDate>"
        f"<Sender>{sender}</Sender></MsgInfo></MsgHead>"
    )


def test_r13_the_sender_is_the_organisation_holding_the_professional_not_the_innermost() -> None:
    """R13: the office a message speaks for is the organisation that holds the
    HealthcareProfessional, even when an inner organisation with a HER-id follows it."""
    outer_holds = _organisation("8141333", inner=_organisation("8093244"), professional=True)
    assert read_envelope(_msghead(outer_holds)).sender_her_id == 8141333


def test_r13_without_a_professional_the_sender_is_the_innermost_organisation() -> None:
    """R13: no organisation holds a professional: the innermost one with a HER-id speaks."""
    envelope = read_envelope(_msghead(_organisation("8141333", inner=_organisation("8093244"))))
    assert envelope.sender_her_id == 8093244


@pytest.mark.parametrize(
    ("text", "offset"),
    [("2024-01-02T10:00:00Z", dt.timedelta(0)), ("2024-07-02T10:00:00+05:30", dt.timedelta(hours=5, minutes=30))],
)
def test_a_gen_date_with_its_own_offset_keeps_it(text: str, offset: dt.timedelta) -> None:
    """Only a GenDate without an offset is Oslo time; one with an offset is that instant (R1 orders
    messages by GenDate, so a shifted instant would reorder them)."""
    parsed = parse_datetime(text)
    assert parsed is not None
    assert parsed.utcoffset() == offset
    assert parsed == dt.datetime(parsed.year, parsed.month, 2, 10, tzinfo=dt.timezone(offset))


def test_a_gen_date_without_an_offset_is_oslo_time() -> None:
    assert parse_datetime("2024-01-02T10:00:00") == dt.datetime(2024, 1, 2, 10, tzinfo=OSLO)


@pytest.mark.parametrize(
    "number",
    [
        "13116900801",  # first check digit 0: the weighted sum is a multiple of 11
        "13116900720",  # second check digit 0, the same way
    ],
)
def test_a_person_number_whose_check_digit_is_zero_is_valid(number: str) -> None:
    """Kodeverk 8116 FNR: a remainder of 0 gives check digit 0, not 11 (which would reject a real
    patient with E31, R15)."""
    assert is_valid_person_number(number, "FNR")
    assert not is_valid_person_number(number[:-1] + str((int(number[-1]) + 1) % 10), "FNR")


def test_the_filter_masks_the_stack_and_keeps_it() -> None:
    """A record logged with stack_info keeps its stack, masked: the fødselsnummer is gone, the
    stack is not."""
    entry = logging.LogRecord("t", logging.INFO, __file__, 1, "checked", None, None)
    entry.stack_info = f'Stack (most recent call last):\n  File "x.py", line 1, in check {PATIENT_FNR}'
    assert PersonalDataFilter().filter(entry)
    assert entry.stack_info == f'Stack (most recent call last):\n  File "x.py", line 1, in check {MASK}'
    assert logging.Formatter().format(entry).endswith(f"in check {MASK}")


class _Broken(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("disk full")


def test_a_failing_handler_reports_the_masked_message_and_no_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    """When a handler fails, logging's handleError prints the record's message and arguments to
    stderr: the filter has merged the arguments into the masked message and left none (None, as
    logging's own QueueHandler does), so no fødselsnummer is printed there either."""
    handler = logging.StreamHandler(_Broken())
    handler.addFilter(PersonalDataFilter())
    handler.handle(logging.LogRecord("t", logging.INFO, __file__, 1, "patient %s", (PATIENT_FNR,), None))
    printed = capsys.readouterr().err
    assert f"Message: 'patient {MASK}'\nArguments: None\n" in printed
    assert PATIENT_FNR not in printed
