"""The fast in-memory replay (issue 14): batches of steps, messages parsed ahead in a worker,
output given as it goes. That its output is what the replay gave before is pinned in
test_replay_same_output.py; these check the parts that make it so."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import io
import json
import multiprocessing
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest

from adapter.bootstrap import default_settings, routing
from adapter.replay import ahead, runner
from adapter.replay.generate import generate
from adapter.replay.scenario import Step, load_scenario
from adapter.service.commands import AbsenceMessage, XmlMessage, parse
from adapter.store.base import RetainedRows

PROJECT = Path(__file__).resolve().parents[2]
SCENARIOS = PROJECT / "fixtures" / "scenarios"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """More messages than one parsing job (so a worker parses them), over ten days."""
    return generate(
        tmp_path_factory.mktemp("batches"),
        seed=11,
        offices=30,
        gps_per_office=(1, 5),
        days=10,
        absence_rate=0.4,
        substitute_rate=0.2,
        start=dt.date(2024, 6, 1),
    )


def test_output_is_given_batch_by_batch_as_it_is_published(generated: Path) -> None:
    """The CLI writes what `sink` is given, so a tester's `tail -f` sees each batch once it is
    published: more than one call gives rows, and together they are the whole output, in order, as
    the files' lines."""
    calls: list[tuple[list[str], list[str]]] = []
    progress: list[tuple[int, int]] = []
    result = runner.run_scenario(
        generated,
        sink=lambda events, receipts: calls.append((events, receipts)),
        progress=lambda d, t: progress.append((d, t)),
    )
    assert sum(1 for events, _ in calls if events) > 1
    assert [e for events, _ in calls for e in events] == [json.dumps(e, ensure_ascii=False) for e in result.events]
    assert [r for _, receipts in calls for r in receipts] == [
        json.dumps(r, ensure_ascii=False) for r in result.receipts
    ]
    steps = len(result.scenario.steps)
    assert progress[-1] == (steps, steps)
    assert [done for done, _ in progress] == sorted({done for done, _ in progress})


def test_cli_files_grow_while_the_replay_runs(generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The events file holds the first batches' events before the replay ends."""
    from adapter.cli import main

    events = tmp_path / "events.jsonl"
    seen: list[int] = []
    real = runner._Replay._give

    def watching(self: runner._Replay, sink: Any) -> None:
        real(self, sink)
        seen.append(len(events.read_text().splitlines()) if events.exists() else 0)

    monkeypatch.setattr(runner._Replay, "_give", watching)
    assert main(["replay", str(generated), "--events", str(events)]) == 0
    total = len(events.read_text().splitlines())
    assert total > 0
    assert 0 < next(n for n in seen if n) < total, "an early batch's events were on disk before the end"


def test_a_batch_that_would_hide_a_tick_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """R11: a batch may not span a change the clock makes. Were `take` to put a whole scenario
    with absences over midnights in one batch, the replay stops with an error rather than
    publishing the changes out of time order."""

    def everything(self: runner._MemoryReplay, steps: list[Step], start: int, next_due: Any) -> list[Step]:
        return steps[start:]

    monkeypatch.setattr(runner._MemoryReplay, "take", everything)
    with pytest.raises(RuntimeError, match="fell due"):
        runner.run_scenario(SCENARIOS / "recommended-solution-1.yaml")


def test_messages_parsed_ahead_in_a_worker_are_what_the_processor_parses(generated: Path) -> None:
    """The worker parses each message at its step's instant, as the processor would have."""
    settings = default_settings(http_port=None)
    steps = load_scenario(generated).steps
    messages = [s for s in steps if s.xml is not None or s.absence is not None]
    assert len(messages) > ahead.CHUNK, "enough for a worker"

    async def parsed_ahead() -> list[Any]:
        parser = ahead.Ahead(steps, settings)
        try:
            assert parser._pool is not None
            return [(await parser.work(step)).parsed for step in messages]
        finally:
            parser.close()

    commands = asyncio.run(parsed_ahead())
    routes = routing(settings)
    for step, command in zip(messages, commands, strict=True):
        here = parse(ahead.step_work(step, ahead.step_message(step, settings)[0]), step.at, routes)
        assert isinstance(here, XmlMessage | AbsenceMessage)
        assert command == here


def _retained_after_each_batch(scenario: Path) -> tuple[runner.ReplayResult, list[RetainedRows]]:
    """The replay's result, and what its store held after each batch was published."""
    held: list[RetainedRows] = []

    class Watched(runner._MemoryReplay):
        async def flush(self, parts: Any) -> None:
            await super().flush(parts)
            held.append(await parts.store.retained_rows())

    return asyncio.run(Watched().run(load_scenario(scenario), None)), held


def test_the_sent_outbox_rows_are_pruned_as_the_worker_prunes_them(generated: Path) -> None:
    """The replay's outbox keeps what the worker's retention keeps (a day of sent rows), not every
    event and AppRec of the scenario: a national replay held some 30 MB of them in memory."""
    result, held = _retained_after_each_batch(generated)
    sent = [rows.outbox_sent for rows in held]
    published = len(result.events) + len(result.replies)
    # most output comes on the first day (every GP's first status); ten days later a day's is held
    assert sent[-1] < published / 4
    assert max(sent) > sent[-1]


def test_the_replay_writes_no_timelines_nobody_can_read(generated: Path) -> None:
    """Its store is private and thrown away at the end: the timelines (issue 13) are not built."""
    result, held = _retained_after_each_batch(generated)
    assert result.events and held
    assert all(rows.timeline == 0 for rows in held)


def test_garbage_is_collected_between_batches_and_the_collector_restored(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: no automatic collection during the in-memory replay (it walked everything the replay
    keeps, again and again); cycles are collected between batches once enough was allocated, and the
    collector is as it was when the replay returns."""
    monkeypatch.setattr(runner._MemoryReplay, "COLLECT_AFTER", 1)  # collect after every batch
    assert gc.isenabled()
    cycles: list[weakref.ref[Any]] = []
    collecting: list[bool] = []

    def sink(events: list[str], receipts: list[str]) -> None:
        collecting.append(gc.isenabled())
        node = _Node()
        node.itself = node  # garbage only a collection of cycles frees
        cycles.append(weakref.ref(node))

    runner.run_scenario(generated, sink=sink)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert len(cycles) > 3 and not any(collecting[:-1])  # the last is given once the replay has stopped
    assert all(ref() is None for ref in cycles[:-2]), "each batch's cycle freed at a later pause"


class _Node:
    itself: Any = None


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_is_drawn_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's progress bar (tqdm, on stderr): drawn in a terminal for a long replay, up to every
    step and closed at the end; nothing when stderr is a file or a pipe, nor for a short scenario."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    show = runner.progress_bar()
    assert show is not None
    for done in (128, 4096, 12788):
        show(done, 12788)
    drawn = terminal.getvalue()
    assert "12788/12788" in drawn and "step" in drawn and drawn.rstrip().endswith("]")
    short = runner.progress_bar()
    assert short is not None
    before = len(terminal.getvalue())
    short(3, 10)
    assert len(terminal.getvalue()) == before, "a short scenario draws no bar"
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert runner.progress_bar() is None


#: set by the test below before the worker is forked: the first job the worker gets waits for it
_GATE: Any = None
_HELD: set[int] = set()


def _held_parse(steps: list[Step]) -> list[Any]:
    """In the worker: the job holding a held step waits until the test opens the gate."""
    if steps[0].index in _HELD:
        _GATE.wait(60)
    return _real_parse(steps)


_real_parse = ahead._parse


def test_while_the_worker_is_busy_the_replay_parses_the_queued_jobs_itself(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: where the worker is the slower side, the replay's process does not wait idle: it
    takes back the jobs the worker has not started (the last first) and parses them itself, and
    every message is parsed as the processor would have parsed it."""
    global _GATE
    monkeypatch.setattr(ahead, "CHUNK", 16)  # more jobs than the worker takes at once
    settings = default_settings(http_port=None)
    steps = load_scenario(generated).steps
    messages = [s for s in steps if s.xml is not None or s.absence is not None]
    assert len(messages) > 4 * ahead.CHUNK
    _GATE = multiprocessing.get_context("fork").Event()
    _HELD.add(messages[0].index)
    monkeypatch.setattr(ahead, "_parse", _held_parse)

    async def parsed_ahead() -> tuple[list[Any], set[int]]:
        parser = ahead.Ahead(steps, settings)
        try:
            first = asyncio.create_task(parser.work(messages[0]))
            deadline = asyncio.get_running_loop().time() + 60
            while not parser._parsed_here and not first.done():
                assert asyncio.get_running_loop().time() < deadline, "nothing was taken back"
                await asyncio.sleep(0.01)
            taken = set(parser._parsed_here)
            _GATE.set()
            return [(await first).parsed] + [(await parser.work(step)).parsed for step in messages[1:]], taken
        finally:
            _GATE.set()
            parser.close()

    try:
        commands, taken = asyncio.run(parsed_ahead())
    finally:
        _HELD.clear()
    last = (len(messages) - 1) // ahead.CHUNK
    assert taken and max(taken) == min(ahead.AHEAD, last) and 0 not in taken
    routes = routing(settings)
    for step, command in zip(messages, commands, strict=True):
        here = parse(ahead.step_work(step, ahead.step_message(step, settings)[0]), step.at, routes)
        assert command == here


@pytest.mark.parametrize("wrong", [False, True], ids=["holding", "failing"])
def test_a_result_kept_for_its_expects_alone_checks_them_alike(tmp_path: Path, wrong: bool) -> None:
    """`keep=False` (the CLI's replay, whose rows go to its files): the result holds only the events
    of the pairs and offices the expects name, at their steps, and the expects fail or hold as with
    every event kept, with the same diffs; no receipts, replies or names (issue 14: a national
    replay's rows were 73 MB of dicts that nothing read)."""
    source = SCENARIOS / "gp-at-two-offices.yaml"
    first = load_scenario(source).expects[0]
    where = f"    office_her_id: {first.office_her_id}\n"
    more = f"  - at: 2020-01-01T00:00:00+01:00\n{where}    practitioners: []\n"  # before any list: empty
    if wrong:  # a pair's and a booking list's that fail
        more += f'  - at: 2030-01-01T00:00:00+01:00\n{where}    practitioner_hpr: "{first.practitioner_hpr}"\n'
        more += "    sequence: 999\n"
        more += f"  - at: 2030-01-01T00:00:00+01:00\n{where}    practitioners: [Nobody]\n"
    text = source.read_text(encoding="utf-8").replace("../messages/", f"{SCENARIOS.parent / 'messages'}/")
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(text.rstrip("\n") + "\n" + more, encoding="utf-8")
    every = runner.run_scenario(scenario)
    kept = runner.run_scenario(scenario, keep=False)
    assert len(every.failures) == (2 if wrong else 0)
    assert [f.describe() for f in kept.failures] == [f.describe() for f in every.failures]
    wanted = {(e.event_type, e.office_her_id, e.practitioner_hpr) for e in every.scenario.expects}
    named = [
        (step, event)
        for step, event in zip(every.event_steps, every.events, strict=True)
        if (event["type"], event["office_her_id"], event.get("practitioner_hpr")) in wanted
    ]
    assert 0 < len(named) < len(every.events), "some events are of pairs no expect names"
    assert list(zip(kept.event_steps, kept.events, strict=True)) == named
    assert every.receipts and every.replies and every.names
    assert not (kept.receipts or kept.replies or kept.names)
