"""Harness for tests against the real RabbitMQ on 127.0.0.1:5672.

Each test gets queues of its own (a unique prefix), a fresh SQLite store and a manual clock; the
sender offices' receipt queues (`{her}_async`, `{her}_error`) are shared names, so they are purged
before each test. `wait_until` polls a condition with a timeout; nothing sleeps a fixed time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from adapter.bootstrap import build, isolated_settings
from adapter.config import Settings
from adapter.topology import Topology
from adapter.worker.clock import ManualClock
from adapter.worker.runtime import Runtime

AMQP_URL = os.environ.get("DDFL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "examples"
OFFICE = 8141333


async def wait_until(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 20.0, what: str = "") -> None:
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(0.02)


@dataclass
class Collector:
    """Consumes a queue into a list (acking everything) for the test to look at."""

    name: str
    messages: list[aio_pika.abc.AbstractIncomingMessage] = field(default_factory=list)

    def bodies(self) -> list[bytes]:
        return [m.body for m in self.messages]

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(m.body) for m in self.messages]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """The portal events of one type (`availability.changed`, `office.practitioners.changed`, …)."""
        return [event for event in self.json() if event["type"] == kind]


class Broker:
    """The test's own connection: publishes inbound messages and collects outbound ones."""

    def __init__(self, connection: aio_pika.abc.AbstractRobustConnection, channel: aio_pika.abc.AbstractChannel):
        self.connection = connection
        self.channel = channel
        self.declared: list[str] = []

    async def publish(
        self,
        queue: str,
        body: bytes,
        *,
        headers: dict[str, Any] | None = None,
        message_id: str | None = None,
        content_type: str = "application/xml",
    ) -> None:
        await self.channel.default_exchange.publish(
            aio_pika.Message(
                body=body,
                headers=headers or {},
                message_id=message_id,
                content_type=content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=queue,
        )

    async def collect(self, queue: str, *, declare: bool = True, purge: bool = True) -> Collector:
        q = await self.channel.declare_queue(
            queue, durable=True, arguments={"x-queue-type": "quorum"}, passive=not declare
        )
        if purge:
            await q.purge()
        self.declared.append(queue)
        collector = Collector(queue)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            collector.messages.append(message)
            await message.ack()

        await q.consume(on_message)
        return collector


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    try:
        connection = await aio_pika.connect_robust(AMQP_URL, timeout=5)
    except Exception as error:  # pragma: no cover - the machine and CI run RabbitMQ
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ unreachable at {AMQP_URL}: {error}")
        pytest.skip(f"RabbitMQ unreachable at {AMQP_URL}: {error}")
    channel = await connection.channel()
    helper = Broker(connection, channel)
    yield helper
    cleanup = await connection.channel()
    for name in helper.declared:
        if name.startswith("t-"):
            await cleanup.queue_delete(name)
    await connection.close()


@dataclass
class Adapter:
    """One configured adapter (not necessarily running) and the queues around it."""

    settings: Settings
    clock: ManualClock
    prefix: str
    runtimes: list[Runtime] = field(default_factory=list)

    def runtime(self, **kwargs: Any) -> Runtime:
        runtime = build(self.settings, clock=self.clock, **kwargs)
        self.runtimes.append(runtime)
        return runtime

    async def start(self, **kwargs: Any) -> Runtime:
        runtime = self.runtime(**kwargs)
        await runtime.start()
        return runtime


def settings_for(prefix: str, tmp_path: Path, **overrides: Any) -> Settings:
    return isolated_settings(
        prefix,
        **{
            "amqp_url": AMQP_URL,
            "store_url": f"sqlite:///{tmp_path / 'store.sqlite3'}",
            "delivery_limit": 3,
            "graceful_timeout": 10,
            "clock_interval": 1.0,
            **overrides,
        },
    )


@pytest.fixture
async def adapter(broker: Broker, tmp_path: Path) -> AsyncIterator[Adapter]:
    prefix = f"t-{uuid.uuid4().hex[:10]}"
    clock = ManualClock(dt.datetime(2023, 12, 20, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    setup = Adapter(settings_for(prefix, tmp_path), clock, prefix)
    yield setup
    for runtime in setup.runtimes:
        if runtime.pipeline is not None and runtime.pipeline.alive:
            await runtime.stop()
    broker.declared.extend(Topology.isolated(prefix).queues())


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()
