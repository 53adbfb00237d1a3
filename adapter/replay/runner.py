"""`ddfl-adapter replay`: run a scenario through the adapter's real handlers.

In memory (default): the real FastStream subscribers on FastStream's in-memory broker, a fresh
SQLite store in memory, the scenario's clock. With an AMQP URL: the same runtime against that
RabbitMQ, on queues of its own (removed afterwards), with events read back from the portal queue.
Either way the replay drives time and the outbox itself, step by step: before each step every
time-driven change due at or before its instant happens (R11), then the step's message is
processed and everything it produced is published.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
from faststream.rabbit import RabbitBroker

from ..bootstrap import MemoryPublisher, Parts, build, default_settings, isolated_settings
from ..config import Settings
from ..domain.state import OfficeState
from ..service.processor import Done, Work
from ..store import open_store
from ..store.base import OutboxRow, Store
from ..topology import Topology
from ..worker import cluster
from ..worker.clock import ManualClock
from ..worker.runtime import Runtime
from .scenario import ExpectFailure, Scenario, Step, check, load_scenario


@dataclass
class ReplayResult:
    scenario: Scenario
    #: portal events in publishing order
    events: list[dict[str, Any]] = field(default_factory=list)
    #: the step during which each event was published (parallel to `events`)
    event_steps: list[int] = field(default_factory=list)
    #: one line per inbound message, in processing order (the contract's --receipts)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    #: AppRecs and error reports sent to offices, as (routing key, message id)
    replies: list[tuple[str, str]] = field(default_factory=list)
    failures: list[ExpectFailure] = field(default_factory=list)
    #: at the end of the replay: office HER-id -> HPR -> the practitioner's name (for `show`)
    names: dict[int, dict[str, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def run_scenario(
    path: Path,
    *,
    amqp_url: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Load and run a scenario; raises ScenarioError when the scenario itself is invalid."""
    scenario = load_scenario(path)
    runner = _AmqpReplay(amqp_url) if amqp_url else _MemoryReplay()
    return asyncio.run(runner.run(scenario, progress))


class _Replay:
    """Drives one scenario through a runtime: time first, then the step's message, then the outbox."""

    #: set by `run` before anything calls back
    result: ReplayResult

    def __init__(self) -> None:
        self.current_step = 0
        self.portal_queue = ""

    def _on_done(self, work: Work, done: Done) -> None:
        if done.receipt is not None:
            self.result.receipts.append(done.receipt.to_json())

    def _on_row(self, row: OutboxRow) -> None:
        if row.routing_key == self.portal_queue:
            self._event(json.loads(row.body))
        else:
            self.result.replies.append((row.routing_key, row.message_id))

    def _event(self, event: dict[str, Any]) -> None:
        self.result.events.append(event)
        self.result.event_steps.append(self.current_step)

    async def run(self, scenario: Scenario, progress: Callable[[int, int], None] | None) -> ReplayResult:
        self.result = result = ReplayResult(scenario)
        clock = ManualClock(scenario.start)
        async with self.running(clock) as (runtime, parts):
            self.portal_queue = runtime.settings.portal_queue
            parts.processor.listeners.append(self._on_done)
            for step in scenario.steps:
                self.current_step = step.index
                clock.set(max(step.at, clock.now()))
                await parts.scheduler.catch_up()  # R11: what time does first, in time order
                await self.flush(parts)
                if step.xml is not None or step.absence is not None:
                    await self.send(runtime, parts, step)
                    await self.flush(parts)
                if progress is not None:
                    progress(step.index, len(scenario.steps))
            result.names = await office_names(parts.store, {e["office_her_id"] for e in result.events})
        result.failures = check(scenario.expects, list(zip(result.event_steps, result.events, strict=True)))
        return result

    def running(self, clock: ManualClock) -> AbstractAsyncContextManager[tuple[Runtime, Parts]]:
        raise NotImplementedError

    async def send(self, runtime: Runtime, parts: Parts, step: Step) -> None:
        raise NotImplementedError

    async def flush(self, parts: Parts) -> None:
        await parts.relay.flush()


def _parts(runtime: Runtime) -> Parts:
    assert runtime.store and runtime.processor and runtime.pipeline and runtime.relay and runtime.scheduler
    return Parts(runtime.store, False, runtime.processor, runtime.pipeline, runtime.relay, runtime.scheduler)


def _step_message(step: Step, settings: Settings) -> tuple[bytes, str, str]:
    """(body, queue, content type) of a step's inbound message."""
    if step.xml is not None:
        return step.xml.read_bytes(), settings.inbound_queue, "application/xml"
    return step.absence or b"", settings.absence_queue, "application/json"


class _MemoryReplay(_Replay):
    """The real FastStream subscribers on FastStream's in-memory broker, SQLite in memory."""

    broker: RabbitBroker

    @asynccontextmanager
    async def running(self, clock: ManualClock) -> AsyncIterator[tuple[Runtime, Parts]]:
        from faststream.rabbit import TestRabbitBroker

        store = await open_store("sqlite:///:memory:")
        try:
            runtime = build(
                default_settings(http_port=None),  # the contract's names, whatever DDFL_* says
                clock=clock,
                store=store,
                publisher=MemoryPublisher(self._on_row),
                background=False,
            )
            async with TestRabbitBroker(runtime.broker) as broker:
                self.broker = broker
                await runtime.start()
                try:
                    yield runtime, _parts(runtime)
                finally:
                    await runtime.stop()
        finally:
            await store.close()

    async def send(self, runtime: Runtime, parts: Parts, step: Step) -> None:
        body, queue, content_type = _step_message(step, runtime.settings)
        await self.broker.publish(body, queue=queue, headers=step.headers, content_type=content_type)


class _AmqpReplay(_Replay):
    """The same replay against a real RabbitMQ, on queues of its own (removed afterwards)."""

    def __init__(self, amqp_url: str):
        super().__init__()
        self.amqp_url = amqp_url
        self.prefix = f"replay-{uuid.uuid4().hex[:12]}"
        self.channel: aio_pika.abc.AbstractChannel | None = None

    @asynccontextmanager
    async def running(self, clock: ManualClock) -> AsyncIterator[tuple[Runtime, Parts]]:
        with tempfile.TemporaryDirectory(prefix="ddfl-replay-") as tmp:
            settings = isolated_settings(
                self.prefix,
                amqp_url=self.amqp_url,
                store_url=f"sqlite:///{Path(tmp) / 'replay.sqlite3'}",
                # the AppRecs and error reports too: a replay never writes to the senders' queues
                replies_queue=Topology.isolated(self.prefix, own_replies=True).replies_queue,
            )
            runtime = build(settings, clock=clock, background=False)
            await runtime.start()
            connection = await cluster.connect(self.amqp_url)
            try:
                self.channel = channel = await connection.channel()
                portal = await channel.get_queue(settings.portal_queue)

                async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                    self._event(json.loads(message.body))
                    await message.ack()

                await portal.consume(on_event)
                try:
                    yield runtime, _parts(runtime)
                finally:
                    await runtime.stop()
                    await channel.close()  # stop consuming before the queue goes away
                    cleanup = await connection.channel()
                    for name in Topology.of(settings).queues():
                        await cleanup.queue_delete(name)
            finally:
                await connection.close()

    async def send(self, runtime: Runtime, parts: Parts, step: Step) -> None:
        assert self.channel is not None
        before = parts.processor.stats.items
        body, queue, content_type = _step_message(step, runtime.settings)
        await self.channel.default_exchange.publish(
            aio_pika.Message(
                body=body,
                headers=step.headers,
                content_type=content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=queue,
        )
        await _until(lambda: parts.processor.stats.items > before, f"step {step.index} to be processed")

    async def flush(self, parts: Parts) -> None:
        await parts.relay.flush()
        published = parts.relay.published_to(self.portal_queue)
        await _until(lambda: len(self.result.events) >= published, "the portal events to arrive")


async def office_names(store: Store, offices: set[int]) -> dict[int, dict[str, str]]:
    """The practitioners' names of each office, from its latest behandleroversikt."""
    names: dict[int, dict[str, str]] = {}
    async with store.transaction() as tx:
        for office in sorted(offices):
            text = await tx.get_office(office)
            roster = OfficeState.from_json(text).roster if text else None
            names[office] = {hpr: p.name for hpr, p in (roster or {}).items()}
    return names


async def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"replay: timed out waiting for {what}")
        await asyncio.sleep(0.005)


def progress_bar() -> Callable[[int, int], None] | None:
    """A progress bar on stderr for long replays in a terminal; silent otherwise."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        if total < 50:
            return
        width = 40
        filled = width * done // total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} steps")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
