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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ..domain.state import OfficeState
from ..service.processor import Done, Work
from ..store import open_store
from ..store.base import OutboxRow, Store
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


class _MemoryPublisher:
    """Stands in for RabbitMQ's publishing in memory: every row is confirmed at once."""

    def __init__(self, sink: Callable[[OutboxRow], None]):
        self._sink = sink

    async def publish(self, rows: list[OutboxRow]) -> list[BaseException | None]:
        for row in rows:
            self._sink(row)
        return [None] * len(rows)


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
    portal_queue = "portal.availability"

    def __init__(self) -> None:
        self.current_step = 0
        self.result: ReplayResult | None = None

    def _on_done(self, work: Work, done: Done) -> None:
        assert self.result is not None
        if done.receipt is not None:
            self.result.receipts.append(done.receipt.to_json())

    def _on_row(self, row: OutboxRow) -> None:
        assert self.result is not None
        if row.routing_key == self.portal_queue:
            self._event(json.loads(row.body))
        else:
            self.result.replies.append((row.routing_key, row.message_id))

    def _event(self, event: dict[str, Any]) -> None:
        assert self.result is not None
        self.result.events.append(event)
        self.result.event_steps.append(self.current_step)

    async def run(self, scenario: Scenario, progress: Callable[[int, int], None] | None) -> ReplayResult:
        self.result = ReplayResult(scenario)
        clock = ManualClock(scenario.start)
        async with self.runtime(clock) as runtime:
            assert runtime.processor and runtime.scheduler and runtime.relay
            runtime.processor.listeners.append(self._on_done)
            for step in scenario.steps:
                self.current_step = step.index
                clock.set(max(step.at, clock.now()))
                await runtime.scheduler.catch_up()  # R11: what time does first, in time order
                await self.flush(runtime)
                if step.xml is not None or step.absence is not None:
                    await self.send(runtime, step)
                    await self.flush(runtime)
                if progress is not None:
                    progress(step.index, len(scenario.steps))
            assert runtime.store is not None
            self.result.names = await office_names(runtime.store, {e["office_her_id"] for e in self.result.events})
        self.result.failures = check(
            scenario.expects, list(zip(self.result.event_steps, self.result.events, strict=True))
        )
        return self.result

    def runtime(self, clock: ManualClock) -> Any:
        raise NotImplementedError

    async def send(self, runtime: Runtime, step: Step) -> None:
        raise NotImplementedError

    async def flush(self, runtime: Runtime) -> None:
        assert runtime.relay is not None
        await runtime.relay.flush()


class _MemoryReplay(_Replay):
    def runtime(self, clock: ManualClock) -> Any:
        replay = self

        class _Context:
            async def __aenter__(self) -> Runtime:
                from faststream.rabbit import TestRabbitBroker

                store = await open_store("sqlite:///:memory:")
                self.runtime = Runtime(
                    Settings(http_port=None),
                    clock=clock,
                    store=store,
                    publisher=_MemoryPublisher(replay._on_row),
                    background=False,
                )
                self.store = store
                self.test_broker = TestRabbitBroker(self.runtime.broker)
                self.broker = await self.test_broker.__aenter__()
                await self.runtime._open()
                assert self.runtime.pipeline is not None
                self.runtime.pipeline.start()
                replay.broker = self.broker
                return self.runtime

            async def __aexit__(self, *exc: object) -> None:
                assert self.runtime.pipeline is not None
                await self.runtime.pipeline.stop()
                await self.test_broker.__aexit__(*exc)
                await self.store.close()

        return _Context()

    async def send(self, runtime: Runtime, step: Step) -> None:
        settings = runtime.settings
        if step.xml is not None:
            await self.broker.publish(
                step.xml.read_bytes(),
                queue=settings.inbound_queue,
                headers=step.headers,
                content_type="application/xml",
            )
        else:
            await self.broker.publish(step.absence, queue=settings.absence_queue, content_type="application/json")


class _AmqpReplay(_Replay):
    """The same replay against a real RabbitMQ, on queues of its own."""

    def __init__(self, amqp_url: str):
        super().__init__()
        self.amqp_url = amqp_url
        self.prefix = f"replay-{uuid.uuid4().hex[:12]}"
        self.portal_queue = f"{self.prefix}-portal"

    def runtime(self, clock: ManualClock) -> Any:
        replay = self

        class _Context:
            async def __aenter__(self) -> Runtime:
                import aio_pika

                self.tmp = tempfile.TemporaryDirectory(prefix="ddfl-replay-")
                settings = Settings(
                    amqp_url=replay.amqp_url,
                    store_url=f"sqlite:///{Path(self.tmp.name) / 'replay.sqlite3'}",
                    inbound_queue=f"{replay.prefix}-8093244_async",
                    absence_queue=f"{replay.prefix}-absences",
                    absence_invalid_queue=f"{replay.prefix}-absences-invalid",
                    portal_queue=replay.portal_queue,
                    dead_letter_queue=f"{replay.prefix}-dl",
                    http_port=None,
                )
                self.runtime = Runtime(settings, clock=clock, background=False)
                await self.runtime.start()
                self.connection = await aio_pika.connect_robust(replay.amqp_url)
                self.channel = await self.connection.channel()
                portal = await self.channel.get_queue(replay.portal_queue)

                async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                    replay._event(json.loads(message.body))
                    await message.ack()

                await portal.consume(on_event)
                replay.channel = self.channel
                return self.runtime

            async def __aexit__(self, *exc: object) -> None:
                await self.runtime.stop()
                await self.channel.close()  # stop consuming before the queue goes away
                cleanup = await self.connection.channel()
                for suffix in ("8093244_async", "absences", "absences-invalid", "portal", "dl"):
                    await cleanup.queue_delete(f"{replay.prefix}-{suffix}")
                await self.connection.close()
                self.tmp.cleanup()

        return _Context()

    async def send(self, runtime: Runtime, step: Step) -> None:
        import aio_pika

        assert runtime.processor is not None
        before = runtime.processor.stats.items
        settings = runtime.settings
        if step.xml is not None:
            body, queue, ctype = step.xml.read_bytes(), settings.inbound_queue, "application/xml"
        else:
            body, queue, ctype = step.absence or b"", settings.absence_queue, "application/json"
        await self.channel.default_exchange.publish(
            aio_pika.Message(
                body=body, headers=step.headers, content_type=ctype, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            ),
            routing_key=queue,
        )
        await _until(lambda: runtime.processor.stats.items > before, f"step {step.index} to be processed")

    async def flush(self, runtime: Runtime) -> None:
        assert runtime.relay is not None and runtime.store is not None
        await runtime.relay.flush()
        published = runtime.relay.published_to(self.portal_queue)
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
