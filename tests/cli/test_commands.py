"""The CLI never shows a traceback for a user's mistake: a scenario's mistakes are exit 2 with the
file, the expect and the reason (expects checked against the event model); `show` checks its
options and never creates the store it was asked to read; `health` says why it cannot ask."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from adapter.cli import main

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "examples"


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    if not EXAMPLES.is_dir():
        pytest.skip("../shared/contract/examples is not beside this checkout")
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    return tmp_path / "examples" / "scenario.yaml"


@pytest.mark.parametrize(
    ("before", "after", "reason"),
    [
        ("TIMEBESTILLING: {status", "TIMEBESTILING: {status", "expect 1: unknown service `services.TIMEBESTILING`"),
        ("reopens_on: 2024-01-02}", "reopens_onn: 2024-01-02}", "unknown field `services.TIMEBESTILLING.reopens_onn`"),
        (
            "{status: TEMPORARILY_CLOSED, reopens",
            "{status: CLOSED, reopens",
            "`services.TIMEBESTILLING.status`: CLOSED",
        ),
        ("    services:\n      TIMEBESTILLING", "    servces:\n      TIMEBESTILLING", "unknown field `servces`"),
        ("accepts_replies: false}", "accepts_replies: maybe}", "`services.E_KONSULTASJON.accepts_replies`: maybe"),
    ],
)
def test_an_expect_naming_what_no_event_can_have_is_an_invalid_scenario(
    scenario: Path, capsys: pytest.CaptureFixture[str], before: str, after: str, reason: str
) -> None:
    text = scenario.read_text()
    assert before in text
    scenario.write_text(text.replace(before, after, 1))
    assert main(["replay", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert f"invalid scenario: {scenario}, " in err and reason in err
    assert "Traceback" not in err


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adapter.cli", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_show_at_without_an_offset_is_a_usage_error(scenario: Path, tmp_path: Path) -> None:
    done = _cli("show", "--office", "8141333", "--replay", str(scenario), "--at", "2023-12-27", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--at: '2023-12-27' has no UTC offset" in done.stderr


def test_show_with_a_missing_events_file_is_a_usage_error(tmp_path: Path) -> None:
    done = _cli("show", "--office", "8141333", "--events", "missing.jsonl", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "show: cannot read the events file missing.jsonl: No such file or directory"


def test_show_with_a_line_that_is_not_an_event_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text('{"type": "availability.changed"}\nnot json\n')
    done = _cli("show", "--office", "8141333", "--events", "events.jsonl", cwd=tmp_path)
    assert done.returncode == 2 and "events.jsonl, line 2: not JSON" in done.stderr


def test_show_never_creates_the_store_it_was_asked_to_read(tmp_path: Path) -> None:
    done = _cli("show", "--office", "8141333", "--store", "sqlite:///typo.sqlite3", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"no store at {tmp_path / 'typo.sqlite3'}" in done.stderr
    assert not (tmp_path / "typo.sqlite3").exists()


def test_show_events_prints_the_names_from_the_directory_like_replay_does(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    assert main(["replay", str(scenario), "--events", str(events)]) == 0
    capsys.readouterr()
    assert main(["show", "--office", "8141333", "--replay", str(scenario)]) == 0
    replayed = capsys.readouterr().out
    directory = tmp_path / "directory.yaml"
    directory.write_text('8141333:\n  - {hpr: "9144900", given_name: Astrid, family_name: Info, role: "6"}\n')
    assert main(["show", "--office", "8141333", "--events", str(events), "--directory", str(directory)]) == 0
    shown = capsys.readouterr().out
    assert shown.splitlines()[0] == replayed.splitlines()[0] == "Fastlegen din er Astrid Info"
    assert main(["show", "--office", "8141333", "--events", str(events)]) == 0  # no names known: the HPR-nummer
    assert capsys.readouterr().out.splitlines()[0] == "Fastlegen din er fastlege med HPR-nummer 9144900"


def test_health_with_the_endpoint_disabled_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "adapter.cli", "health"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "DDFL_HTTP_PORT": "none", "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "DDFL_HTTP_PORT is none" in done.stderr and "--url" in done.stderr


def test_health_of_an_adapter_that_is_not_running_is_one_line(tmp_path: Path) -> None:
    done = _cli("health", "--url", "http://127.0.0.1:9/health", cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.startswith("unhealthy: http://127.0.0.1:9/health:")
    assert len(done.stderr.strip().splitlines()) == 1


def test_replay_with_an_amqp_address_without_its_scheme_is_a_usage_error(scenario: Path, tmp_path: Path) -> None:
    done = _cli("replay", str(scenario), "--amqp-url", "localhost:5672", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("replay: --amqp-url='localhost:5672': must be an AMQP URL")


def test_replay_with_an_unreachable_broker_is_one_line(scenario: Path, tmp_path: Path) -> None:
    done = _cli("replay", str(scenario), "--amqp-url", "amqp://guest:secret@127.0.0.1:9/", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("replay: --amqp-url: cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:9/")
    assert "secret" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.postgres
def test_show_from_a_postgresql_database_that_does_not_exist_is_one_line(tmp_path: Path, postgres_url: str) -> None:
    url = postgres_url.rsplit("/", 1)[0].replace("postgresql://", "postgres://", 1) + "/ddfl_no_such_db"
    done = _cli("show", "--office", "8141333", "--store", url, cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("show: --store: PostgreSQL database 'ddfl_no_such_db' does not exist")
