"""AppRec and error-queue reports: what they say, and that a duplicate gets the same answer."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from lxml import etree
from msgsupport import NOW, PATIENT_FNR, example

from adapter.messages import errors
from adapter.messages.apprec import APPREC_NS, build_apprec, build_error_report
from adapter.messages.envelope import Envelope
from adapter.messages.inbound import parse_message

A = {"a": APPREC_NS}
LATER = NOW + dt.timedelta(seconds=5)


@pytest.fixture
def envelope() -> Envelope:
    return parse_message(example("tjenestestatus-epj.xml"), now=NOW).envelope


def read(apprec: bytes) -> etree._Element:
    return etree.fromstring(apprec)


def test_an_ok_receipt_answers_the_original_message(envelope: Envelope) -> None:
    apprec = read(build_apprec(envelope, ok=True, gen_date=NOW))
    assert apprec.xpath("a:Status/@V", namespaces=A) == ["1"]
    assert apprec.xpath("a:Error", namespaces=A) == []
    assert apprec.xpath("a:Sender/a:HCP/a:Inst/a:Id/text()", namespaces=A) == ["8093244"]
    assert apprec.xpath("a:Receiver/a:HCP/a:Inst/a:Id/text()", namespaces=A) == ["8141333"]
    assert apprec.xpath("a:OriginalMsgId/a:MsgType/@V", namespaces=A) == [envelope.msg_type]
    assert apprec.xpath("a:OriginalMsgId/a:Id/text()", namespaces=A) == [envelope.msg_id]
    issued = apprec.xpath("a:OriginalMsgId/a:IssueDate/text()", namespaces=A)[0]
    assert dt.datetime.fromisoformat(issued) == envelope.gen_date
    assert dt.datetime.fromisoformat(apprec.findtext("a:GenDate", namespaces=A)) == NOW


def test_a_rejection_carries_its_8221_errors(envelope: Envelope) -> None:
    apprec = read(build_apprec(envelope, ok=False, errors=[("E31", f"bad {PATIENT_FNR}")], gen_date=NOW))
    assert apprec.xpath("a:Status/@V", namespaces=A) == ["2"]
    (error,) = apprec.xpath("a:Error", namespaces=A)
    assert (error.get("V"), error.get("S")) == ("E31", "2.16.578.1.12.4.1.1.8221")
    assert error.get("DN") == "Pasientens fødselsnummer er feil"
    assert PATIENT_FNR not in error.get("OT")


def test_the_own_her_id_is_configurable(envelope: Envelope) -> None:
    apprec = read(build_apprec(envelope, ok=True, gen_date=NOW, own_her_id=115851))
    assert apprec.xpath("a:Sender/a:HCP/a:Inst/a:Id/text()", namespaces=A) == ["115851"]


def test_a_duplicate_gets_the_identical_receipt(envelope: Envelope) -> None:
    again = parse_message(example("tjenestestatus-epj.xml"), now=LATER).envelope
    assert build_apprec(envelope, ok=True, gen_date=NOW) == build_apprec(again, ok=True, gen_date=NOW)


def test_different_answers_get_different_ids(envelope: Envelope) -> None:
    ids = {
        read(build_apprec(envelope, ok=ok, errors=found, gen_date=NOW)).findtext("a:Id", namespaces=A)
        for ok, found in [(True, ()), (False, [("T02", "x")]), (False, [("E21", "x")])]
    }
    assert len(ids) == 3


@pytest.mark.parametrize(
    "ok, found, gen_date",
    [
        pytest.param(True, [("T02", "x")], NOW, id="ok-with-errors"),
        pytest.param(False, [], NOW, id="rejection-without-errors"),
        pytest.param(False, [("Z42", "x")], NOW, id="code-not-in-8221"),
        pytest.param(True, [], dt.datetime(2024, 1, 1), id="gen-date-without-offset"),
    ],
)
def test_a_receipt_that_would_mislead_is_not_built(
    envelope: Envelope, ok: bool, found: list[tuple[str, str]], gen_date: dt.datetime
) -> None:
    with pytest.raises(ValueError):
        build_apprec(envelope, ok=ok, errors=found, gen_date=gen_date)


def test_the_error_report_carries_helsenorges_headers() -> None:
    error = errors.NotWellFormed("line 1, column 0: no element found")
    body, headers = build_error_report(error, original_message_id="amqp-1")
    assert headers == {
        "errorCondition": "transport:not-well-formed-xml",
        "errorDescription": "line 1, column 0: no element found",
        "originalMessageId": "amqp-1",
    }
    assert json.loads(body) == {
        **headers,
        "msgId": None,
        "code": "T01",
        "eventId": "DDFL-T01-NOT-WELL-FORMED",
    }


def test_an_unknown_original_message_id_is_left_out_of_the_headers(envelope: Envelope) -> None:
    error = errors.SpoofedSender("mismatch", envelope=envelope, reported_sender=1234)
    body, headers = build_error_report(error, original_message_id=None)
    assert set(headers) == {"errorCondition", "errorDescription"}
    assert json.loads(body)["msgId"] == envelope.msg_id


def test_an_error_answered_by_apprec_is_not_reported_on_the_error_queue(envelope: Envelope) -> None:
    with pytest.raises(ValueError):
        build_error_report(errors.ReceiverUnknown("x", envelope=envelope), original_message_id="m")


def test_the_apprec_id_of_a_known_message_is_unchanged(envelope: Envelope) -> None:
    apprec = read(build_apprec(envelope, ok=True, gen_date=LATER))
    key = f"{envelope.sender_her_id}/{envelope.msg_id}/1"
    expected = str(uuid.uuid5(uuid.UUID("6f1d7c3e-2b0a-5e51-9c47-8d3a1f0e6b25"), key))
    assert apprec.findtext("a:Id", namespaces=A) == expected
