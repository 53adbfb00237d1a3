"""Acknowledging a batch with one `multiple` ack, on the real RabbitMQ: never a delivery that is not
committed yet, and a crash between the commit and the ack still ends in a redelivery that the inbox
recognises (R12, R15)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import aio_pika
import pytest

from adapter.domain.model import PROCESSES
from adapter.worker.amqp import Acknowledgements, _Tags
from tests.support.synthetic import roster_xml, status_xml

from .conftest import OFFICE, Adapter, Broker, wait_until

pytestmark = pytest.mark.broker


async def test_a_multiple_ack_covers_only_committed_deliveries_and_the_rest_come_again(broker: Broker) -> None:
    queue_name = f"t-acks-{uuid.uuid4().hex[:10]}"
    queue = await broker.channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
    broker.declared.append(queue_name)
    for i in range(1, 6):
        await broker.publish(queue_name, f"m{i}".encode())
    channel = await broker.connection.channel()
    await channel.set_qos(prefetch_count=10)
    received: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def keep(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        received.append(message)

    await (await channel.get_queue(queue_name)).consume(keep)
    await wait_until(lambda: len(received) == 5, what="five deliveries")
    assert [m.body for m in received] == [b"m1", b"m2", b"m3", b"m4", b"m5"]

    frames: list[tuple[int, bool]] = []
    underlay = received[0].channel
    basic_ack = underlay.basic_ack

    async def spy(delivery_tag: int, multiple: bool = False, **kwargs: Any) -> None:
        frames.append((delivery_tag, multiple))
        await basic_ack(delivery_tag=delivery_tag, multiple=multiple, **kwargs)

    underlay.basic_ack = spy  # type: ignore[method-assign]
    acks = Acknowledgements()
    m1, m2, m3, _m4, m5 = received
    await asyncio.gather(acks.ack(m1), acks.ack(m2), acks.ack(m3))  # one batch committed together
    assert frames == [(3, True)], "one ack for the batch"
    await acks.ack(m5)  # committed while m4 is still on its way: alone, never `multiple`
    assert frames[1:] == [(5, False)]
    await channel.close()  # m4 was never settled: it comes again, and only it

    received.clear()
    other = await broker.connection.channel()
    await (await other.get_queue(queue_name)).consume(keep, no_ack=True)
    await wait_until(lambda: len(received) >= 1, what="the unacknowledged delivery")
    assert (await queue.declare()).message_count == 0
    assert [m.body for m in received] == [b"m4"]


class LostAcks(Acknowledgements):
    """The process dies after the batch committed, before its ack is written."""

    async def _round(self, channel: Any, tags: _Tags) -> None:
        tags.round = None


async def test_r12_a_batch_committed_but_never_acknowledged_is_redelivered_and_recognised(
    adapter: Adapter, broker: Broker
) -> None:
    """R12, R15: every delivery of the batch comes again; the inbox answers each with the same
    AppRec and publishes no event twice."""
    portal = await broker.collect(adapter.settings.portal_queue)
    receipts = await broker.collect(f"{OFFICE}_async")
    adapter.clock.set(dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC))
    at = dt.datetime(2024, 3, 1, 11, 0, tzinfo=dt.UTC)
    hprs = ["9144900", "7310428", "5522113"]
    first = await adapter.start()
    first._acks = LostAcks()
    await broker.publish(
        adapter.settings.inbound_queue, roster_xml(OFFICE, hprs, msg_id=str(uuid.uuid4()), gen_date=at, ack="J")
    )
    for i, hpr in enumerate(hprs):
        statuses = {p.value: True for p in PROCESSES}
        body = status_xml(
            OFFICE, hpr, statuses, msg_id=str(uuid.uuid4()), gen_date=at + dt.timedelta(minutes=i + 1), ack="J"
        )
        await broker.publish(adapter.settings.inbound_queue, body)
    assert first.processor is not None
    await wait_until(lambda: first.processor.stats.items >= 4, what="the four messages to commit")
    await wait_until(lambda: len(receipts.messages) == 4, what="their AppRecs")
    assert first.store is not None and first.relay is not None
    # Every event marked sent before the stop: a row published but not yet marked sent would go out
    # again under its own message id (the relay's at-least-once, which the portal deduplicates),
    # and that repeat is not what this test is about.
    store = first.store

    async def drained() -> bool:
        return await store.outbox_backlog() == 0

    await wait_until(drained, what="the outbox to drain")
    events = first.relay.published_to(adapter.settings.portal_queue)
    assert events >= 3, "three pairs' events at least"
    await wait_until(lambda: len(portal.messages) == events, what="the events")
    await first.stop()  # nothing was acknowledged: all four go back to the queue

    second = await adapter.start()
    assert second.processor is not None
    await wait_until(lambda: second.processor.stats.items >= 4, what="the redeliveries")
    await wait_until(lambda: len(receipts.messages) == 8, what="the repeated AppRecs")
    await second.stop()
    assert len(portal.messages) == events, "a redelivered message must not publish an event again"
    assert sorted(receipts.bodies()[4:]) == sorted(receipts.bodies()[:4]), "each duplicate gets its AppRec again"
