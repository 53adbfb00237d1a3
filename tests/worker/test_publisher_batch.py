"""The relay's publisher writes a batch's frames in one go on aiormq's channel (issue 14): on the
real RabbitMQ, every row arrives once, in order, persistent, with its message id, content type and
headers; a row to a queue that does not exist comes back as unroutable and holds up no other row;
a body larger than a frame is split as aiormq splits it; the channel's own publishes still work
after it."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import aio_pika
import aiormq
import pytest

from adapter.store.base import OutboxRow
from adapter.worker.amqp import WRITE_ROWS, AmqpPublisher, _confirmed, _write
from adapter.worker.relay import Unroutable

from .conftest import Broker, wait_until

pytestmark = pytest.mark.broker


def _row(i: int, queue: str, body: bytes | None = None) -> OutboxRow:
    return OutboxRow(
        id=i,
        routing_key=queue,
        message_id=f"m-{i}",
        body=body if body is not None else f"body {i}".encode(),
        headers={"type": "availability.changed", "sequence": i, "absent": None},
        content_type="application/json",
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


async def test_a_batch_arrives_in_order_with_its_properties_and_an_unroutable_row_is_reported_alone(
    broker: Broker,
) -> None:
    queue = f"t-batch-{uuid.uuid4().hex[:10]}"
    missing = f"t-missing-{uuid.uuid4().hex[:10]}"  # never declared: the broker returns the row
    collected = await broker.collect(queue)
    publisher = AmqpPublisher(lambda: broker.connection)
    large = bytes(range(256)) * 2_000  # 512 kB: more than one frame (frame_max 128 kB)
    rows = [_row(1, queue), _row(2, missing), _row(3, queue, large), *(_row(i, queue) for i in range(4, 201))]

    outcomes = await publisher.publish(rows)

    assert isinstance(outcomes[1], Unroutable) and outcomes[1].args == (missing,)
    assert outcomes[:1] + outcomes[2:] == [None] * 199, "every other row confirmed"
    await wait_until(lambda: len(collected.messages) == 199, what="the 199 routable rows")
    got = collected.messages
    assert [m.message_id for m in got] == ["m-1", *(f"m-{i}" for i in range(3, 201))], "once each, in order"
    assert got[1].body == large, "the split body is whole again"
    assert got[0].body == b"body 1"
    assert all(m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT for m in got)
    assert all(m.content_type == "application/json" for m in got)
    assert got[2].headers == {"type": "availability.changed", "sequence": 4}, "None headers left out"

    # The channel's bookkeeping is aiormq's own again: nothing pending, and its own publish works.
    channel = await (await publisher._channel_ready()).get_underlay_channel()
    assert isinstance(channel, aiormq.Channel)
    # (the returned row's ack may follow its return: wait for it)
    await wait_until(lambda: not channel.confirmations, what="no confirmation left pending")
    assert not channel.message_id_delivery_tag, "every settled row's message id forgotten"
    assert await publisher.publish([_row(201, queue)]) == [None]
    await channel.basic_publish(b"after", routing_key=queue)
    await wait_until(lambda: len(collected.messages) == 201, what="the publishes after the batch")
    assert [m.body for m in collected.messages[-2:]] == [b"body 201", b"after"]


async def test_an_empty_batch_publishes_nothing(broker: Broker) -> None:
    publisher = AmqpPublisher(lambda: broker.connection)
    assert await publisher.publish([]) == []


async def test_confirms_that_keep_coming_are_waited_for_and_a_stall_is_not() -> None:
    """The publish timeout runs from the last confirm, not from the publish: a loaded broker that
    confirms a batch over longer than the timeout, but steadily, fails no row (each failed row is
    published again by the relay); one that stops confirming is given up after the timeout."""
    loop = asyncio.get_running_loop()
    steady = [loop.create_future() for _ in range(8)]
    for i, future in enumerate(steady):  # one confirm every 0.1 s: 0.8 s in all, stall bound 0.3 s
        loop.call_later(0.1 * (i + 1), future.set_result, None)
    began = loop.time()
    await _confirmed(steady, stall=0.3)
    assert all(f.done() for f in steady), "nothing given up while confirms kept coming"
    assert loop.time() - began >= 0.8

    stalled = [loop.create_future() for _ in range(3)]
    loop.call_later(0.1, stalled[0].set_result, None)
    began = loop.time()
    await _confirmed(stalled, stall=0.3)
    assert stalled[0].done() and not stalled[1].done() and not stalled[2].done()
    assert 0.4 - 0.05 <= loop.time() - began < 2.0, "given up one stall bound after the last confirm"


class _StuckChannel:
    """Enough of an aiormq channel for `_write`, whose connection takes one write and no more."""

    publisher_confirms = True
    is_closed = False
    number = 1
    max_content_size = 131_064

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.delivery_tag = 7  # publishes before this batch
        self.confirmations: dict[int, asyncio.Future[Any]] = {}
        self.message_id_delivery_tag: dict[str, int] = {}
        self.write_queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    _split_body = aiormq.Channel._split_body  # the body frames as the real channel cuts them


async def test_a_write_cancelled_part_way_hands_back_the_tags_of_what_was_never_queued() -> None:
    """A batch goes out in pieces of WRITE_ROWS rows; cancelled while the connection's queue is
    full, the rows of the pieces not queued were never seen by the broker: their delivery tags
    must be handed back, or every later confirm would be matched to the wrong row."""
    channel = _StuckChannel()
    rows = [_row(i, "q") for i in range(1, 3 * WRITE_ROWS + 1)]  # three pieces; only one fits
    writing = asyncio.ensure_future(_write(channel, rows))  # type: ignore[arg-type]
    await wait_until(lambda: channel.write_queue.full(), what="the first piece queued")
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    assert channel.write_queue.qsize() == 1, "one piece was queued (it will reach the broker)"
    assert channel.delivery_tag == 7 + WRITE_ROWS, "the tags of the two unqueued pieces handed back"
    assert sorted(channel.confirmations) == list(range(8, 8 + WRITE_ROWS)), "the queued rows still await a confirm"


async def test_publishes_started_together_before_the_channel_is_open_share_it_and_keep_their_order(
    broker: Broker,
) -> None:
    """The relay starts a publish for each commit without waiting for the one before; the first ones
    of a run wait for the publishing channel to open. Each opened its own before: two channels, and
    a later row could reach the queue before an earlier one."""
    queue = f"t-order-{uuid.uuid4().hex[:10]}"
    collected = await broker.collect(queue)
    publisher = AmqpPublisher(lambda: broker.connection)
    batches = [[_row(i, queue)] for i in range(1, 9)]

    outcomes = await asyncio.gather(*(publisher.publish(rows) for rows in batches))

    assert outcomes == [[None]] * 8
    assert publisher.channels == 1, "one channel for all of them"
    await wait_until(lambda: len(collected.messages) == 8, what="the 8 rows")
    assert [m.message_id for m in collected.messages] == [f"m-{i}" for i in range(1, 9)], "in order"
