"""`ddfl-adapter replay` as the contract specifies it: outputs, exit codes, diffs, both brokers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from adapter.cli import main
from adapter.replay.runner import run_scenario

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "examples"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A copy of the contract's examples, so a test may edit the scenario beside its messages."""
    if not EXAMPLES.is_dir():
        pytest.skip("../shared/contract/examples is not beside this checkout")
    target = tmp_path / "examples"
    shutil.copytree(EXAMPLES, target)
    return target


def test_contract_scenario_replays_in_memory_with_events_and_receipts(examples: Path, tmp_path: Path, capsys) -> None:
    events, receipts = tmp_path / "events.jsonl", tmp_path / "receipts.jsonl"
    status = main(["replay", str(examples / "scenario.yaml"), "--events", str(events), "--receipts", str(receipts)])
    assert status == 0
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["type"] for e in lines].count("availability.changed") == 4
    assert lines[0]["event_id"] == "8141333-9144900-1"
    rows = [json.loads(line) for line in receipts.read_text().splitlines()]
    assert [(r["kind"], r["status"]) for r in rows] == [("xml", "OK")] * 3 + [("absence", "OK"), ("xml", "OK")]
    assert rows[3]["id"] == "f3a9c2d1-5b7e-4c8a-9d10-2e4f6a8b0c13"
    assert "2 expectations hold" in capsys.readouterr().out


def test_failing_expect_exits_1_with_a_field_by_field_diff(examples: Path, capsys) -> None:
    scenario = examples / "scenario.yaml"
    scenario.write_text(scenario.read_text().replace("reopens_on: 2024-01-02", "reopens_on: 2024-01-03"))
    assert main(["replay", str(scenario)]) == 1
    err = capsys.readouterr().err
    assert "expect 1 (at 2023-12-22T00:00:00+01:00, office 8141333, practitioner 9144900) failed" in err
    assert "published at step 6" in err
    assert "services.TIMEBESTILLING.reopens_on" in err and "expected 2024-01-03" in err and "actual 2024-01-02" in err


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (
            lambda s: s.replace("xml: tjenestestatus-epj.xml", "xml: missing.xml"),
            "step 3: `xml` file 'missing.xml' does not exist",
        ),
        (lambda s: s.replace("at: 2023-12-20T15:00:00+01:00", "at: 2023-12-20T13:00:00+01:00"), "step 3: `at`"),
        (lambda s: s.replace("name: recommended", "nom: recommended"), "unknown keys ['nom']"),
        (lambda s: s + "\n  - at: 2024-01-01\n", "expect 3: `at`"),
    ],
)
def test_invalid_scenario_exits_2_naming_file_step_and_reason(examples: Path, capsys, edit, reason: str) -> None:
    scenario = examples / "scenario.yaml"
    scenario.write_text(edit(scenario.read_text()))
    assert main(["replay", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert str(scenario) in err and reason in err


@pytest.mark.broker
def test_in_memory_and_real_broker_replays_publish_the_same_events(examples: Path) -> None:
    memory = run_scenario(examples / "scenario.yaml")
    real = run_scenario(examples / "scenario.yaml", amqp_url=AMQP_URL)
    assert memory.ok and real.ok
    assert len(memory.events) == 9  # 7 for the pair, 2 booking lists (Astrid bookable, then Bestill time off)
    assert real.events == memory.events
    assert real.receipts == memory.receipts
