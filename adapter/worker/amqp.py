"""RabbitMQ specifics: the queues the contract names, and a confirming publisher for the relay."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aiormq.abc import ChannelFrame
from faststream.rabbit import QueueType, RabbitQueue
from faststream.rabbit.schemas.queue import QuorumQueueArgs
from pamqp.header import ContentHeader

from ..config import Settings
from ..store.base import OutboxMessage, OutboxRow
from .background import wait_at_most
from .relay import Unroutable

log = logging.getLogger("ddfl.relay")


def inbound_arguments(settings: Settings) -> QuorumQueueArgs:
    """The inbound queues' arguments besides the quorum type: a delivery limit, and dead-lettering
    at least once to the DL queue. Anything that declares them ahead of the adapter uses these."""
    return {
        "x-delivery-limit": settings.delivery_limit,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": settings.dead_letter_queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",  # required by at-least-once dead-lettering
    }


def inbound_queue(name: str, settings: Settings) -> RabbitQueue:
    """A quorum queue with a delivery limit that dead-letters at least once to the DL queue."""
    return RabbitQueue(name, queue_type=QueueType.QUORUM, durable=True, arguments=inbound_arguments(settings))


def plain_queue(name: str) -> RabbitQueue:
    return RabbitQueue(name, queue_type=QueueType.QUORUM, durable=True)


class AmqpPublisher:
    """Publishes outbox rows persistently on a confirming channel; every row's confirm is awaited
    concurrently (pipelined), and a returned (unroutable) message is reported as such.

    A publish the broker refuses (a nack) is retried, from the first refused row on, on a new
    channel, up to `retries` times with a doubling pause: right after a quorum queue's leader died,
    RabbitMQ 3.10 can go on nacking publishes on a channel that still points at the old leader
    until the channel is replaced. Beyond the bound the refusal is returned and the relay retries
    later, in order, as for any failed publish."""

    def __init__(
        self,
        connection: Callable[[], AbstractRobustConnection | None],
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.1,
    ):
        self._connection = connection
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._channel: AbstractChannel | None = None
        #: Held while a channel is opened: publishes started meanwhile wait for that one channel,
        #: in order. Each opening its own, a later row could overtake an earlier one (two channels).
        self._opening = asyncio.Lock()
        self.channels = 0  # opened so far (tests)
        self.refusals = 0  # refused publishes retried on a new channel (tests and metrics read it)
        #: Frames encoded ahead (`encode_ahead`) by message id, and the channel they are for.
        self._ahead: dict[str, _Ahead] = {}
        self._ahead_channel: aiormq.Channel | None = None
        self.written_ahead = 0  # rows written with frames encoded ahead (tests read it)

    async def _channel_ready(self) -> AbstractChannel:
        async with self._opening:  # free (no wait) once the channel is open
            if self._channel is None or self._channel.is_closed:
                connection = self._connection()
                if connection is None or connection.is_closed:
                    raise ConnectionError("no broker connection")
                self._channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                self.channels += 1
            return self._channel

    async def _drop_channel(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):  # it is being replaced because it misbehaves
                await channel.close()

    #: Messages encoded between two turns of the event loop (`encode_ahead`): about 2.5 ms.
    AHEAD_STEP = 64

    async def encode_ahead(self, messages: Sequence[OutboxMessage]) -> int:
        """Encode these messages' frames now, for rows that are still to be committed (the clock's
        ticks worked out before their midnight: issue 14's burst); returns how many. A row the
        relay publishes later is written with them when it is that message as encoded (message id,
        routing key, body, content type, headers in their order: sorted, as the store writes
        them) on that very channel; any other row is encoded when published, as always. Replaces
        what was encoded ahead before; none forgets it."""
        self._ahead, self._ahead_channel = {}, None
        if not messages:
            return 0
        channel = await (await self._channel_ready()).get_underlay_channel()
        if not isinstance(channel, aiormq.Channel):
            raise TypeError(f"not an aiormq channel: {channel!r}")
        ahead: dict[str, _Ahead] = {}
        for start in range(0, len(messages), self.AHEAD_STEP):
            for message in messages[start : start + self.AHEAD_STEP]:
                if (encoded := _Ahead.of(channel, message)) is not None:
                    ahead[message.message_id] = encoded
            await asyncio.sleep(0)
        self._ahead, self._ahead_channel = ahead, channel
        return len(ahead)

    def _encoded(self, channel: aiormq.Channel, row: OutboxRow) -> bytes:
        """The row's frames: encoded ahead when they are this row's on this channel, else now."""
        ahead = self._ahead.pop(row.message_id, None)
        if ahead is not None and channel is self._ahead_channel and ahead.fits(row):
            self.written_ahead += 1
            return ahead.frames
        return _frames(channel, row)

    async def publish(self, rows: list[OutboxRow]) -> list[BaseException | None]:
        outcomes = await self._publish_once(rows)
        for attempt in range(self._retries + 1):
            first = next((i for i, o in enumerate(outcomes) if o is not None and not isinstance(o, Unroutable)), None)
            if first is None or not _refused(outcomes[first]):
                break  # all confirmed, or a failure a new channel does not cure (the relay retries it)
            await self._drop_channel()
            if attempt == self._retries:
                break
            self.refusals += len(rows) - first
            log.warning(
                "publish refused by the broker; retrying on a new channel",
                extra={"event": "DDFL-PUBLISH-REFUSED", "rows": len(rows) - first, "attempt": attempt + 1},
            )
            await asyncio.sleep(self._backoff * 2**attempt)
            outcomes[first:] = await self._publish_once(rows[first:])
        return outcomes

    async def _publish_once(self, rows: list[OutboxRow]) -> list[BaseException | None]:
        """The rows' frames go to the broker in a few writes, then the confirms are awaited together.

        aiormq's `basic_publish` costs per row a coroutine, a lock, a timeout scope, a drain
        future, a write and a drain (about 110 µs of CPU per row here, a fifth of the adapter's
        CPU per message); `_write` does what it does for a whole batch at once: the same frames,
        delivery tags and confirmation futures, on aiormq's own channel (docs/throughput.md)."""
        if not rows:
            return []
        channel = await (await self._channel_ready()).get_underlay_channel()
        if not isinstance(channel, aiormq.Channel):
            raise TypeError(f"not an aiormq channel: {channel!r}")
        try:
            async with asyncio.timeout(self._timeout):
                confirmations = await _write(channel, rows, self._encoded)
        except Exception as error:  # nothing or everything went out: the relay retries all of it
            return [error] * len(rows)
        await _confirmed(confirmations, self._timeout)
        outcomes: list[BaseException | None] = []
        for row, confirmation in zip(rows, confirmations, strict=True):
            if not confirmation.done():
                confirmation.cancel()  # aiormq ignores a confirm that comes after this
                outcomes.append(TimeoutError(f"no confirm for {self._timeout} s"))
            elif (refused := confirmation.exception()) is None:
                outcomes.append(None)
            elif isinstance(refused, aio_pika.exceptions.DeliveryError) and isinstance(
                refused.frame, aiormq.spec.Basic.Return
            ):
                outcomes.append(Unroutable(row.routing_key))
            else:
                outcomes.append(refused)
        return outcomes


async def _confirmed(confirmations: list[asyncio.Future[Any]], stall: float) -> None:
    """Wait until every confirmation is settled, or until none has been for `stall` seconds.

    The timeout runs from the last progress, not from the publish: a broker that confirms a large
    batch slowly but steadily (a loaded machine: seconds per batch) is not mistaken for one that
    stopped, which would publish the whole rest of the batch again (docs/throughput.md)."""
    loop = asyncio.get_running_loop()
    remaining = sum(not c.done() for c in confirmations)
    if not remaining:
        return
    all_settled = asyncio.Event()
    last = loop.time()

    def settled(_: asyncio.Future[Any]) -> None:
        nonlocal remaining, last
        remaining -= 1
        last = loop.time()
        if not remaining:
            all_settled.set()

    for confirmation in confirmations:
        if not confirmation.done():
            confirmation.add_done_callback(settled)
    while not all_settled.is_set() and (left := last + stall - loop.time()) > 0:
        await wait_at_most(all_settled, left)


#: Rows per write of a batch: 64 rows of about 1 kB each.
WRITE_ROWS = 64


async def _write(
    channel: aiormq.Channel,
    rows: list[OutboxRow],
    encode: Callable[[aiormq.Channel, OutboxRow], bytes] = lambda channel, row: _frames(channel, row),
) -> list[asyncio.Future[Any]]:
    """Publish `rows` (persistent, mandatory) on a confirming aiormq channel in a few writes, each
    row's frames as `encode` gives them; returns each row's confirmation future, which aiormq's
    reader resolves (ack), fails (nack, return) or fails when the channel closes, exactly as for
    its own `basic_publish`."""
    if not channel.publisher_confirms:
        raise ValueError("the publisher's channel must confirm")
    frames: list[bytes] = []
    confirmations: list[asyncio.Future[Any]] = []
    async with channel.lock:  # the channel's delivery tags are numbered under it, as aiormq does
        if channel.is_closed:
            raise aiormq.exceptions.ChannelInvalidStateError(f"{channel!r} closed")
        first = channel.delivery_tag
        drain = channel.create_future()
        try:
            for row in rows:
                channel.delivery_tag += 1
                tag = channel.delivery_tag
                confirmation = channel.create_future()
                channel.confirmations[tag] = confirmation
                channel.message_id_delivery_tag[row.message_id] = tag  # how a return finds its row
                confirmation.add_done_callback(functools.partial(_forget, channel, row.message_id, tag))
                confirmations.append(confirmation)
                frames.append(encode(channel, row))
            # In pieces of WRITE_ROWS rows, each one write: the connection's other frames (the
            # consumers' acks) queued meanwhile go out between them, not after the whole batch.
            pieces = [
                ChannelFrame(
                    payload=b"".join(frames[start : start + WRITE_ROWS]),
                    should_close=False,
                    drain_future=drain if start + WRITE_ROWS >= len(frames) else None,
                )
                for start in range(0, len(frames), WRITE_ROWS)
            ]
        except BaseException:  # nothing was written: hand the tags back, as aiormq does
            for tag in range(first + 1, channel.delivery_tag + 1):
                channel.confirmations.pop(tag, None)
            for future in (*confirmations, drain):
                future.cancel()
            channel.delivery_tag = first
            raise
        sent = 0
        try:
            for piece in pieces:
                await channel.write_queue.put(piece)  # waits while the connection's queue is full
                sent += 1
        except BaseException:  # the pieces not queued were never seen: their tags are handed back
            unsent = len(rows) - sent * WRITE_ROWS
            for tag in range(channel.delivery_tag - unsent + 1, channel.delivery_tag + 1):
                channel.confirmations.pop(tag, None)
            for future in (*confirmations[sent * WRITE_ROWS :], drain):
                future.cancel()
            channel.delivery_tag -= unsent
            raise
        await drain
    return confirmations


def _frames(channel: aiormq.Channel, row: OutboxRow) -> bytes:
    """A row's frames, encoded by pamqp as aiormq's `basic_publish` encodes them."""
    properties = aiormq.spec.Basic.Properties(
        message_id=row.message_id, content_type=row.content_type, headers=_amqp_headers(row.headers), delivery_mode=2
    )
    frames: list[Any] = [
        aiormq.spec.Basic.Publish(exchange="", routing_key=row.routing_key, mandatory=True),
        ContentHeader(properties=properties, body_size=len(row.body)),
        *channel._split_body(row.body),
    ]
    return ChannelFrame.marshall(channel_number=channel.number, frames=frames).payload


@dataclass(frozen=True, slots=True)
class _Ahead:
    """A message's frames encoded ahead (`AmqpPublisher.encode_ahead`), with what they encode:
    the frames up to its body (`head`), then the body (the message's own bytes, not a copy: a
    few KB each, for thousands of messages held a minute) and the frame's end."""

    routing_key: str
    body: bytes
    content_type: str
    #: the row's headers as JSON, in their order (their AMQP table keeps that order)
    headers: bytes
    head: bytes

    @classmethod
    def of(cls, channel: aiormq.Channel, message: OutboxMessage) -> _Ahead | None:
        """The message's frames on `channel`; None for a body split over several frames."""
        row = _as_read(message)
        frames, end = _frames(channel, row), row.body + _FRAME_END
        if not frames.endswith(end):
            return None
        # the headers' JSON copied to its length: orjson's own bytes keep a 4 KB buffer each
        headers = bytes(memoryview(orjson.dumps(row.headers)))
        return cls(row.routing_key, row.body, row.content_type, headers, frames[: -len(end)])

    @property
    def frames(self) -> bytes:
        return self.head + self.body + _FRAME_END

    def fits(self, row: OutboxRow) -> bool:
        """Whether `row` encodes to these frames (its id and time are not in them)."""
        if row.routing_key != self.routing_key or row.body != self.body or row.content_type != self.content_type:
            return False
        try:
            return orjson.dumps(row.headers) == self.headers
        except orjson.JSONEncodeError:  # not headers read from the store: not these
            return False


_FRAME_END = b"\xce"


def _as_read(message: OutboxMessage) -> OutboxRow:
    """The message as the relay will read its row back: its headers' keys sorted (the store's
    JSON), its id and time unknown yet (neither is in the frames)."""
    headers = orjson.loads(orjson.dumps(dict(message.headers), option=orjson.OPT_SORT_KEYS))
    return OutboxRow(
        0, message.routing_key, message.message_id, bytes(message.body), headers, message.content_type, _EPOCH
    )


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _forget(channel: aiormq.Channel, message_id: str, tag: int, _: asyncio.Future[Any]) -> None:
    """A settled row's message id no longer names its delivery tag (aiormq's own bookkeeping)."""
    if channel.message_id_delivery_tag.get(message_id) == tag:
        channel.message_id_delivery_tag.pop(message_id)


@dataclass
class _Tags:
    """One consuming channel's delivery tags (1, 2, 3, … in delivery order) not yet acknowledged."""

    #: Every tag up to this one is settled (acknowledged or rejected).
    settled_to: int = 0
    committed: set[int] = field(default_factory=set)  # to acknowledge
    settled: set[int] = field(default_factory=set)  # beyond a gap, already acknowledged or rejected
    round: asyncio.Task[None] | None = None


class Acknowledgements:
    """Acknowledges committed deliveries with one `multiple` ack per run of consecutive delivery
    tags instead of one ack each: a batch's deliveries are committed together, and their
    coroutines resume together, so one round (scheduled after them) covers the whole batch.

    Sound because a channel numbers its deliveries 1, 2, 3, … with no gap: a `multiple` ack goes
    only up to the first tag not committed yet (a delivery still on its way, whatever its
    coroutine's progress), so nothing is acknowledged before it is committed. A committed tag
    beyond such a gap is acknowledged alone, at once, as before. Every delivery of a channel that
    is acknowledged through here must be settled through here (`ack` or `reject`)."""

    def __init__(self) -> None:
        self._channels: weakref.WeakKeyDictionary[Any, _Tags] = weakref.WeakKeyDictionary()

    def _tags(self, message: AbstractIncomingMessage) -> tuple[Any, _Tags, int]:
        channel = message.channel  # aiormq's; raises when closed (the delivery comes again)
        if message.delivery_tag is None:
            raise ValueError("a delivery without a tag (no_ack) cannot be acknowledged")
        tags = self._channels.get(channel)
        if tags is None:
            tags = self._channels[channel] = _Tags()
        return channel, tags, message.delivery_tag

    async def ack(self, message: AbstractIncomingMessage) -> None:
        """Acknowledge a committed delivery; returns once the round that covers it was handed to
        the connection's writer."""
        channel, tags, tag = self._tags(message)
        tags.committed.add(tag)
        if tags.round is None:
            tags.round = asyncio.ensure_future(self._round(channel, tags))
        await asyncio.shield(tags.round)

    async def reject(self, message: AbstractIncomingMessage) -> None:
        """Return a delivery to its queue (counts towards its delivery limit), at once."""
        _, tags, tag = self._tags(message)
        await message.reject(requeue=True)
        if tag == tags.settled_to + 1:
            tags.settled_to = tag
        else:
            tags.settled.add(tag)

    async def _round(self, channel: Any, tags: _Tags) -> None:
        tags.round = None  # what is committed from now on goes in the next round
        top, last = tags.settled_to, 0
        while True:
            if top + 1 in tags.committed:
                tags.committed.discard(top + 1)
                last = top + 1
            elif top + 1 in tags.settled:
                tags.settled.discard(top + 1)
            else:
                break
            top += 1
        tags.settled_to = top
        alone = sorted(tags.committed)  # beyond a gap: each on its own
        tags.committed.clear()
        tags.settled.update(alone)
        try:
            # Queued for the connection's writer, not waited for until written (`wait=False`):
            # the deliveries are committed whatever becomes of the frame; a connection that dies
            # first redelivers them (the inbox dedupes), as an ack lost on the wire always did.
            if last:
                await channel.basic_ack(delivery_tag=last, multiple=True, wait=False)
            for tag in alone:
                await channel.basic_ack(delivery_tag=tag, wait=False)
        except Exception as error:  # the channel closed: the deliveries come again (the inbox dedupes)
            logging.getLogger("ddfl.worker").warning(
                "acknowledgement failed; the deliveries will be redelivered",
                extra={"event": "DDFL-ACK-FAILED", "error": type(error).__name__},
            )


def _refused(outcome: BaseException | None) -> bool:
    """The broker answered the publish with a nack (not a return, not a lost connection)."""
    return isinstance(outcome, aio_pika.exceptions.DeliveryError) and isinstance(outcome.frame, aiormq.spec.Basic.Nack)


def _amqp_headers(headers: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in headers.items() if v is not None}
