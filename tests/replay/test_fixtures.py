"""fixtures/: every message valid, every scenario replays with its expects holding, and what the
contract's `expect` cannot say (warnings, dialogue.closed, receipts) checked on the replay's output."""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from lxml import etree

from adapter.messages.inbound import parse_message

PROJECT = Path(__file__).resolve().parents[2]
FIXTURES = PROJECT / "fixtures"
MESSAGES = FIXTURES / "messages"
SCENARIOS = sorted((FIXTURES / "scenarios").glob("*.yaml"))
KITH_SCHEMAS = PROJECT.parent / "shared" / "kith" / "schemas"
XML_FIXTURES = sorted(MESSAGES.glob("*.xml"))
OSLO = ZoneInfo("Europe/Oslo")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
AMQP_URL = os.environ.get("DDFL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@functools.cache
def replay(name: str) -> Any:
    """The replay of one scenario, run once per test session."""
    from adapter.replay.runner import run_scenario

    return run_scenario(FIXTURES / "scenarios" / f"{name}.yaml")


def msg_id(message: str) -> str:
    root = etree.parse(str(MESSAGES / message), _PARSER).getroot()
    return root.findtext("{*}MsgInfo/{*}MsgId")


def receipt(result: Any, message: str) -> list[dict[str, Any]]:
    return [r for r in result.receipts if r["kind"] == "xml" and r["id"] == msg_id(message)]


def changes(result: Any, office: int | None = None, hpr: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in result.events
        if e["type"] == "availability.changed"
        and (office is None or e["office_her_id"] == office)
        and (hpr is None or e["practitioner_hpr"] == hpr)
    ]


def warnings(result: Any, code: str | None = None) -> list[dict[str, Any]]:
    return [e for e in result.events if e["type"] == "availability.warning" and code in (None, e["code"])]


# ---------------------------------------------------------------------------------------------
# The fixture files themselves
# ---------------------------------------------------------------------------------------------


def test_there_are_fixtures() -> None:
    assert len(SCENARIOS) >= 14 and XML_FIXTURES


@pytest.mark.kith
def test_every_xml_fixture_validates_against_the_official_msghead_and_our_schemas(tmp_path: Path) -> None:
    if not KITH_SCHEMAS.is_dir():
        pytest.skip(f"the official KITH schemas are not at {KITH_SCHEMAS}")
    for source in (*KITH_SCHEMAS.glob("*.xsd"), *(PROJECT / "schemas").glob("*.xsd")):
        shutil.copy(source, tmp_path)
    schema = etree.XMLSchema(etree.parse(str(tmp_path / "ddfl-meldinger.xsd"), _PARSER))
    invalid = {p.name: str(schema.error_log) for p in XML_FIXTURES if not schema.validate(etree.parse(str(p), _PARSER))}
    assert invalid == {}


@pytest.mark.parametrize("path", XML_FIXTURES, ids=lambda p: p.name)
def test_every_xml_fixture_parses_into_a_command(path: Path) -> None:
    now = dt.datetime(2025, 1, 1, tzinfo=OSLO)
    inbound = parse_message(path.read_bytes(), now=now)
    assert inbound.envelope.ack_requested


def test_message_ids_are_unique_and_every_message_is_used() -> None:
    ids = [msg_id(p.name) for p in XML_FIXTURES]
    assert len(set(ids)) == len(ids)
    used = set()
    for scenario in SCENARIOS:
        for step in yaml.safe_load(scenario.read_text(encoding="utf-8"))["steps"]:
            if "xml" in step:
                used.add((scenario.parent / step["xml"]).resolve())
    assert {p.resolve() for p in XML_FIXTURES} - used == set()


def test_the_readme_lists_every_scenario() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    assert [s.name for s in SCENARIOS if f"`{s.name}`" not in readme] == []


# ---------------------------------------------------------------------------------------------
# Every scenario replays, and its expects hold
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_replays_and_every_expect_holds(scenario: Path) -> None:
    result = replay(scenario.stem)
    assert result.scenario.expects, "a fixture scenario says what it shows"
    assert result.failures == [], "\n".join(f.describe() for f in result.failures)


@pytest.mark.broker
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_on_rabbitmq_publishes_what_the_in_memory_replay_does(scenario: Path) -> None:
    from adapter.replay.runner import run_scenario

    real = run_scenario(scenario, amqp_url=AMQP_URL)
    assert real.failures == [], "\n".join(f.describe() for f in real.failures)
    memory = replay(scenario.stem)
    assert real.events == memory.events
    assert real.receipts == memory.receipts


# ---------------------------------------------------------------------------------------------
# What the expects cannot say
# ---------------------------------------------------------------------------------------------

CHECKS: dict[str, Callable[[Any], None]] = {}


def check(name: str) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    def register(function: Callable[[Any], None]) -> Callable[[Any], None]:
        CHECKS[name] = function
        return function

    return register


def all_accepted(result: Any) -> None:
    assert [r for r in result.receipts if r["status"] != "OK"] == []


@check("all-services-on-through-holiday")
def _(result: Any) -> None:
    all_accepted(result)
    assert warnings(result) == []
    assert [e["caused_by"]["kind"] for e in changes(result)] == ["message", "clock", "clock"]


@check("everything-off")
def _(result: Any) -> None:
    all_accepted(result)
    assert warnings(result) == []
    assert len(changes(result)) == 2, "the absence over services off for 30 days shows nothing (R4)"


@check("recommended-solution-1")
def _(result: Any) -> None:
    found = warnings(result, "SERVICE_STILL_OFF_AFTER_ABSENCE")
    assert [w["service"] for w in found] == ["TIMEBESTILLING", "RESEPTFORNYELSE", "E_KONSULTASJON"]
    assert {w["effective_at"] for w in found} == {"2024-01-02T00:00:00+01:00"}
    assert {w["absence_id"] for w in found} == {"439f53ee-db72-4866-af0b-713292b36a4b"}
    assert len(warnings(result)) == 3


@check("recommended-solution-2")
def _(result: Any) -> None:
    all_accepted(result)
    assert warnings(result) == [], "switched back on before the absence ended: nothing to warn about"


@check("absence-with-services-on-in-epj")
def _(result: Any) -> None:
    all_accepted(result)
    assert warnings(result) == []


@check("dialogue-closed-during-absence")
def _(result: Any) -> None:
    all_accepted(result)
    closed = [e for e in result.events if e["type"] == "dialogue.closed"]
    assert [(e["conversation_ref"], e["code"]) for e in closed] == [
        ("9e3b7c21-5f48-4a06-b2d9-1c7e8a4f6b52", "13"),
        ("c71e4a93-8d2f-4b60-a5e8-2f9d6b1c0e47", "27"),
    ], "once per conversation, although the first is closed twice"
    first = closed[0]
    assert (first["office_her_id"], first["practitioner_hpr"], first["service"]) == (
        8138845,
        "5093817",
        "E_KONSULTASJON",
    )
    assert first["closed_at"] == "2024-07-03T10:12:00+02:00"
    notes = {
        msg_id(m)
        for m in (
            "dialog-sandvika-dahl-closes-conversation.xml",
            "dialog-sandvika-dahl-closes-conversation-again.xml",
            "dialog-sandvika-dahl-attest-closes-conversation.xml",
        )
    }
    assert not [e for e in changes(result) if e["caused_by"]["id"] in notes], (
        "closing a conversation is not a service change"
    )


@check("substitute-in-july-with-absence")
def _(result: Any) -> None:
    found = warnings(result, "ABSENCE_OVERRIDES_SUBSTITUTE")
    assert len(found) == 1
    assert (found[0]["absence_id"], found[0]["substitute_hpr"]) == ("f5087d31-1ce9-4a76-ace5-adef16751ecb", "5522113")
    assert found[0]["effective_at"] == "2024-06-14T11:00:00+02:00"
    assert warnings(result, "SERVICE_STILL_OFF_AFTER_ABSENCE") == []


@check("substitute-for-july")
def _(result: Any) -> None:
    assert warnings(result) == []
    substitutes = [e["substitute"] for e in changes(result)]
    assert substitutes[1] == {"hpr": "5522113", "name": "Ingar Vik", "from": "2024-07-01", "to": "2024-07-31"}


@check("forgotten-switch-after-holiday")
def _(result: Any) -> None:
    found = warnings(result, "SERVICE_STILL_OFF_AFTER_ABSENCE")
    assert [w["service"] for w in found] == [
        "TIMEBESTILLING",
        "RESEPTFORNYELSE",
        "E_KONSULTASJON",
        "KONTAKT_LEGEKONTORET",
    ]
    assert {w["effective_at"] for w in found} == {"2024-07-29T00:00:00+02:00"}
    assert {w["absence_id"] for w in found} == {"e391c179-6a94-4639-be0d-7427d9677b9c"}


@check("gp-at-two-offices")
def _(result: Any) -> None:
    notteroy = changes(result, 8146390, "3384920")
    assert [e["caused_by"]["kind"] for e in notteroy] == ["message"], "nothing at Nøtterøy after its own status"
    assert len(changes(result, 8146112, "3384920")) == 3


@check("absence-across-spring-dst-change")
def _(result: Any) -> None:
    assert [e["effective_at"] for e in changes(result) if e["caused_by"]["kind"] == "clock"] == [
        "2024-03-27T00:00:00+01:00",
        "2024-03-31T00:00:00+01:00",
        "2024-04-01T00:00:00+02:00",
    ]


@check("absence-across-autumn-dst-change")
def _(result: Any) -> None:
    assert [e["effective_at"] for e in changes(result) if e["caused_by"]["kind"] == "clock"] == [
        "2024-10-21T00:00:00+02:00",
        "2024-10-27T00:00:00+02:00",
        "2024-10-28T00:00:00+01:00",
    ]


@check("late-and-duplicated-messages")
def _(result: Any) -> None:
    off = receipt(result, "tjenestestatus-drammen-olsen-ekonsultasjon-off.xml")
    assert [r["status"] for r in off] == ["OK", "DUPLICATE"]
    assert [r["status"] for r in receipt(result, "tjenestestatus-drammen-olsen-ekonsultasjon-on-delayed.xml")] == ["OK"]
    assert [r["status"] for r in receipt(result, "tjenestestatus-drammen-olsen-reseptfornyelse-on-loses-tie.xml")] == [
        "OK"
    ]
    causes = [e["caused_by"]["id"] for e in changes(result)]
    assert causes == [
        msg_id("tjenestestatus-drammen-olsen-all-on.xml"),
        msg_id("tjenestestatus-drammen-olsen-ekonsultasjon-off.xml"),
        msg_id("tjenestestatus-drammen-olsen-reseptfornyelse-off-wins-tie.xml"),
    ]


@check("practitioner-leaves-office")
def _(result: Any) -> None:
    rejected = receipt(result, "tjenestestatus-bodo-eide-after-leaving.xml")
    assert [(r["status"], r["codes"]) for r in rejected] == [("REJECTED", ["E20"])]
    absences = [r for r in result.receipts if r["kind"] == "absence"]
    assert [(r["id"], r["status"]) for r in absences] == [("03ed59c2-7802-4a2c-a873-4414ea496393", "REJECTED")]
    last = changes(result, 8149274, "5567120")[-1]
    assert last["caused_by"] == {"kind": "message", "id": msg_id("behandleroversikt-bodo-without-eide.xml")}
    assert sorted(last["changed"]) == sorted(last["services"])
    assert warnings(result) == [], "a practitioner who left is not warned about"


@check("spoofed-sender")
def _(result: Any) -> None:
    spoofed = receipt(result, "tjenestestatus-alesund-tangen-everything-off-spoofed.xml")
    assert [(r["status"], r["error_condition"]) for r in spoofed] == [("ERROR_QUEUE", "abuse:spoofing-attack")]
    foreign = receipt(result, "tjenestestatus-molde-claims-tangen-off.xml")
    assert [(r["status"], r["codes"]) for r in foreign] == [("REJECTED", ["E20"])]
    queues = [queue for queue, _ in result.replies]
    assert "8150561_error" in queues, "the spoofing is reported to whoever delivered it"
    assert "8150118_error" not in queues, "never to the office it claims to come from"
    assert len(changes(result)) == 1


@check("absence-deleted-before-it-starts")
def _(result: Any) -> None:
    assert [(r["kind"], r["status"]) for r in result.receipts] == [("xml", "OK")] * 2 + [("absence", "OK")] * 3
    assert len(changes(result)) == 1


def test_every_scenario_has_extra_checks() -> None:
    assert sorted(CHECKS) == sorted(s.stem for s in SCENARIOS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_scenario_events_and_receipts(name: str) -> None:
    CHECKS[name](replay(name))
