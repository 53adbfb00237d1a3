"""`ddfl-adapter show` and `ddfl-adapter generate` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter.cli import main

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "examples"


@pytest.fixture
def scenario() -> Path:
    if not EXAMPLES.is_dir():
        pytest.skip("../shared/contract/examples is not beside this checkout")
    return EXAMPLES / "scenario.yaml"


def test_show_after_a_replay_in_helsenorge_words(scenario: Path, capsys) -> None:
    assert main(["show", "--office", "8141333", "--replay", str(scenario), "--at", "2023-12-22T10:00:00+01:00"]) == 0
    out = capsys.readouterr().out
    assert "Fastlegen din er Astrid Info" in out
    assert "Bestill time: midlertidig stengt – åpner igjen 2. januar 2024" in out
    assert "Informasjonsmeldingen vises" in out


def test_show_from_an_events_file_at_the_end(scenario: Path, tmp_path: Path, capsys) -> None:
    events = tmp_path / "events.jsonl"
    assert main(["replay", str(scenario), "--events", str(events)]) == 0
    capsys.readouterr()
    assert main(["show", "--office", "8141333", "--events", str(events)]) == 0
    out = capsys.readouterr().out
    assert "Bestill time: vises ikke" in out
    assert "Kontakt legekontoret: vises og kan brukes" in out


def test_show_from_a_store_reads_what_the_portal_was_told(tmp_path: Path, capsys) -> None:
    import asyncio

    from adapter.service.handlers import Routing
    from adapter.service.processor import Processor, Work
    from adapter.store import open_store

    if not EXAMPLES.is_dir():
        pytest.skip("../shared/contract/examples is not beside this checkout")
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"

    async def fill() -> None:
        import datetime as dt

        store = await open_store(url)
        now = dt.datetime.fromisoformat("2023-12-20T16:00:00+01:00")
        processor = Processor(store, Routing(), lambda: now)
        for name in ("behandleroversikt.xml", "tjenestestatus-ar-komplett.xml"):
            await processor.process([Work(kind="xml", body=(EXAMPLES / name).read_bytes())])
        await store.close()

    asyncio.run(fill())
    assert main(["show", "--office", "8141333", "--store", url]) == 0
    out = capsys.readouterr().out
    assert "Fastlegen din er Astrid Info" in out
    assert "Start e-konsultasjon: vises og kan brukes" in out


def test_generate_writes_a_replayable_deterministic_set(tmp_path: Path, capsys) -> None:
    args = ["--seed", "3", "--offices", "2", "--gps-per-office", "2", "--days", "5", "--start", "2024-06-01"]
    assert main(["generate", str(tmp_path / "a"), *args]) == 0
    assert main(["generate", str(tmp_path / "b"), *args]) == 0
    capsys.readouterr()
    a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert a and a == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert all((tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes() for p in a)
    receipts = tmp_path / "receipts.jsonl"
    assert main(["replay", str(tmp_path / "a" / "scenario.yaml"), "--receipts", str(receipts)]) == 0
    statuses = {json.loads(line)["status"] for line in receipts.read_text().splitlines()}
    assert statuses == {"OK"}
