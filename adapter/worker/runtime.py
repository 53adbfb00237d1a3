"""The running adapter's lifecycle: FastStream, the store, the pipeline, the relay, the clock
and the HTTP side (the read API, /health and /metrics on one FastAPI app), as
`adapter.bootstrap` wired them (with the real parts or a test's).

Start-up: open the store → connect and declare the queues → start the pipeline, the relay, the
clock and retention → consume. Shutdown (SIGTERM/SIGINT, or `stop()`): stop consuming and let
in-flight messages finish (graceful_timeout) → drain the pipeline → stop the clock and retention →
flush the outbox → close the broker connection and the store (handing every role over). Nothing is left half-done: an item either committed
and was acknowledged, or was not acknowledged and will be redelivered.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any, Literal

from aio_pika.abc import AbstractRobustConnection
from aio_pika.message import IncomingMessage
from faststream import AckPolicy, FastStream
from faststream.message import AckStatus
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.message import RabbitMessage as ParsedMessage
from faststream.specification import AsyncAPI

from .. import __version__
from ..api.reads import Reader, open_reader, unreadable
from ..api.server import ApiServer
from ..config import Settings
from ..messages.portal import PortalEvent
from ..service.commands import ResyncRequest, Work
from ..service.processor import Done, Processor
from ..store.base import OutboxRow, RetainedRows, Store
from . import observability as obs
from .amqp import Acknowledgements, inbound_queue, plain_queue
from .parsing import ParsingWorkers
from .pipeline import Pipeline
from .relay import Relay
from .retention import Pruned, Retention
from .scheduler import Scheduler

if TYPE_CHECKING:
    from ..bootstrap import Assembly, Parts

log = logging.getLogger("ddfl.worker")


class Runtime:
    """Runs what `adapter.bootstrap.build` wired: build it there, never here."""

    def __init__(self, settings: Settings, assembly: Assembly, broker: RabbitBroker, *, background: bool = True):
        """`background=False` leaves the clock and the relay to the caller (replay drives them
        step by step, so what happens is fully determined by the scenario)."""
        self.settings = settings
        self._assembly = assembly
        self._background = background
        self.clock = assembly.clock
        self.broker = broker
        self.app = FastStream(
            self.broker,
            specification=AsyncAPI(
                title="ddfl-adapter",
                version=__version__,
                description="Decides what citizens see of their GP's digital services on Helsenorge.",
            ),
            on_startup=[self.open],
            after_startup=[self.begin],
            on_shutdown=[self.drain],
            after_shutdown=[self.close],
        )
        self.connection: AbstractRobustConnection | None = None
        self._parts: Parts | None = None
        self.store: Store | None = None
        self.processor: Processor | None = None
        self.pipeline: Pipeline | None = None
        self.relay: Relay | None = None
        self.scheduler: Scheduler | None = None
        self.retention: Retention | None = None
        self.parser: ParsingWorkers | None = None
        #: The HTTP side on DDFL_HTTP_PORT: the read API (/v1), /health and /metrics on one app.
        self.health: ApiServer | None = None
        self._watch: obs.ConnectionWatch | None = None
        self._acks = Acknowledgements()
        self._subscribe()

    # -- wiring --------------------------------------------------------------------------------

    def _subscribe(self) -> None:
        settings = self.settings
        self._consume(
            settings.inbound_queue,
            "xml",
            "inbound XML",
            "KITH MsgHead 1.2 from EPJ and AR: Tjenestestatus, Behandleroversikt, Dialogmelding.",
        )
        self._consume(
            settings.absence_queue,
            "absence",
            "absence commands",
            "absence.registered / absence.deleted from Tilpass Helsenorge (JSON).",
        )
        self._consume(
            settings.resync_queue,
            "resync",
            "resync requests",
            "resync.requested from the portal (JSON): the availability of every pair (office_her_id null) or "
            "of one office, as availability.snapshot events on the portal's queue, then each office's booking "
            "list as office.practitioners.snapshot, then resync.completed. "
            "A request that cannot be read goes to the invalid-resync queue with reason/description headers.",
            payload=ResyncRequest,
        )

        # Documents the portal's channel in the AsyncAPI document; the outbox relay does the sending
        # (persistent, confirmed, message id = event_id).
        self.broker.publisher(
            settings.portal_queue,
            title="portal events",
            description="availability.changed, availability.warning, dialogue.closed and "
            "office.practitioners.changed (JSON), and on request availability.snapshot, "
            "office.practitioners.snapshot and resync.completed; AppRecs go to {sender HER-id}_async, error reports to {sender HER-id}_error.",
            schema=PortalEvent,
            persist=True,
        )

    def _consume(
        self,
        queue: str,
        kind: Literal["xml", "absence", "resync"],
        title: str,
        description: str,
        payload: type | None = None,
    ) -> None:
        """One inbound queue: every delivery becomes a work item, settled once it is committed.
        `payload` is the message's model for the AsyncAPI document only (the bytes are read by the
        service layer's edge, whatever it says)."""

        async def on_message(body: Any) -> None:  # bytes: see _raw_body (Any keeps the AsyncAPI document)
            message: RabbitMessage = self.broker.context.get_local("message")
            try:
                # The AMQP message id as sent (FastStream invents one when it is missing).
                headers = {**(message.headers or {}), "message_id": message.raw_message.message_id}
                await self._settle(message, Work(kind=kind, body=bytes(body), headers=headers))
            except Exception as error:  # never leave a delivery unsettled: it would hold a prefetch slot
                log.error(
                    "delivery could not be handled; returned to the queue",
                    extra={"event": "DDFL-UNSETTLED", "queue": queue, "error": type(error).__name__},
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
                if not message.committed:
                    message.committed = AckStatus.REJECTED
                    await self._acks.reject(message.raw_message)  # counts towards the delivery limit

        if payload is not None:
            on_message.__annotations__["body"] = payload
        self.broker.subscriber(
            inbound_queue(queue, self.settings),
            ack_policy=AckPolicy.MANUAL,
            parser=_parse,
            decoder=_raw_body,
            title=title,
            description=description,
        )(on_message)

    async def _settle(self, message: RabbitMessage, work: Work) -> None:
        started = time.perf_counter()
        assert self.pipeline is not None and self.processor is not None
        # Parsed before the batch's transaction (in this coroutine, or in a parsing worker): the
        # transaction only decides.
        done: Done = await self.pipeline.submit(work)
        # Settled here, not through FastStream's message: a batch's deliveries share one ack.
        message.committed = AckStatus.ACKED if done.ok else AckStatus.REJECTED
        if done.ok:
            await self._acks.ack(message.raw_message)
        else:
            await self._acks.reject(message.raw_message)  # counts towards the queue's delivery limit
        obs.LATENCY.observe(time.perf_counter() - started)
        outcome = done.receipt.status if done.receipt is not None else "FAILED"
        obs.messages_counted(work.kind, outcome).inc()

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the store and make the parts (before the broker connects)."""
        self._parts = parts = await self._assembly.open(
            lambda: self.connection,
            on_commit=self._committed,
            on_published=self._published,
            on_backlog=obs.OUTBOX_BACKLOG.set,
            on_contention=lambda error: obs.STORE_RETRIES.inc(),
            on_leadership=obs.RELAY_LEADER.set,
            on_pruned=_count_pruned,
            on_retained=_count_retained,
        )
        self.store, self.processor, self.pipeline = parts.store, parts.processor, parts.pipeline
        self.relay, self.scheduler, self.retention = parts.relay, parts.scheduler, parts.retention
        self.parser = parts.parser

    async def begin(self) -> None:
        """Once connected: declare the queues, start the pipeline (and the relay and the clock)."""
        assert self.pipeline and self.relay and self.scheduler
        self.connection = await self.broker.connect()  # FastStream's connection (already open)
        settings = self.settings
        own = (
            settings.portal_queue,
            settings.dead_letter_queue,
            settings.absence_invalid_queue,
            settings.resync_invalid_queue,
        )
        for name in (*own, settings.replies_queue):
            if name is not None:
                await self.broker.declare_queue(plain_queue(name))
        self.pipeline.start()
        if self._background:
            self.relay.start()
            self.relay.wake()  # publish whatever a previous run committed but did not publish
            self.scheduler.start()  # and catch up with whatever the clock passed while we were down
            if self.retention:
                self.retention.start()
        if settings.http_port is not None:
            reader = await self._reader()
            token = settings.console_token.get_secret_value() if settings.console_token else None
            self.health = ApiServer(
                reader, self.clock.now, settings.http_port, settings.api_host, healthy=self.checks, console_token=token
            )
            try:
                await self.health.start()
            except BaseException:
                await reader.close()
                self.health = None
                raise
        await self.checks()  # starts watching the broker connection (disconnect/reconnect lines)
        port = self.health.port if self.health is not None else None
        log.info("adapter started", extra={"event": "DDFL-STARTED", **obs.started_fields(settings, port)})

    async def _reader(self) -> Reader:
        """The read API's own connection to the store this worker opened. A store handed in (tests,
        replay) or an in-memory SQLite store cannot be read beside the writer: then /v1 answers
        503 saying so, and /health and /metrics are served all the same."""
        if self._parts is None or not self._parts.owns_store:
            return unreadable("this worker was given its store: run `ddfl-adapter api` against it to read it")
        try:
            return await open_reader(self.settings.store_url)
        except ValueError as error:
            return unreadable(f"{error}: run with a store file or PostgreSQL to read it over HTTP")

    async def drain(self) -> None:
        """Stop consuming, finish what is in flight and publish what was committed."""
        for subscriber in self.broker.subscribers:
            await subscriber.stop()  # no new deliveries; waits for in-flight handlers
        if self.scheduler:
            await self.scheduler.stop()
        if self.retention:
            await self.retention.stop()
        if self.pipeline:
            await self.pipeline.stop()
        if self.parser:
            self.parser.close()
        if self.relay:
            await self.relay.stop()

    async def close(self) -> None:
        if self.health:
            await self.health.stop()
        if self.store and self._parts and self._parts.owns_store:
            await self.store.close()
        stats = self.processor.stats if self.processor else None
        log.info(
            "adapter stopped",
            extra={"event": "DDFL-STOPPED", "batches": stats and stats.batches, "items": stats and stats.items},
        )

    def _committed(self, batch_size: int) -> None:
        assert self.relay and self.scheduler
        obs.BATCH.observe(batch_size)
        self.relay.wake()
        self.scheduler.wake()

    def _published(self, rows: list[OutboxRow], undeliverable: list[OutboxRow]) -> None:
        settings = self.settings
        obs.count_published(
            rows, undeliverable, portal_queue=settings.portal_queue, resync_invalid_queue=settings.resync_invalid_queue
        )

    async def checks(self) -> dict[str, bool]:
        """What /health and `ddfl-adapter health` report; healthy only when every check holds."""
        connection = self.connection
        if connection is not None and (self._watch is None or self._watch.connection is not connection):
            self._watch = obs.ConnectionWatch(connection)  # logs disconnects and reconnects from now on
        return {
            "broker_connected": self._watch is not None and self._watch.connected,
            "consuming": all(getattr(s, "running", False) for s in self.broker.subscribers),
            "pipeline": bool(self.pipeline and self.pipeline.alive),
            "relay": bool(self.relay and self.relay.alive),
            "clock": bool(self.scheduler and self.scheduler.alive),
            "retention": bool(self.retention and self.retention.alive),
            "store": self.store is not None and await obs.store_commits(self.store, self.clock.now()),
        }

    # -- for tests and embedding: the same lifecycle without FastStream's signal handling ------

    async def start(self) -> None:
        await self.open()
        await self.broker.start()
        await self.begin()

    async def stop(self) -> None:
        await self.drain()
        await self.broker.stop()
        await self.close()


async def _parse(message: IncomingMessage) -> ParsedMessage:
    """FastStream's own parsing of a delivery, without inventing a message id and a correlation
    id (a uuid4 each per delivery) when the sender gave none: the adapter reads the AMQP message
    id as sent (`raw_message`), and nothing here reads FastStream's correlation id, which
    falls back to the message id, then to the delivery tag (issue 14)."""
    return ParsedMessage(
        body=message.body,
        headers=message.headers,
        reply_to=message.reply_to or "",
        content_type=message.content_type,
        message_id=message.message_id or "",
        correlation_id=message.correlation_id or message.message_id or f"delivery-{message.delivery_tag}",
        raw_message=message,
    )


async def _raw_body(message: RabbitMessage) -> bytes:
    """The delivery's bytes as they came: the adapter decodes them itself. FastStream's default
    decoder parses by content type before the handler runs, and with manual acks a body it cannot
    decode (JSON that is not JSON, text that is not UTF-8) is dropped unsettled."""
    return message.body


def _count_pruned(pruned: Pruned) -> None:
    for table in ("outbox", "inbox", "closed_conversations", "timeline"):
        obs.RETENTION_PRUNED.labels(table=table).inc(getattr(pruned, table))


def _count_retained(held: RetainedRows) -> None:
    for column in dataclasses.fields(held):
        obs.STORE_ROWS.labels(table=column.name).set(getattr(held, column.name))
