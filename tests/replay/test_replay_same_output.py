"""The replay's output is pinned: a generated set and every shipped scenario give, byte for byte,
the events, the steps they were published at, the receipts and the replies recorded in
`same_output.json` (written by the replay before it was made fast, issue 14).

A change that alters any of them on purpose regenerates the file:
`python -m tests.replay.test_replay_same_output` (and says why in its commit).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from adapter.cli import main
from adapter.replay.generate import generate
from adapter.replay.runner import ReplayResult, run_scenario

PROJECT = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).with_name("same_output.json")
SCENARIOS = sorted((PROJECT / "fixtures" / "scenarios").glob("*.yaml"))
#: small enough to run in seconds, varied enough for absences, substitutes, forgotten switches and
#: several messages at one instant
GENERATED = {
    "seed": 7,
    "offices": 40,
    "gps_per_office": (1, 6),
    "days": 30,
    "absence_rate": 0.4,
    "substitute_rate": 0.2,
    "start": dt.date(2024, 6, 1),
}
#: an AppRec sent again for a duplicate carries a random suffix (adapter.service.handlers)
_AGAIN = re.compile(r"-again-[0-9a-f]{32}$")


def _sha(lines: list[str]) -> str:
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _line(row: dict[str, Any]) -> str:
    """As `replay --events/--receipts` writes a row."""
    return json.dumps(row, ensure_ascii=False) + "\n"


def digest(result: ReplayResult) -> dict[str, Any]:
    return {
        "events": len(result.events),
        "events_sha256": _sha([_line(e) for e in result.events]),
        "event_steps_sha256": _sha([f"{step}\n" for step in result.event_steps]),
        "receipts": len(result.receipts),
        "receipts_sha256": _sha([_line(r) for r in result.receipts]),
        "replies": len(result.replies),
        "replies_sha256": _sha([f"{key} {_AGAIN.sub('-again-*', mid)}\n" for key, mid in result.replies]),
        "failures": len(result.failures),
    }


def generated_set(root: Path) -> Path:
    return generate(root / "generated", **GENERATED)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return json.loads(EXPECTED.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_set(tmp_path_factory.mktemp("same-output"))


def test_generated_set_gives_the_pinned_events_receipts_and_replies(generated: Path, expected: dict[str, Any]) -> None:
    result = run_scenario(generated)
    assert result.events and result.receipts
    assert digest(result) == expected["generated"]


def test_generated_set_writes_the_pinned_files(generated: Path, expected: dict[str, Any], tmp_path: Path) -> None:
    """The files `replay --events/--receipts` writes are the pinned rows, in order."""
    events, receipts = tmp_path / "events.jsonl", tmp_path / "receipts.jsonl"
    assert main(["replay", str(generated), "--events", str(events), "--receipts", str(receipts)]) == 0
    assert hashlib.sha256(events.read_bytes()).hexdigest() == expected["generated"]["events_sha256"]
    assert hashlib.sha256(receipts.read_bytes()).hexdigest() == expected["generated"]["receipts_sha256"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_gives_the_pinned_output(scenario: Path, expected: dict[str, Any]) -> None:
    assert digest(run_scenario(scenario)) == expected[scenario.stem]


def write_expected(root: Path) -> None:
    """Regenerate `same_output.json` from what the replay gives now."""
    out = {"generated": digest(run_scenario(generated_set(root)))}
    for scenario in SCENARIOS:
        out[scenario.stem] = digest(run_scenario(scenario))
    EXPECTED.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write_expected(Path(tmp))
    print(EXPECTED, file=sys.stderr)
