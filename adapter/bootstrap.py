"""The composition root: the one place that builds the running adapter from `Settings`.

`build(settings)` gives the production adapter; the tests, replay and the benchmarks pass the
parts they replace — a clock, a store, a publisher, a broker — and get the same wiring otherwise.
Everything else (the routing, the queue topology, the processor, the pipeline, the relay, the
clock scheduler) is made here, once, from the settings; `Runtime` only runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import Settings
from .domain.model import Practitioner
from .messages.xmlsafe import Limits
from .service.commands import Work
from .service.directory import load_directory
from .service.processor import Processor
from .service.routing import Routing
from .store import open_store
from .store.base import OutboxRow, RetainedRows, Store, StoreContention
from .topology import Topology
from .worker.clock import Clock, SystemClock
from .worker.parsing import ParsingWorkers
from .worker.pipeline import Pipeline
from .worker.relay import Publisher, Relay
from .worker.retention import Pruned, Retention, RetentionWindows
from .worker.scheduler import Scheduler

if TYPE_CHECKING:  # imported where used: the in-memory replay and the tools need no broker (issue 14)
    from aio_pika.abc import AbstractRobustConnection
    from faststream.rabbit import RabbitBroker

    from .worker.runtime import Runtime


def default_settings(**overrides: object) -> Settings:
    """The documented defaults with `overrides`, whatever `DDFL_*` this machine's environment holds
    (contract generation and replay must not depend on it)."""
    fields: dict[str, object] = {name: field.default for name, field in Settings.model_fields.items()}
    return Settings(**(fields | overrides))  # type: ignore[arg-type]  # field names checked by pydantic


def isolated_settings(prefix: str, **overrides: object) -> Settings:
    """Default settings on queues of their own (`prefix-…`): replay, tests, benchmarks."""
    return default_settings(**(Topology.isolated(prefix).settings() | {"http_port": None} | overrides))


def routing(settings: Settings) -> Routing:
    return Routing.of(Topology.of(settings), Limits(max_bytes=settings.max_message_bytes))


def rabbit_broker(settings: Settings) -> RabbitBroker:
    """FastStream's broker on every node DDFL_AMQP_URL names (see adapter.worker.cluster)."""
    from faststream.rabbit import Channel

    from .worker import cluster

    return cluster.rabbit_broker(
        settings.amqp_url,
        graceful_timeout=settings.graceful_timeout,
        default_channel=Channel(prefetch_count=settings.prefetch),
        # The hot path: no dependency injection and no per-message log context (the adapter
        # logs outcomes itself); the handlers take FastStream's message from its context.
        apply_types=False,
        logger=None,
    )


class MemoryPublisher:
    """Stands in for RabbitMQ's publishing in memory: every row is confirmed at once."""

    def __init__(self, sink: Callable[[OutboxRow], None]):
        self._sink = sink

    async def publish(self, rows: list[OutboxRow]) -> list[BaseException | None]:
        for row in rows:
            self._sink(row)
        return [None] * len(rows)


def processor(
    store: Store,
    settings: Settings,
    clock: Clock,
    *,
    directory: dict[int, dict[str, Practitioner]] | None = None,
    fault: Callable[[Work], None] | None = None,
    on_contention: Callable[[StoreContention], None] = lambda error: None,
) -> Processor:
    """The service layer over a store (also for tools and tests that need no broker)."""
    return Processor(store, routing(settings), clock.now, directory, fault=fault, on_contention=on_contention)


def retention_windows(settings: Settings) -> RetentionWindows:
    return RetentionWindows(
        outbox_sent=settings.retention_outbox_sent,
        inbox=settings.retention_inbox,
        closed_conversations=settings.retention_closed_conversations,
        timeline=settings.retention_timeline,
    )


@dataclass
class Parts:
    """What a `Runtime` runs; built by `Assembly.open` once the store is open."""

    store: Store
    owns_store: bool
    processor: Processor
    pipeline: Pipeline
    relay: Relay
    scheduler: Scheduler
    #: None where the caller prunes, or nothing does (replay drives its parts step by step).
    retention: Retention | None = None
    #: The parsing worker processes (`DDFL_PARSE_WORKERS`); None parses in process.
    parser: ParsingWorkers | None = None


@dataclass
class Assembly:
    """The wiring decided before anything is opened; `open` makes the parts (the store is async)."""

    settings: Settings
    clock: Clock
    store: Store | None
    publisher: Publisher | None
    fault: Callable[[Work], None] | None

    async def open(
        self,
        connection: Callable[[], AbstractRobustConnection | None],
        on_commit: Callable[[int], None],
        on_published: Callable[[list[OutboxRow], list[OutboxRow]], None],
        on_backlog: Callable[[int], None],
        on_contention: Callable[[StoreContention], None] = lambda error: None,
        on_leadership: Callable[[bool], None] = lambda leading: None,
        on_pruned: Callable[[Pruned], None] = lambda pruned: None,
        on_retained: Callable[[RetainedRows], None] = lambda held: None,
    ) -> Parts:
        settings = self.settings
        store = self.store or await open_store(settings.store_url)
        service = processor(
            store,
            settings,
            self.clock,
            directory=load_directory(settings.directory),
            fault=self.fault,
            on_contention=on_contention,
        )
        publisher = self.publisher or _amqp_publisher(connection)
        relay = Relay(
            store,
            publisher,
            self.clock.now,
            on_published=on_published,
            on_backlog=on_backlog,
            on_leadership=on_leadership,
        )
        service.on_resync_chunk = relay.wake  # publish a resync's snapshots while it goes on
        parser = ParsingWorkers(service.routing, settings.parse_workers) if settings.parse_workers else None
        if parser is not None:
            try:
                await parser.open()
            except BaseException:
                parser.close()
                if self.store is None:
                    await store.close()
                raise
        pipeline = Pipeline(service, settings.batch_size, on_commit=on_commit, parser=parser)
        # Only the AMQP publisher encodes frames ahead (looked up by name: importing it would load
        # the broker's libraries, which the in-memory replay does without).
        encode = getattr(publisher, "encode_ahead", None)
        scheduler = Scheduler(
            store,
            pipeline,
            self.clock,
            interval=settings.clock_interval,
            ahead=service,
            # the relay's leader publishes them: only there are frames worth encoding ahead
            encode_ahead=(lambda messages: encode(messages if relay.leading else [])) if encode else None,
        )
        retention = Retention(
            store,
            self.clock,
            retention_windows(settings),
            interval=settings.retention_interval,
            batch=settings.retention_batch,
            on_pruned=on_pruned,
            on_retained=on_retained,
        )
        return Parts(store, self.store is None, service, pipeline, relay, scheduler, retention, parser)


def _amqp_publisher(connection: Callable[[], AbstractRobustConnection | None]) -> Publisher:
    from .worker.amqp import AmqpPublisher

    return AmqpPublisher(connection)


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    publisher: Publisher | None = None,
    broker: RabbitBroker | None = None,
    fault: Callable[[Work], None] | None = None,
    background: bool = True,
) -> Runtime:
    """The adapter, with the real parts or the given ones.

    A given store stays the caller's (not closed on stop). `background=False` leaves the clock
    and the relay to the caller (replay drives them step by step). `fault` is a test seam:
    called before each item is handled; raising simulates a bug in handling it.
    """
    from .worker.runtime import Runtime

    settings = settings or Settings()
    assembly = Assembly(settings, clock or SystemClock(), store, publisher, fault)
    return Runtime(settings, assembly, broker or rabbit_broker(settings), background=background)
