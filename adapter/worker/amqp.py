"""RabbitMQ specifics: the queues the contract names, and a confirming publisher for the relay."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from faststream.rabbit import QueueType, RabbitQueue

from ..config import Settings
from ..store.base import OutboxRow
from .relay import Unroutable


def inbound_queue(name: str, settings: Settings) -> RabbitQueue:
    """A quorum queue with a delivery limit that dead-letters at least once to the DL queue."""
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        durable=True,
        arguments={
            "x-delivery-limit": settings.delivery_limit,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": settings.dead_letter_queue,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",  # required by at-least-once dead-lettering
        },
    )


def plain_queue(name: str) -> RabbitQueue:
    return RabbitQueue(name, queue_type=QueueType.QUORUM, durable=True)


class AmqpPublisher:
    """Publishes outbox rows persistently on a confirming channel; every row's confirm is awaited
    concurrently (pipelined), and a returned (unroutable) message is reported as such."""

    def __init__(self, connection: Callable[[], AbstractRobustConnection | None], timeout: float = 30.0):
        self._connection = connection
        self._timeout = timeout
        self._channel: AbstractChannel | None = None

    async def _channel_ready(self) -> AbstractChannel:
        if self._channel is None or self._channel.is_closed:
            connection = self._connection()
            if connection is None or connection.is_closed:
                raise ConnectionError("no broker connection")
            self._channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        return self._channel

    async def publish(self, rows: list[OutboxRow]) -> list[BaseException | None]:
        # aiormq's channel under aio-pika's: the same frames without building an aio_pika.Message
        # per row, which costs more than the publish itself on this hot path.
        channel = await (await self._channel_ready()).get_underlay_channel()

        async def one(row: OutboxRow) -> BaseException | None:
            properties = aiormq.spec.Basic.Properties(
                message_id=row.message_id,
                content_type=row.content_type,
                headers=_amqp_headers(row.headers),
                delivery_mode=2,  # persistent
            )
            try:
                await channel.basic_publish(
                    row.body,
                    routing_key=row.routing_key,
                    properties=properties,
                    mandatory=True,
                    timeout=self._timeout,
                )
            except aio_pika.exceptions.DeliveryError as error:
                if isinstance(error.frame, aiormq.spec.Basic.Return):
                    return Unroutable(row.routing_key)
                return error
            except Exception as error:
                return error
            return None

        return list(await asyncio.gather(*(one(row) for row in rows)))


def _amqp_headers(headers: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in headers.items() if v is not None}
