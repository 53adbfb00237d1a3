"""The connection layer and the publisher's retry on the system RabbitMQ (one node on 5672): a
multi-node URL whose first node is dead still connects, and a refused (nacked) publish is retried
on a new channel, within its bound."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.abc import AbstractRobustConnection

from adapter.store.base import OutboxRow
from adapter.worker.amqp import AmqpPublisher
from adapter.worker.cluster import ClusterConnection, connect, node, rabbit_broker

pytestmark = pytest.mark.broker

AMQP_URL = os.environ.get("DDFL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _row(i: int, queue: str) -> OutboxRow:
    return OutboxRow(
        id=i,
        routing_key=queue,
        message_id=f"m-{i}",
        body=f"body {i}".encode(),
        headers={"type": "test"},
        content_type="text/plain",
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


@pytest.fixture
async def connection() -> AsyncIterator[AbstractRobustConnection]:
    try:
        connection = await aio_pika.connect_robust(AMQP_URL, timeout=5)
    except Exception as error:  # pragma: no cover - the machine and CI run RabbitMQ
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ unreachable at {AMQP_URL}: {error}")
        pytest.skip(f"RabbitMQ unreachable at {AMQP_URL}: {error}")
    yield connection
    await connection.close()


async def test_the_broker_skips_a_dead_node_of_its_url(connection: AbstractRobustConnection) -> None:
    live = AMQP_URL.split("@", 1)[1].split("/", 1)[0]
    url = AMQP_URL.replace(live, f"127.0.0.1:{_dead_port()},{live}")
    broker = rabbit_broker(url, reconnect_interval=0.5, logger=None)
    try:
        connected = await asyncio.wait_for(broker.connect(), timeout=20)
        assert isinstance(connected, ClusterConnection)
        assert node(connected) == live
        queue = f"t-{uuid.uuid4().hex[:10]}"
        channel = await connected.channel()
        await channel.declare_queue(queue, auto_delete=True)
        await channel.default_exchange.publish(aio_pika.Message(b"through the second node"), routing_key=queue)
        got = await (await channel.get_queue(queue)).get(timeout=5)
        assert got.body == b"through the second node"
        await got.ack()
    finally:
        await broker.stop()
    assert node(connected) is None


async def test_a_plain_connection_skips_a_dead_node_too() -> None:
    live = AMQP_URL.split("@", 1)[1].split("/", 1)[0]
    connection = await connect(AMQP_URL.replace(live, f"127.0.0.1:{_dead_port()},{live}"), timeout=10)
    try:
        assert isinstance(connection, ClusterConnection)
        assert connection.rotation.current is not None and connection.rotation.current.port == int(live.split(":")[1])
        assert not (await connection.channel()).is_closed
    finally:
        await connection.close()


async def test_the_broker_with_one_node_is_faststreams_own() -> None:
    broker = rabbit_broker(AMQP_URL, logger=None)
    try:
        connected = await asyncio.wait_for(broker.connect(), timeout=20)
        assert node(connected) == AMQP_URL.split("@", 1)[1].split("/", 1)[0]
        assert await broker.ping(timeout=5)
    finally:
        await broker.stop()


async def _full_queue(connection: AbstractRobustConnection) -> tuple[str, aio_pika.abc.AbstractQueue]:
    """A quorum queue that refuses (nacks) publishes: it holds more than its limit of one message
    (a quorum queue takes the message that reaches its limit and refuses the ones after)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    channel = await connection.channel()
    queue = await channel.declare_queue(
        name,
        durable=True,
        arguments={"x-queue-type": "quorum", "x-max-length": 1, "x-overflow": "reject-publish"},
    )
    for _ in range(2):
        await channel.default_exchange.publish(aio_pika.Message(b"filler"), routing_key=name)
    return name, queue


async def test_a_refused_publish_is_retried_on_a_new_channel_until_confirmed(
    connection: AbstractRobustConnection,
) -> None:
    name, queue = await _full_queue(connection)
    publisher = AmqpPublisher(lambda: connection, retries=8, backoff=0.2)
    try:
        first_channel = await publisher._channel_ready()

        async def make_room() -> None:  # the broker stops refusing once the queue has room
            while publisher.refusals == 0:
                await asyncio.sleep(0.01)
            await queue.purge()

        room = asyncio.create_task(make_room())
        try:
            outcomes = await asyncio.wait_for(publisher.publish([_row(1, name)]), timeout=60)
        finally:
            room.cancel()
        assert outcomes == [None]
        assert publisher.refusals >= 1
        assert publisher._channel is not first_channel, "the retry ran on a new channel"
        got = await queue.get(timeout=5)
        assert (got.message_id, got.body) == ("m-1", b"body 1")
        await got.ack()
    finally:
        await queue.delete(if_unused=False, if_empty=False)


async def test_a_refusal_that_lasts_is_returned_after_the_bound(connection: AbstractRobustConnection) -> None:
    name, queue = await _full_queue(connection)
    publisher = AmqpPublisher(lambda: connection, retries=2, backoff=0.05)
    try:
        outcomes = await asyncio.wait_for(publisher.publish([_row(1, name), _row(2, name)]), timeout=30)
        assert all(isinstance(o, aio_pika.exceptions.DeliveryError) for o in outcomes)
        assert publisher.refusals == 2 * 2, "both rows retried twice, then handed back to the relay"
        assert publisher._channel is None, "the next publish starts on a new channel"
        assert await publisher.publish([]) == []
        assert (await queue.declare()).message_count == 2, "the two fillers, nothing else"
    finally:
        await queue.delete(if_unused=False, if_empty=False)
