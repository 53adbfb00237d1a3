"""A replay split over two deciding processes (issue 14) gives, byte for byte, what one process
gives: the events (R12: each pair's, in order, with its sequence), the steps they were published
at, the clock's changes where one process makes them (R11), the receipts and the replies (R15).
Offices are independent (everything is per office and practitioner; a message touches its
sender's office only), which is what makes the split exact; where the office a message speaks for
was guessed wrong, the replay runs again in one process."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from adapter.cli import main
from adapter.replay import runner, split
from adapter.replay.generate import generate
from adapter.replay.scenario import Step, load_scenario

from .test_replay_same_output import GENERATED, SCENARIOS, digest

#: small generated sets, varied: absences, substitutes, forgotten switches, several messages at one
#: instant, over midnights and a month
SEEDS = (3, 7, 11, 23)


def _generated(root: Path, seed: int) -> Path:
    """A smaller set of the pinned kind, of this seed."""
    return generate(root / f"seed{seed}", **{**GENERATED, "seed": seed, "offices": 24, "days": 20})  # type: ignore[arg-type]


@pytest.fixture
def spying(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every scenario split (however small), and whether each split run held to its guesses."""
    monkeypatch.setattr(split, "SPLIT_FROM", 1)
    held: list[bool] = []
    real = split.run_split

    def run_split(*args: Any, **kwargs: Any) -> bool:
        held.append(real(*args, **kwargs))
        return held[-1]

    monkeypatch.setattr(split, "run_split", run_split)
    return held


def _one_process(scenario: Path, monkeypatch: pytest.MonkeyPatch) -> runner.ReplayResult:
    with monkeypatch.context() as patch:
        patch.setattr(split, "splits", lambda scenario: False)
        return runner.run_scenario(scenario)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_split_replay_gives_what_one_process_gives(
    seed: int, tmp_path: Path, spying: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = _generated(tmp_path, seed)
    one = _one_process(scenario, monkeypatch)
    both = runner.run_scenario(scenario)
    assert spying == [True], "split, and every office guessed right"
    assert len(both.deciders) == split.PROCESSES - 1, "the replay's own process and one more"
    assert one.events and one.receipts and one.replies
    assert digest(both) == digest(one)
    assert (both.events, both.event_steps, both.receipts, both.replies) == (
        one.events,
        one.event_steps,
        one.receipts,
        one.replies,
    )
    assert list(both.names.items()) == list(one.names.items())
    steps, place = split.share_out(load_scenario(scenario).steps, split.PROCESSES, split.MERGING)
    assert set(steps.values()) == set(range(split.PROCESSES)), "each process decided a share"
    assert set(place.values()) == set(range(split.PROCESSES))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_a_split_shipped_scenario_gives_the_pinned_output(
    scenario: Path, spying: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped scenarios (a GP at two offices, a spoofed sender, late and duplicated
    messages, R1–R16's cases), split: the pinned output, their expectations holding."""
    expected = json.loads((Path(__file__).with_name("same_output.json")).read_text())
    result = runner.run_scenario(scenario)
    assert spying, "split"
    assert digest(result) == expected[scenario.stem]
    assert list(result.names.items()) == list(_one_process(scenario, monkeypatch).names.items())


def test_the_split_files_are_the_one_process_files_written_as_they_go(
    tmp_path: Path, spying: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's files, from a split replay: the same bytes, and given batch by batch (`tail -f`)
    with the progress going only forwards."""
    scenario = _generated(tmp_path, 7)
    one = tmp_path / "one-events.jsonl", tmp_path / "one-receipts.jsonl"
    with monkeypatch.context() as patch:
        patch.setattr(split, "splits", lambda scenario: False)
        assert main(["replay", str(scenario), "--events", str(one[0]), "--receipts", str(one[1])]) == 0
    both = tmp_path / "events.jsonl", tmp_path / "receipts.jsonl"
    assert main(["replay", str(scenario), "--events", str(both[0]), "--receipts", str(both[1])]) == 0
    assert spying == [True]
    for mine, theirs in zip(both, one, strict=True):
        assert hashlib.sha256(mine.read_bytes()).hexdigest() == hashlib.sha256(theirs.read_bytes()).hexdigest()

    calls: list[int] = []
    progress: list[int] = []
    result = runner.run_scenario(
        scenario, sink=lambda events, receipts: calls.append(len(events)), progress=lambda d, t: progress.append(d)
    )
    assert sum(1 for n in calls if n) > 1 and sum(calls) == len(result.events)
    assert progress == sorted(set(progress)) and progress[-1] == len(result.scenario.steps)


def test_a_wrong_guess_runs_the_replay_again_in_one_process(
    tmp_path: Path, spying: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were an office guessed wrong (here: every other step's), the deciding process refuses the
    message, and the replay runs in one process; `sink` and `progress` are told each row and step
    once."""
    scenario = _generated(tmp_path, 11)
    one = _one_process(scenario, monkeypatch)
    real = split.guessed_office

    def wrong(step: Any) -> int | None:
        office = real(step)
        return office + 1 if office is not None and step.index % 2 and step.index > 100 else office

    monkeypatch.setattr(split, "guessed_office", wrong)
    given: list[str] = []
    receipts: list[str] = []
    progress: list[int] = []

    def sink(new_events: list[str], new_receipts: list[str]) -> None:
        given.extend(new_events)
        receipts.extend(new_receipts)

    result = runner.run_scenario(scenario, sink=sink, progress=lambda d, t: progress.append(d))
    assert spying == [False]
    assert digest(result) == digest(one)
    assert given == [json.dumps(e, ensure_ascii=False) for e in one.events]
    assert receipts == [json.dumps(r, ensure_ascii=False) for r in one.receipts]
    assert progress == sorted(set(progress)) and progress[-1] == len(one.scenario.steps)


def test_a_deciding_process_that_fails_fails_the_replay(
    tmp_path: Path, spying: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the forked deciding process is not hidden by running again: the replay fails with
    its traceback."""
    replay, real = os.getpid(), split.office_of

    def broken(command: Any) -> int | None:
        if os.getpid() != replay:
            raise ZeroDivisionError("a bug")
        return real(command)

    monkeypatch.setattr(split, "office_of", broken)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        runner.run_scenario(_generated(tmp_path, 3))


def test_the_office_is_guessed_from_the_sender_and_the_absence(tmp_path: Path) -> None:
    """The guess is the sender's HER-id, whatever the namespace prefix; none where the sender
    names several or is not there; an absence's `office_her_id`."""
    scenario = load_scenario(_generated(tmp_path, 3))
    xml = next(step for step in scenario.steps if step.xml is not None)
    body = xml.xml.read_bytes()  # type: ignore[union-attr]
    office = split.guessed_office(xml)
    assert office is not None and f"<Id>{office}</Id>".encode() in body

    def guess(text: bytes) -> int | None:
        path = tmp_path / "message.xml"
        path.write_bytes(text)
        return split.guessed_office(Step(1, xml.at, xml=path))

    prefixed = (
        b'<?xml version="1.0"?><mh:MsgHead xmlns:mh="http://www.kith.no/xmlstds/msghead/2006-05-24">'
        b"<mh:MsgInfo><mh:Sender><mh:Organisation><mh:Ident><mh:Id>8141333</mh:Id>"
        b'<mh:TypeId V="HER" DN="HER-id" S="2.16.578.1.12.4.1.1.9051"/></mh:Ident></mh:Organisation></mh:Sender>'
        b"<mh:Receiver><mh:Organisation><mh:Ident><mh:Id>8093244</mh:Id>"
        b'<mh:TypeId V="HER"/></mh:Ident></mh:Organisation></mh:Receiver></mh:MsgInfo></mh:MsgHead>'
    )
    assert guess(prefixed) == 8141333, "the sender's, not the receiver's"
    two = prefixed.replace(
        b"</mh:Organisation></mh:Sender>",
        b"<mh:Organisation><mh:Ident><mh:Id>99</mh:Id>"
        b'<mh:TypeId V="HER"/></mh:Ident></mh:Organisation></mh:Organisation></mh:Sender>',
    )
    assert guess(two) is None, "which of two the parser takes is its to say"
    assert guess(b"<MsgHead/>") is None
    assert guess(b"not XML") is None
    absence = next(step for step in scenario.steps if step.absence is not None)
    assert split.guessed_office(absence) == json.loads(absence.absence)["office_her_id"]  # type: ignore[arg-type]
    assert split.guessed_office(Step(1, xml.at, absence=b"{")) is None
    assert split.guessed_office(Step(1, xml.at, absence=b'{"office_her_id": "12"}')) is None
