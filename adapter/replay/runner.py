"""`ddfl-adapter replay`: run a scenario through the adapter's real handlers.

In memory (default): the parts `bootstrap` wires (processor, relay, clock scheduler) over a fresh
SQLite store in memory, on the scenario's clock; each step's message goes to the processor as the
inbound subscriber hands it a delivery, the steps of one Oslo day in one batch (issue 14: a
national set in seconds, not minutes); a large scenario is decided by two processes, each for a
share of the offices, their output merged in the order one process gives (`split`). With an AMQP
URL: the whole runtime against that RabbitMQ, on queues of its own (removed afterwards), one step
at a time, with events read back from the portal queue. Either way the replay drives time and the
outbox itself: before each batch every time-driven change due at or before its first step's
instant happens (R11), then its steps' messages are processed, each at its own instant, and
everything they produced is published.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import sys
import tempfile
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Never

import orjson

from ..bootstrap import Assembly, MemoryPublisher, Parts, build, default_settings, isolated_settings
from ..config import Settings
from ..domain.calendar import local_date
from ..domain.state import OfficeState
from ..service.processor import Done, Work
from ..store import open_store
from ..store.base import OutboxRow, Store
from ..topology import Topology
from ..worker.clock import ManualClock
from . import split
from .ahead import Ahead, step_message
from .scenario import ExpectFailure, Scenario, Step, check, load_scenario

if TYPE_CHECKING:  # imported where used: a replay in memory needs no broker (issue 14: its start-up)
    import aio_pika

    from ..worker.runtime import Runtime


@dataclass
class ReplayResult:
    scenario: Scenario
    #: portal events in publishing order (with `run_scenario(keep=False)`: only those of the pairs
    #: and offices its expects name; then `receipts`, `replies` and `names` stay empty)
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
    #: of each process a split replay decided in (`split`): its CPU seconds and peak resident KiB
    deciders: list[tuple[float, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __repr__(self) -> str:
        # Short: asyncio's SIGINT handling reprs the main task, and with it its result; the
        # generated repr of a national replay's steps and events is some 80 MB of text.
        return (
            f"ReplayResult({self.scenario.name!r}, {len(self.events)} events, "
            f"{len(self.receipts)} receipts, {len(self.failures)} failures)"
        )


#: given the lines of what a batch published (portal events) and received (receipts)
Sink = Callable[[list[str], list[str]], None]


def run_scenario(
    path: Path,
    *,
    amqp_url: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    sink: Sink | None = None,
    keep: bool = True,
) -> ReplayResult:
    """Load and run a scenario; raises ScenarioError when the scenario itself is invalid.

    `progress(steps done, steps)` is told after each batch of steps; `sink(events, receipts)` is
    given what each batch published and received as it goes, as the lines the CLI's files hold
    (`_Replay.line`; for `tail -f`). `keep=False` keeps in the result only the events its expects are
    checked against (the rest go to `sink` alone) and no `names`: a national replay's events were
    some 64 MB of dicts in memory that the CLI never reads (issue 14)."""
    scenario = load_scenario(path)
    if amqp_url:
        return asyncio.run(_AmqpReplay(amqp_url, keep).run(scenario, progress, sink))
    if split.splits(scenario):
        result = ReplayResult(scenario)
        progress = _onwards(progress)
        given = _Counted(sink)
        if split.run_split(scenario, _MemoryReplay, result, progress, given if sink is not None else None, keep):
            result.failures = check(scenario.expects, list(zip(result.event_steps, result.events, strict=True)))
            return result
        # a message spoke for another office than guessed: in one process, from the start, giving
        # `sink` and `progress` only what they were not given yet (the same rows, in the same order)
        sink = given.beyond()
    return asyncio.run(_MemoryReplay(keep).run(scenario, progress, sink))


def _onwards(progress: Callable[[int, int], None] | None) -> Callable[[int, int], None] | None:
    """`progress` told only of steps done beyond what it was told before."""
    if progress is None:
        return None
    shown = 0

    def onwards(done: int, steps: int) -> None:
        nonlocal shown
        if done > shown:
            shown = done
            progress(done, steps)

    return onwards


class _Counted:
    """A sink that counts the lines it passes on (to `sink`, if any)."""

    def __init__(self, sink: Sink | None):
        self._sink = sink
        self.events = self.receipts = 0

    def __call__(self, events: list[str], receipts: list[str]) -> None:
        self.events += len(events)
        self.receipts += len(receipts)
        if self._sink is not None:
            self._sink(events, receipts)

    def beyond(self) -> Sink | None:
        """`sink` given only the lines beyond those given so far (what a stopped split replay gave
        it): the replay run again from the start gives the same lines, in the same order."""
        sink = self._sink
        if sink is None:
            return None
        skip_events, skip_receipts = self.events, self.receipts

        def beyond(events: list[str], receipts: list[str]) -> None:
            nonlocal skip_events, skip_receipts
            new_events, new_receipts = events[skip_events:], receipts[skip_receipts:]
            skip_events, skip_receipts = max(0, skip_events - len(events)), max(0, skip_receipts - len(receipts))
            sink(new_events, new_receipts)

        return beyond


class _Replay:
    """Drives one scenario through a runtime: time first, then the steps' messages, then the outbox.

    Steps go in batches (`take`): before each batch every time-driven change due at or before its
    first step's instant happens (R11); within it no such change can fall due, so the batch is
    what its steps one by one would have been, in one transaction.
    """

    #: set by `run` before anything calls back
    result: ReplayResult
    #: a row as `replay --events/--receipts` writes it (without its newline): `json.dumps(row,
    #: ensure_ascii=False)`, with one encoder made once rather than one a row
    line = staticmethod(json.JSONEncoder(ensure_ascii=False).encode)

    def __init__(self, keep: bool = True) -> None:
        self.current_step = 0
        self.portal_queue = ""
        #: the step each portal event of the batch being published came from, in publishing order
        self._event_steps: deque[int] = deque()
        #: whether every row goes in the result, or only the events an expect is checked against
        #: (`keeps`); whether rows are written as lines, for a sink (`run` sets it when given one)
        self.keep = keep
        self.lines = False
        #: (type, office, practitioner) of each expect (set by `run`)
        self._wanted: frozenset[tuple[Any, ...]] = frozenset()
        self._offices: set[int] = set()
        #: portal events published so far
        self.published = 0
        #: lines not given to the sink yet
        self._event_lines: list[str] = []
        self._receipt_lines: list[str] = []

    def _on_done(self, work: Work, done: Done) -> None:
        if done.receipt is not None:
            receipt = done.receipt.to_json()
            if self.keep:
                self.result.receipts.append(receipt)
            if self.lines:
                self._receipt_lines.append(self.line(receipt))

    def _on_row(self, row: OutboxRow) -> None:
        if row.routing_key == self.portal_queue:
            self._event(orjson.loads(row.body))  # the same dicts as `json`, in a fifth of the time
        elif self.keep:
            self.result.replies.append((row.routing_key, row.message_id))

    def _event(self, event: dict[str, Any]) -> None:
        step = self._event_steps.popleft() if self._event_steps else self.current_step
        self.published += 1
        self._offices.add(event["office_her_id"])
        if self.keeps(event):
            self.result.events.append(event)
            self.result.event_steps.append(step)
        if self.lines:
            self._event_lines.append(self.line(event))

    def keeps(self, event: dict[str, Any]) -> bool:
        """Whether `event` goes in the result: every one, or those an expect is checked against
        (`check` compares each expect with the latest event of its pair or office, by these keys)."""
        return self.keep or (event.get("type"), event["office_her_id"], event.get("practitioner_hpr")) in self._wanted

    async def run(
        self, scenario: Scenario, progress: Callable[[int, int], None] | None, sink: Sink | None = None
    ) -> ReplayResult:
        self.result = result = ReplayResult(scenario)
        self._wanted = frozenset((e.event_type, e.office_her_id, e.practitioner_hpr) for e in scenario.expects)
        self.lines = self.lines or sink is not None
        clock = ManualClock(scenario.start)
        steps = scenario.steps
        async with self.running(clock) as (settings, parts):
            self.portal_queue = settings.portal_queue
            parts.processor.listeners.append(self._on_done)
            done = 0
            while done < len(steps):
                first = steps[done]
                self.current_step = first.index
                clock.set(max(first.at, clock.now()))
                await parts.scheduler.catch_up()  # R11: what time does first, in time order
                await self.flush(parts)
                batch = self.take(steps, done, await parts.store.next_due())
                if any(step.xml is not None or step.absence is not None for step in batch):
                    await self.send(settings, parts, batch)
                    clock.set(max(batch[-1].at, clock.now()))
                    await self.flush(parts)
                done += len(batch)
                self.between_batches()
                self._give(sink)
                if progress is not None:
                    progress(done, len(steps))
            if self.keep:  # (`show` reads them; the CLI's replay does not)
                result.names = await office_names(parts.store, self.offices_published())
        self._give(sink)  # anything published while stopping
        result.failures = check(scenario.expects, list(zip(result.event_steps, result.events, strict=True)))
        return result

    def _give(self, sink: Sink | None) -> None:
        """What was published and received since the last call, to `sink`."""
        if sink is not None:
            events, receipts = self._event_lines, self._receipt_lines
            self._event_lines, self._receipt_lines = [], []
            sink(events, receipts)

    def take(self, steps: list[Step], start: int, next_due: dt.datetime | None) -> list[Step]:
        """The steps from `start` that go in one batch; one at a time unless a replay says more."""
        return steps[start : start + 1]

    def between_batches(self) -> None:
        """Called after each batch of steps (a replay's housekeeping)."""

    def offices_published(self) -> set[int]:
        """The offices the portal was told about (their names end the result)."""
        return self._offices

    def running(self, clock: ManualClock) -> AbstractAsyncContextManager[tuple[Settings, Parts]]:
        raise NotImplementedError

    async def send(self, settings: Settings, parts: Parts, batch: list[Step]) -> None:
        raise NotImplementedError

    async def flush(self, parts: Parts) -> None:
        await parts.relay.flush()


def _parts(runtime: Runtime) -> Parts:
    assert runtime.store and runtime.processor and runtime.pipeline and runtime.relay and runtime.scheduler
    return Parts(runtime.store, False, runtime.processor, runtime.pipeline, runtime.relay, runtime.scheduler)


class _MemoryReplay(_Replay):
    """The adapter's parts as `bootstrap` wires them, over a fresh SQLite store in memory; each
    step's message is handed to the processor as the inbound subscriber hands a delivery, many
    steps to a batch."""

    #: steps in one batch at most (one transaction; its outbox is published after it)
    BATCH = 1024
    #: objects allocated (less those freed) after which the next pause between batches collects
    #: garbage cycles (`between_batches`)
    COLLECT_AFTER = 1_000_000
    #: the steps' messages, parsed ahead; the replay's settings and clock (set by `running`)
    ahead: Ahead
    _settings: Settings
    _clock: ManualClock

    def take(self, steps: list[Step], start: int, next_due: dt.datetime | None) -> list[Step]:
        """The steps of one Oslo day from `start` on, up to the next change the clock makes.

        Time alone changes availability only at an Oslo midnight after the instant a pair was
        last looked at (R11, `rules.next_change_after`): so a step processed in the batch makes
        nothing due before the next midnight, and within one day (and before `next_due`) no tick
        falls between two of its steps. `send` checks it still holds after each batch.
        """
        day = local_date(steps[start].at)
        end = start + 1
        while (
            end < len(steps)
            and end - start < self.BATCH
            and (next_due is None or steps[end].at < next_due)
            and local_date(steps[end].at) == day
        ):
            end += 1
        return steps[start:end]

    def between_batches(self) -> None:
        """Collect garbage cycles here, between batches, and only after many allocations; none
        during a batch. A replay makes almost no cycles (the national set: some 1,800 objects at
        its end) while everything it keeps (states, events, receipts) grows, which the collector's
        automatic passes walked again and again: 0.8 s of its 10.7 s of CPU (issue 14). What is
        alive after a pass is frozen, so the next pass walks only what came since."""
        if gc.get_count()[0] >= self.COLLECT_AFTER:
            gc.collect()
            gc.freeze()

    @asynccontextmanager
    async def running(self, clock: ManualClock) -> AsyncIterator[tuple[Settings, Parts]]:
        settings = default_settings(http_port=None)  # the contract's names, whatever DDFL_* says
        automatic = gc.isenabled()
        gc.disable()  # collected between batches instead (`between_batches`)
        try:
            async with self._running(clock, settings) as parts:
                yield settings, parts
        finally:
            gc.unfreeze()  # as it was: what the replay froze may become garbage once it returns
            if automatic:
                gc.enable()

    @asynccontextmanager
    async def _running(self, clock: ManualClock, settings: Settings) -> AsyncIterator[Parts]:
        self._settings, self._clock = settings, clock
        store = await open_store("sqlite:///:memory:")
        try:
            parts = await Assembly(settings, clock, store, MemoryPublisher(self._on_row), None).open(
                lambda: None,
                on_commit=lambda size: None,
                on_published=lambda rows, undeliverable: None,
                on_backlog=lambda backlog: None,
            )
            parts.processor.keeps_timeline = False  # nobody reads this store's timelines
            parts.pipeline.start()  # the clock's ticks go through it
            self.ahead = self.parsed_ahead(settings)
            try:
                yield parts
            finally:
                self.ahead.close()
                await parts.pipeline.stop()
        finally:
            await store.close()

    def parsed_ahead(self, settings: Settings) -> Ahead:
        """The scenario's messages, parsed ahead (in a worker process where that pays)."""
        return Ahead(self.result.scenario.steps, settings)

    async def send(self, settings: Settings, parts: Parts, batch: list[Step]) -> None:
        sent = [step for step in batch if step.xml is not None or step.absence is not None]
        works = [parts.processor.prepare(await self.ahead.work(step)) for step in sent]
        results = await parts.processor.process(works)
        for step, done in zip(sent, results, strict=True):
            self._event_steps.extend([step.index] * done.events)
        await self.no_change_within(parts, batch)

    async def no_change_within(self, parts: Parts, batch: list[Step]) -> None:
        """That no change of the clock's fell due within the batch (`take`'s promise)."""
        last = batch[-1].at
        if (due := await parts.store.next_due()) is not None and due <= last:
            raise RuntimeError(
                f"replay: a change fell due at {due.isoformat()}, within the batch of steps "
                f"{batch[0].index}-{batch[-1].index}: `take` no longer matches the clock's rule (R11)"
            )

    async def flush(self, parts: Parts) -> None:
        await parts.relay.flush()
        if self._event_steps:
            raise RuntimeError(f"replay: {len(self._event_steps)} portal events of the batch were never published")
        # What the worker's retention does to the sent rows (their copies are in `result`): a
        # national replay's outbox would otherwise hold every event and AppRec in memory.
        await parts.store.prune_outbox(self._clock.now() - self._settings.retention_outbox_sent)


class _AmqpReplay(_Replay):
    """The same replay against a real RabbitMQ, on queues of its own (removed afterwards)."""

    def __init__(self, amqp_url: str, keep: bool = True):
        super().__init__(keep)
        self.amqp_url = amqp_url
        self.prefix = f"replay-{uuid.uuid4().hex[:12]}"
        self.channel: aio_pika.abc.AbstractChannel | None = None

    @asynccontextmanager
    async def running(self, clock: ManualClock) -> AsyncIterator[tuple[Settings, Parts]]:
        from ..worker import cluster

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
                    yield settings, _parts(runtime)
                finally:
                    await runtime.stop()
                    await channel.close()  # stop consuming before the queue goes away
                    cleanup = await connection.channel()
                    for name in Topology.of(settings).queues():
                        await cleanup.queue_delete(name)
            finally:
                await connection.close()

    async def send(self, settings: Settings, parts: Parts, batch: list[Step]) -> None:
        import aio_pika

        assert self.channel is not None
        (step,) = batch
        before = parts.processor.stats.items
        body, queue, content_type = step_message(step, settings)
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
        await _until(lambda: self.published >= published, "the portal events to arrive")


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
    """A progress bar (tqdm) on stderr for long replays in a terminal; silent otherwise."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bars: list[tqdm[Never]] = []  # made on the first call, once the total is known

    def show(done: int, total: int) -> None:
        if total < 50:
            return
        if not bars:
            bars.append(tqdm(total=total, unit="step", file=sys.stderr, dynamic_ncols=True))
        bars[0].update(done - bars[0].n)
        if done == total:
            bars[0].close()

    return show
