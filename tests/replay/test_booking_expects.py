"""Scenario expects of the booking list (`practitioners` instead of `practitioner_hpr`): they hold,
fail with a readable diff, and a malformed one is an invalid scenario (exit status 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adapter.cli import main
from adapter.replay.runner import run_scenario
from adapter.replay.scenario import ScenarioError, load_scenario

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios" / "substitute-for-july.yaml"
OFFICE = 8141333


def with_expects(tmp_path: Path, *expects: dict) -> Path:
    """The substitute fixture with these expects instead of its own (its messages by absolute path)."""
    scenario = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    for step in scenario["steps"]:
        if "xml" in step:
            step["xml"] = str((FIXTURE.parent / step["xml"]).resolve())
    scenario["expect"] = list(expects)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    return path


def test_the_fixtures_booking_expects_hold_and_name_the_list() -> None:
    scenario = load_scenario(FIXTURE)
    booking = [e for e in scenario.expects if e.practitioner_hpr is None]
    assert len(booking) == 3 and {e.event_type for e in booking} == {"office.practitioners.changed"}
    assert run_scenario(FIXTURE).failures == []


def test_before_any_list_the_empty_baseline_is_expected(tmp_path: Path) -> None:
    path = with_expects(
        tmp_path,
        {"at": "2024-06-10T08:00:00+02:00", "office_her_id": OFFICE, "practitioners": [], "sequence": 0},
        {"at": "2024-06-10T08:00:00+02:00", "office_her_id": OFFICE, "practitioners": ["Astrid Info fastlege"]},
    )
    failures = run_scenario(path).failures
    assert [f.expect.index for f in failures] == [2], "the GP offers nothing yet at 08:00"


def test_a_wrong_list_fails_with_a_diff_by_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = with_expects(
        tmp_path,
        {
            "at": "2024-07-15T12:00:00+02:00",
            "office_her_id": OFFICE,
            "practitioners": [{"label": "Astrid Info fastlege"}, {"label": "Ingar (vikar for fastlege)"}],
        },
    )
    assert main(["replay", str(path)]) == 1
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "expect 1 (at 2024-07-15T12:00:00+02:00, office 8141333, booking list) failed" in out
    assert "practitioners.2.label" in out and "Ingar Vik (vikar for fastlege)" in out
    assert "practitioners.1" not in out, "the first line matches"


@pytest.mark.parametrize(
    ("practitioners", "reason"),
    [
        ("Astrid Info fastlege", "`practitioners` must be a list"),
        (["Astrid Info fastlege", {"label": "Ingar Vik (vikar for fastlege)"}], "all labels or all objects"),
        ([{"labels": "Astrid Info fastlege"}], "unknown field `practitioners.1.labels`"),
    ],
)
def test_a_malformed_booking_expect_is_an_invalid_scenario(tmp_path: Path, practitioners: object, reason: str) -> None:
    path = with_expects(
        tmp_path, {"at": "2024-07-01T00:00:00+02:00", "office_her_id": OFFICE, "practitioners": practitioners}
    )
    with pytest.raises(ScenarioError, match="expect 1") as error:
        load_scenario(path)
    assert reason in str(error.value)
