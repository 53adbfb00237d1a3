"""Behaviour of the XML edge the mutation run of issue 15 found unpinned (`bench/mutation.py`), by rule.

Each test kills one or more surviving mutants by asserting what the message standards and
DOMAIN.md ask for; survivors that cannot change behaviour are in `bench/mutation-equivalent.txt`.
"""

from __future__ import annotations

import datetime as dt

import pytest
from msgsupport import NOW, variant

from adapter.domain.model import ReplaceRoster, ReportServiceStatus
from adapter.messages import errors
from adapter.messages.errors import InboundError
from adapter.messages.inbound import Inbound, parse_message


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
