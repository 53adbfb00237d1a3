"""What the R15 answers (apprec.py), the refusal builder (building.py) and the schema guarantees
(schemas.py) say, pinned where the mutation run of issue 15 found them unpinned.

The ValueErrors of `build_apprec`/`build_error_report` guard against a caller's bug, so their exact
text is what a developer reads in the traceback; survivors that cannot change any output are in
`bench/mutation-equivalent.txt`.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from lxml import etree
from msgsupport import NOW, example
from pydantic import BaseModel, field_validator
from pydantic_core import PydanticCustomError

from adapter.messages import errors
from adapter.messages.apprec import build_apprec, build_error_report
from adapter.messages.building import build
from adapter.messages.envelope import Envelope
from adapter.messages.inbound import parse_message
from adapter.messages.schemas import SchemaGuaranteeBroken, required_attribute, required_text


@pytest.fixture
def envelope() -> Envelope:
    return parse_message(example("tjenestestatus-epj.xml"), now=NOW).envelope


# --- apprec.py: the guards refuse with their exact reason (R15) ---------------------------------


@pytest.mark.parametrize(
    "ok, found, gen_date, reason",
    [
        pytest.param(True, [], dt.datetime(2024, 1, 1), "gen_date must carry a UTC offset", id="naive-gen-date"),
        pytest.param(
            True,
            [("T02", "x")],
            NOW,
            "an OK AppRec carries no errors, a rejection at least one",
            id="ok-with-errors",
        ),
        pytest.param(
            False,
            [],
            NOW,
            "an OK AppRec carries no errors, a rejection at least one",
            id="rejection-without-errors",
        ),
        pytest.param(
            False,
            [("T02", "x"), ("Z42", "y")],
            NOW,
            "not kodeverk 8221 codes the adapter uses: ['Z42']",
            id="code-not-in-8221",
        ),
    ],
)
def test_a_misleading_apprec_is_refused_with_its_reason(
    envelope: Envelope, ok: bool, found: list[tuple[str, str]], gen_date: dt.datetime, reason: str
) -> None:
    """R15: an AppRec must say truly whether the message was taken; a caller's mistake says which."""
    with pytest.raises(ValueError) as caught:
        build_apprec(envelope, ok=ok, errors=found, gen_date=gen_date)
    assert str(caught.value) == reason


def test_an_apprec_error_is_not_put_on_the_error_queue_and_says_why(envelope: Envelope) -> None:
    """R15: an error with an 8221 code and a known sender is answered by AppRec only."""
    with pytest.raises(ValueError) as caught:
        build_error_report(errors.ReceiverUnknown("x", envelope=envelope), original_message_id="m")
    assert str(caught.value) == "DDFL-E21-RECEIVER-UNKNOWN is answered with an AppRec, not on the error queue"


def test_the_error_report_body_is_utf8_json_not_ascii_escapes() -> None:
    """R15, docs/errors.md: the report body is application/json in UTF-8, so a description in
    Norwegian reaches the sender's error queue as written, as in the AMQP header beside it."""
    description = "Støtter ikke meldingsformatet: æøå"
    body, headers = build_error_report(errors.NotMsgHead(description), original_message_id="amqp-1")
    assert headers["errorDescription"] == description
    assert description.encode("utf-8") in body
    assert b"\\u00f8" not in body
    assert json.loads(body.decode("utf-8"))["errorDescription"] == description


# --- building.py: the refusal names every failing field, by its path --------------------------


class _Nested(BaseModel):
    """Two fields whose validators refuse with a fixed text, so the reason does not depend on
    pydantic's own wording."""

    name: str
    items: list[int]

    @field_validator("name")
    @classmethod
    def _no_name(cls, value: str) -> str:
        raise PydanticCustomError("no_name", "no good name")

    @field_validator("items")
    @classmethod
    def _no_items(cls, value: list[int]) -> list[int]:
        raise PydanticCustomError("no_items", "no good items")


class _Deep(BaseModel):
    inner: _Nested


def test_every_refused_field_is_named_in_one_reason_separated_by_semicolons() -> None:
    """docs/errors.md `invalid_field`: the reason names each refused field (never its value)."""
    with pytest.raises(ValueError) as caught:
        build(_Nested, ValueError, name="13116900216", items=[1])
    assert str(caught.value) == "name: no good name; items: no good items"
    assert "13116900216" not in str(caught.value)


def test_a_nested_field_is_named_by_its_dotted_path() -> None:
    with pytest.raises(ValueError) as caught:
        build(_Deep, ValueError, inner={"name": "Line Danser", "items": [1]})
    assert str(caught.value) == "inner.name: no good name; inner.items: no good items"
    assert not re.search("Line|Danser", str(caught.value))


# --- schemas.py: a broken guarantee names what is missing -------------------------------------


def test_a_missing_required_text_names_its_path() -> None:
    element = etree.fromstring("<a><b>x</b></a>")
    with pytest.raises(SchemaGuaranteeBroken) as caught:
        required_text(element, "c", {})
    assert caught.value.args == ("c",)


def test_a_missing_required_attribute_names_it() -> None:
    element = etree.fromstring('<a DN="x"/>')
    with pytest.raises(SchemaGuaranteeBroken) as caught:
        required_attribute(element, "V")
    assert caught.value.args == ("V",)


def test_a_missing_element_is_a_broken_guarantee_not_an_attribute_error() -> None:
    """An absent element (findtext/find gave None) is the same schema bug as an absent attribute."""
    with pytest.raises(SchemaGuaranteeBroken) as caught:
        required_attribute(None, "V")
    assert caught.value.args == ("V",)
