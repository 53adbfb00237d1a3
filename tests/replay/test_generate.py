"""Synthetic fixture sets: deterministic, valid, to scale, and replayable."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from adapter.messages.absences import parse_absence
from adapter.messages.inbound import parse_message
from adapter.replay.generate import generate, iter_status_messages
from adapter.replay.scenario import load_scenario

OSLO = ZoneInfo("Europe/Oslo")
PROJECT = Path(__file__).resolve().parents[2]
KITH_SCHEMAS = PROJECT.parent / "shared" / "kith" / "schemas"
START = dt.date(2024, 6, 1)
SMALL = {
    "seed": 7,
    "offices": 12,
    "gps_per_office": (1, 6),
    "days": 40,
    "absence_rate": 0.4,
    "substitute_rate": 0.2,
    "start": START,
}


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("small"), **SMALL)


def test_same_seed_gives_byte_identical_output(small_set: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", **SMALL)
    assert again.name == "scenario.yaml"
    first, second = tree(small_set.parent), tree(again.parent)
    assert first.keys() == second.keys()
    assert first == second


def test_another_seed_gives_other_output(small_set: Path, tmp_path: Path) -> None:
    other = generate(tmp_path / "other", **{**SMALL, "seed": 8})
    assert other.read_bytes() != small_set.read_bytes()
    assert not set(tree(small_set.parent)) & {k for k in tree(other.parent) if k.startswith("messages/")}


def after_everything() -> dt.datetime:
    """A clock after every GenDate of SMALL, so that none is "in the future" (R1)."""
    return dt.datetime.combine(START + dt.timedelta(days=SMALL["days"] + 1), dt.time(), OSLO)


def test_every_message_parses_and_every_absence_too(small_set: Path) -> None:
    root = small_set.parent
    xml = sorted((root / "messages").glob("*.xml"))
    assert xml
    msg_ids = set()
    for path in xml:
        inbound = parse_message(path.read_bytes(), now=after_everything())
        assert inbound.envelope.ack_requested
        msg_ids.add(inbound.envelope.msg_id)
    assert len(msg_ids) == len(xml), "MsgIds are unique"
    absences = sorted((root / "absences").glob("*.json"))
    assert absences
    for path in absences:
        parse_absence(path.read_bytes())


@pytest.mark.kith
def test_every_message_validates_against_the_official_msghead_and_our_schemas(small_set: Path, tmp_path: Path) -> None:
    if not KITH_SCHEMAS.is_dir():
        pytest.skip(f"the official KITH schemas are not at {KITH_SCHEMAS}")
    for source in (*KITH_SCHEMAS.glob("*.xsd"), *(PROJECT / "schemas").glob("*.xsd")):
        shutil.copy(source, tmp_path)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    schema = etree.XMLSchema(etree.parse(str(tmp_path / "ddfl-meldinger.xsd"), parser))
    for path in sorted((small_set.parent / "messages").glob("*.xml")):
        assert schema.validate(etree.parse(str(path), parser)), f"{path.name}: {schema.error_log}"


def test_counts_match_the_parameters(tmp_path: Path) -> None:
    root = generate(
        tmp_path, seed=3, offices=30, gps_per_office=4, days=10, absence_rate=1.0, substitute_rate=1.0, start=START
    ).parent
    messages = root / "messages"
    assert len(list(messages.glob("behandleroversikt-*.xml"))) == 30
    assert len(list(messages.glob("tjenestestatus-*-ar.xml"))) == 30 * 4
    registered = [p for p in (root / "absences").glob("*.json") if not p.name.endswith("-deleted.json")]
    assert len(registered) == 30 * 4, "absence_rate 1.0: every GP registers one"
    rosters = "".join(p.read_text(encoding="utf-8") for p in messages.glob("behandleroversikt-*.xml"))
    assert rosters.count('<Rolle V="6"') == 30 * 4
    assert rosters.count('<Rolle V="15"') == 30 * 4, "substitute_rate 1.0: every GP has a substitute"

    none = generate(
        tmp_path / "none",
        seed=3,
        offices=30,
        gps_per_office=4,
        days=10,
        absence_rate=0.0,
        substitute_rate=0.0,
        start=START,
    ).parent
    assert not (none / "absences").exists()
    assert '<Rolle V="15"' not in "".join(p.read_text(encoding="utf-8") for p in (none / "messages").glob("*.xml"))


def test_gp_ranges_and_rates_are_respected_at_scale(tmp_path: Path) -> None:
    root = generate(
        tmp_path,
        seed=11,
        offices=400,
        gps_per_office=(2, 8),
        days=30,
        absence_rate=0.25,
        substitute_rate=0.05,
        start=START,
    ).parent
    rosters = [p.read_text(encoding="utf-8") for p in (root / "messages").glob("behandleroversikt-*.xml")]
    per_office = [text.count('<Rolle V="6"') for text in rosters]
    assert len(rosters) == 400 and min(per_office) >= 2 and max(per_office) <= 8
    gps = sum(per_office)
    registered = [p for p in (root / "absences").glob("*.json") if not p.name.endswith("-deleted.json")]
    assert 0.18 * gps < len(registered) < 0.32 * gps
    substitutes = sum(text.count('<Rolle V="15"') for text in rosters)
    assert 0.02 * gps < substitutes < 0.09 * gps


def test_the_scenario_lists_every_file_once_in_time_order_with_a_clock_step_every_midnight(small_set: Path) -> None:
    scenario = load_scenario(small_set)
    root = small_set.parent
    files = [s.xml for s in scenario.steps if s.xml is not None]
    assert sorted(files) == sorted(p.resolve() for p in (root / "messages").glob("*.xml"))
    assert sum(1 for s in scenario.steps if s.absence is not None) == len(list((root / "absences").glob("*.json")))
    instants = [s.at for s in scenario.steps]
    assert instants == sorted(instants)
    clock = [s.at for s in scenario.steps if s.xml is None and s.absence is None]
    assert len(clock) == SMALL["days"] and all(at.astimezone(OSLO).time() == dt.time() for at in clock)
    text = small_set.read_text(encoding="utf-8")
    assert re.search(r"^  - at: 2024-06-01T07:00:00\+02:00$", text, re.M), "instants unquoted, as in the contract"


def test_a_generated_set_replays_with_every_message_accepted(small_set: Path) -> None:
    from adapter.replay.runner import run_scenario

    result = run_scenario(small_set)
    assert result.failures == []
    assert result.receipts and {r["status"] for r in result.receipts} == {"OK"}
    types = {e["type"] for e in result.events}
    assert "availability.changed" in types
    closed = [
        e
        for e in result.events
        if e["type"] == "availability.changed"
        and any(s["status"] == "TEMPORARILY_CLOSED" for s in e["services"].values())
    ]
    assert closed, "some absences close services"


def test_iter_status_messages_rosters_first_then_valid_statuses_with_ack() -> None:
    start = dt.datetime(2024, 1, 8, 6, 0, tzinfo=OSLO)
    messages = list(iter_status_messages(5, 20, (1, 5), start, updates_per_gp=3))
    rosters = [m for m in messages if m.kind == "behandleroversikt"]
    statuses = [m for m in messages if m.kind == "tjenestestatus"]
    assert messages[: len(rosters)] == rosters and len(rosters) == 20
    gps = {(m.office_her_id, m.practitioner_hpr) for m in statuses}
    assert len(statuses) == 3 * len(gps)
    assert [m.gen_date for m in messages] == sorted(m.gen_date for m in messages)
    assert len({m.msg_id for m in messages}) == len(messages)
    now = messages[-1].gen_date
    for message in messages:
        inbound = parse_message(message.body, now=now)
        assert inbound.envelope.ack_requested and inbound.envelope.msg_id == message.msg_id
        if message.kind == "tjenestestatus":
            assert inbound.command.practitioner_hpr == message.practitioner_hpr
    first = [json.dumps([m.msg_id, m.body.decode()]) for m in iter_status_messages(5, 20, (1, 5), start)]
    again = [json.dumps([m.msg_id, m.body.decode()]) for m in iter_status_messages(5, 20, (1, 5), start)]
    assert first == again


def test_at_national_scale_every_behandleroversikt_still_comes_before_any_status(tmp_path: Path) -> None:
    scenario = load_scenario(
        generate(
            tmp_path, seed=1, offices=4000, gps_per_office=1, days=1, absence_rate=0.0, substitute_rate=0.0, start=START
        )
    )
    rosters = [s.at for s in scenario.steps if s.xml is not None and s.xml.name.startswith("behandleroversikt-")]
    statuses = [s.at for s in scenario.steps if s.xml is not None and s.xml.name.startswith("tjenestestatus-")]
    assert len(rosters) == len(statuses) == 4000
    assert max(rosters) < min(statuses)
    assert max(statuses) < dt.datetime.combine(START, dt.time(9), OSLO)
