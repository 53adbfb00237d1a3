"""Three real adapter processes on one PostgreSQL store and one RabbitMQ, as competing consumers,
over one stream of status toggles and absences with a midnight in it; random workers killed with
SIGKILL and restarted along the way (issue 9). Then: nothing lost, nothing doubled with different
content, no sequence gaps, every AppRec sent, and the final state of every pair the same as one
worker's run of the same input.

Each worker is tests/worker/replica_worker.py (the production wiring, its clock read from a file
this test writes). Time moves only between phases, once every message of the phase is answered, so
what "now" each message is decided at is the same as in the single-worker run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adapter.bootstrap import MemoryPublisher, default_settings, processor
from adapter.domain.calendar import midnight
from adapter.domain.model import PROCESSES, Service
from adapter.domain.state import PairState, is_on, was_on_since
from adapter.messages.builders import absence_registered
from adapter.service.processor import Work
from adapter.store import open_store
from adapter.store.base import OutboxRow, PairKey, Store
from adapter.topology import Topology
from adapter.worker.clock import ManualClock
from adapter.worker.pipeline import Pipeline
from adapter.worker.relay import Relay
from adapter.worker.scheduler import Scheduler
from tests.support.synthetic import BOOKING_LISTS as LISTS
from tests.support.synthetic import last_booking_lists, roster_xml, status_xml

from .conftest import AMQP_URL, Broker, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
OSLO = dt.timezone(dt.timedelta(hours=1))  # December: CET
DAY = dt.date(2023, 12, 20)
T0 = dt.datetime(2023, 12, 20, 10, 0, tzinfo=OSLO)  # phase 1: before the midnight
T1 = dt.datetime(2023, 12, 21, 10, 0, tzinfo=OSLO)  # phase 2: after it
WORKERS, OFFICES, GPS = 3, 5, 12
REPORTS_BEFORE, REPORTS_AFTER = 4, 2
KILLS_BEFORE, KILLS_AFTER = 4, 2


@dataclass
class Stream:
    """The input, in publish order, per phase; what the test waits for and checks against."""

    offices: list[int]
    rosters: list[bytes] = field(default_factory=list)
    before: list[tuple[str, bytes]] = field(default_factory=list)  # (kind, body)
    after: list[tuple[str, bytes]] = field(default_factory=list)
    apprecs: set[str] = field(default_factory=set)  # message ids of every expected AppRec

    def pairs(self) -> list[PairKey]:
        return [(office, _hpr(office, g)) for office in self.offices for g in range(GPS)]


def _hpr(office: int, g: int) -> str:
    return str(1_000_000 + (office % 1000) * 100 + g)


def _stream(seed: int) -> Stream:
    rng = random.Random(seed)
    base = 9_300_000 + rng.randrange(0, 60_000) * 10  # offices (and their receipt queues) of this run
    stream = Stream(offices=[base + o for o in range(OFFICES)])
    for office in stream.offices:
        msg_id = f"roster-{seed}-{office}"
        stream.rosters.append(
            roster_xml(
                office,
                [_hpr(office, g) for g in range(GPS)],
                msg_id=msg_id,
                gen_date=T0 - dt.timedelta(days=1),
                ack="J",
            )
        )
        stream.apprecs.add(f"apprec-{msg_id}")

    def toggles(office: int, hpr: str, start: dt.datetime, count: int, phase: str) -> list[tuple[str, bytes]]:
        out = []
        for k in range(count):
            msg_id = f"s-{seed}-{phase}-{hpr}-{k}"
            on = {p.value: rng.random() < 0.6 for p in PROCESSES}
            gen = start + dt.timedelta(minutes=37 * k + rng.randrange(0, 30))
            out.append(("xml", status_xml(office, hpr, on, msg_id=msg_id, gen_date=gen, ack="J")))
            stream.apprecs.add(f"apprec-{msg_id}")
        return out

    for office, hpr in stream.pairs():
        stream.before += toggles(office, hpr, T0 - dt.timedelta(hours=5), REPORTS_BEFORE, "a")
        if rng.random() < 0.4:  # an absence from the day after: it starts at the midnight
            command = absence_registered(
                absence_id=str(uuid.UUID(int=rng.getrandbits(128))),
                office_her_id=office,
                practitioner_hpr=hpr,
                from_date=DAY + dt.timedelta(days=1),
                to_date=DAY + dt.timedelta(days=3),
                services=list(Service),
                registered_at=T0 - dt.timedelta(minutes=5),
            )
            stream.before.append(("absence", json.dumps(command).encode()))
        stream.after += toggles(office, hpr, T1 - dt.timedelta(hours=9), REPORTS_AFTER, "b")
    rng.shuffle(stream.before)  # arrival order is not GenDate order, in either run
    rng.shuffle(stream.after)
    return stream


# -- one worker, in this process: the reference ---------------------------------------------------------


async def _single_run(stream: Stream) -> tuple[dict[PairKey, PairState], list[dict[str, Any]]]:
    """The same input through one processor, in publish order, the clock moved as in the test."""
    store = await open_store("sqlite:///:memory:")
    clock = ManualClock(T0)
    service = processor(store, default_settings(portal_queue="portal"), clock)
    events: list[dict[str, Any]] = []

    def sink(row: OutboxRow) -> None:
        if row.routing_key == "portal":
            events.append(json.loads(row.body))

    for body in stream.rosters:
        await service.process([Work(kind="xml", body=body)])
    for kind, body in stream.before:
        await service.process([Work(kind=kind, body=body)])  # type: ignore[arg-type]
    clock.set(T1)
    pipeline = Pipeline(service, 64)
    pipeline.start()
    await Scheduler(store, pipeline, clock).catch_up()
    await pipeline.stop()
    for kind, body in stream.after:
        await service.process([Work(kind=kind, body=body)])  # type: ignore[arg-type]
    await Relay(store, MemoryPublisher(sink), clock.now).flush()
    states = await _states(store, stream.pairs())
    await store.close()
    return states, events


def _facts_answers(pair: PairState) -> tuple[Any, ...]:
    """What R1–R4 can ask of a pair's facts: each process's status and "on since midnight D" for
    the days around the stream, plus the absences, substitutes and listing as they are."""
    facts = pair.facts
    days = [dt.date(2023, 11, 1) + dt.timedelta(days=k) for k in range(90)]
    answers = {
        process: (is_on(history), tuple(was_on_since(history, midnight(day)) for day in days))
        for process, history in facts.processes.items()
    }
    return facts.listed, answers, facts.absences, facts.substitutes


async def _states(store: Store, keys: Iterable[PairKey]) -> dict[PairKey, PairState]:
    async with store.transaction() as tx:
        found = await tx.get_pairs(list(keys))
    return {key: PairState.from_json(text) for key, text in found.items()}


# -- the processes ------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Workers:
    """Three worker processes, each with its log; killed and restarted by index."""

    def __init__(self, env: dict[str, str], logs: Path):
        self._env = env
        self._logs = logs
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * WORKERS
        self.kills = 0

    def log(self, i: int) -> Path:
        return self._logs / f"worker-{i}.log"

    def start(self, i: int) -> None:
        env = {**self._env, "DDFL_HTTP_PORT": str(_free_port())}
        self.processes[i] = subprocess.Popen(
            [sys.executable, "-m", "tests.worker.replica_worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log(i), "ab"),  # noqa: SIM115 - the child holds it
            cwd=ROOT,
        )

    def started(self) -> int:
        return sum(self.log(i).read_text().count('"DDFL-STARTED"') for i in range(WORKERS) if self.log(i).exists())

    def all_started(self) -> bool:
        """All started; a worker that exited on the way fails the test at once, with its log."""
        for i, process in enumerate(self.processes):
            assert process is not None and process.poll() is None, f"worker {i} exited:\n{self.tail(i)}"
        return self.started() >= WORKERS

    def alive(self) -> bool:
        return all(p is not None and p.poll() is None for p in self.processes)

    async def kill_and_restart(self, i: int) -> None:
        process = self.processes[i]
        assert process is not None and process.poll() is None, self.tail(i)
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 30)
        self.kills += 1
        self.start(i)

    async def stop(self) -> None:
        for i, process in enumerate(self.processes):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                assert await asyncio.to_thread(process.wait, 60) == 0, self.tail(i)

    def kill_all(self) -> None:
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(30)

    def count(self, event: str) -> int:
        return sum(self.log(i).read_text().count(f'"{event}"') for i in range(WORKERS) if self.log(i).exists())

    def tail(self, i: int) -> str:
        return self.log(i).read_text()[-3000:] if self.log(i).exists() else ""


async def _inbox_rows(store: Store, at_least: int) -> bool:
    return (await store.retained_rows()).inbox >= at_least


def _set_clock(path: Path, instant: dt.datetime) -> None:
    temporary = path.with_suffix(".new")
    temporary.write_text(instant.isoformat())
    os.replace(temporary, path)  # atomic: a worker never reads half an instant


async def test_three_workers_killed_and_restarted_lose_nothing_and_end_as_one_worker_would(
    broker: Broker, postgres_schema_url: str, tmp_path: Path
) -> None:
    started_at = time.monotonic()
    stream = _stream(seed=9)
    expected_states, expected_events = await _single_run(stream)
    clock_events = sum(1 for e in expected_events if e["caused_by"]["kind"] == "clock")
    assert clock_events > 0, "the midnight must change something, or the test does not test the clock"

    prefix = f"t-{uuid.uuid4().hex[:10]}"
    topology = Topology.isolated(prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDFL_")}
    env.update(topology.environment())
    clock_file = tmp_path / "clock"
    _set_clock(clock_file, T0)
    env.update(
        {
            "DDFL_AMQP_URL": AMQP_URL,
            "DDFL_STORE_URL": postgres_schema_url,
            "DDFL_LOG_FORMAT": "json",
            "DDFL_BATCH_SIZE": "16",
            "DDFL_PREFETCH": "32",
            "DDFL_CLOCK_INTERVAL": "0.5",
            "DDFL_GRACEFUL_TIMEOUT": "10",
            "DDFL_TEST_CLOCK_FILE": str(clock_file),
        }
    )
    broker.declared.extend(topology.queues())
    portal = await broker.collect(topology.settings()["portal_queue"])
    receipts = [await broker.collect(f"{office}_async") for office in stream.offices]
    dead = await broker.collect(topology.settings()["dead_letter_queue"])
    invalid = await broker.collect(topology.settings()["absence_invalid_queue"])

    def apprecs() -> list[Any]:
        return [m for c in receipts for m in c.messages]

    def answered() -> int:
        return len({m.message_id for m in apprecs()} & stream.apprecs)

    workers = Workers(env, tmp_path)
    rng = random.Random(4)
    try:
        for i in range(WORKERS):
            workers.start(i)
        # Three interpreters importing the adapter at once on two shared cores: a generous timeout.
        await wait_until(workers.all_started, timeout=90, what="three workers started")

        async def publish(items: list[tuple[str, bytes]], kills: int) -> None:
            answered_before = answered()
            for kind, body in items:
                queue = topology.settings()["inbound_queue" if kind == "xml" else "absence_queue"]
                content_type = "application/xml" if kind == "xml" else "application/json"
                await broker.publish(queue, body, content_type=content_type)
            xml = sum(1 for kind, _ in items if kind == "xml")
            for n in range(1, kills + 1):  # kill a random worker at evenly spaced points of the phase
                point = answered_before + xml * n // (kills + 1)
                await wait_until(
                    lambda point=point: answered() >= point or not workers.alive(), timeout=60, what=f"{point} AppRecs"
                )
                assert workers.alive(), [workers.tail(i) for i in range(WORKERS)]
                await workers.kill_and_restart(rng.randrange(WORKERS))
            await wait_until(lambda: answered() >= answered_before + xml, timeout=60, what="every AppRec of the phase")

        for body in stream.rosters:  # the rosters first: a status for an unlisted GP is refused (R13)
            await broker.publish(topology.settings()["inbound_queue"], body)
        await wait_until(lambda: answered() >= OFFICES, timeout=30, what="the rosters' AppRecs")
        await publish(stream.before, KILLS_BEFORE)
        # The absences get no AppRec: every message of the phase is in the inbox before time moves.
        watcher = await open_store(postgres_schema_url)
        try:
            inbox = OFFICES + len(stream.before)
            await wait_until(lambda: _inbox_rows(watcher, inbox), timeout=30, what="every phase-1 message in the inbox")
        finally:
            await watcher.close()

        _set_clock(clock_file, T1)  # past the midnight: one replica's clock ticks, once

        def clock_published() -> int:
            return len({e["event_id"] for e in map(json.loads, portal.bodies()) if e["caused_by"]["kind"] == "clock"})

        await wait_until(lambda: clock_published() >= clock_events, timeout=30, what="the midnight's events")
        await publish(stream.after, KILLS_AFTER)
        # How many changes a pair (or an office's booking list) passes through depends on the order
        # its messages arrive in, which competing consumers and redeliveries change (R1, R12): wait
        # for every change the store numbered, not for the single worker's count.
        watcher = await open_store(postgres_schema_url)

        async def every_change_received() -> bool:
            states = await _states(watcher, stream.pairs())
            if any(states.get(key, state).published != state.published for key, state in expected_states.items()):
                return False  # not every message processed yet
            numbered = sum(state.sequence for state in states.values())
            received = {m.message_id for m in portal.messages if m.headers.get("type") == "availability.changed"}
            return len(received) >= numbered

        try:
            await wait_until(
                every_change_received,
                timeout=90,  # once over 30 s under a loaded CI machine (a relay hand-over after the last kill)
                what="every change the store numbered",
            )
        finally:
            await watcher.close()
        await wait_until(
            lambda: last_booking_lists(portal.bodies()) == last_booking_lists(expected_events), what="the last lists"
        )
        await workers.stop()
    finally:
        workers.kill_all()
        cleanup = await broker.connection.channel()
        for office in stream.offices:
            await cleanup.queue_delete(f"{office}_async")

    # Nothing doubled with different content; every pair's sequence without gaps.
    published: dict[str, dict[str, Any]] = {}
    for event in map(json.loads, portal.bodies()):
        assert published.setdefault(event["event_id"], event) == event, "one event id, two contents"
    sequences: dict[PairKey, list[int]] = defaultdict(list)
    for event in published.values():
        if event["type"] != "availability.changed":
            continue  # warnings are numbered apart
        sequences[(event["office_her_id"], event["practitioner_hpr"])].append(event["sequence"])
    for key, numbers in sequences.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), f"sequence gap for {key}"
    lists: dict[int, list[int]] = defaultdict(list)
    for event in published.values():
        if event["type"] == LISTS:
            lists[event["office_her_id"]].append(event["sequence"])
    assert lists, "the stream makes practitioners bookable: booking lists are published"
    for office, numbers in lists.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), f"booking list sequence gap for {office}"

    # Every AppRec sent; a redelivered message already committed is answered with the same AppRec.
    first_body: dict[str, bytes] = {}
    for message in apprecs():
        original = message.message_id.split("-again-")[0]
        assert first_body.setdefault(original, message.body) == message.body
    assert set(first_body) == stream.apprecs
    assert not dead.messages and not invalid.messages, "nothing dead-lettered, no absence refused"

    # The final state of every pair as one worker left it.
    store = await open_store(postgres_schema_url)
    try:
        states = await _states(store, stream.pairs())
    finally:
        await store.close()
    assert set(states) == set(expected_states) == set(stream.pairs())
    for key, state in states.items():
        assert state.published == expected_states[key].published, key
        # The same facts as far as the rules can tell: compaction keeps different reports depending
        # on arrival order (issue 10), so the histories are compared by what R1 and R4 answer.
        assert _facts_answers(state) == _facts_answers(expected_states[key]), key
        assert state.sequence == len(sequences.get(key, [])), key
    # (How many changes were published on the way may differ: arrival order differs, R12 numbers
    # each change; what the portal was told last may not.)
    for key, numbers in sequences.items():
        last = published[f"{key[0]}-{key[1]}-{max(numbers)}"]
        assert last["services"] == expected_states[key].published.model_dump(mode="json")["services"], key

    redelivered = Counter(m.message_id.split("-again-")[0] for m in apprecs() if "-again-" in m.message_id)
    print(
        f"\nreplicas: {WORKERS} workers, {workers.kills} SIGKILLs, "
        f"{len(stream.rosters) + len(stream.before) + len(stream.after)} inbound messages, "
        f"{len(published)} events ({len(portal.messages) - len(published)} published again), "
        f"{workers.count('TEST-REDELIVERED')} redeliveries ({sum(redelivered.values())} of them committed "
        f"before the kill, answered as duplicates), relay take-overs {workers.count('DDFL-RELAY-LEADER')}, "
        f"{time.monotonic() - started_at:.1f} s"
    )
