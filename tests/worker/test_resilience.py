"""The worker under trouble, on the real RabbitMQ: redelivery, poison messages, a dropped
connection, health."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import urllib.error
import urllib.request

import pytest

from adapter.service.processor import Work

from .conftest import OFFICE, Adapter, Broker, example, wait_until

pytestmark = pytest.mark.broker


def processed(runtime) -> int:
    return runtime.processor.stats.items


async def _roster(adapter: Adapter, broker: Broker, runtime, *, status: bool = False) -> None:
    """The office's behandleroversikt (AppRec), and optionally the AR status (an event, no AppRec)."""
    adapter.clock.set(dt.datetime.fromisoformat("2023-12-20T16:00:00+01:00"))
    before = processed(runtime)
    await broker.publish(adapter.settings.inbound_queue, example("behandleroversikt.xml"))
    if status:
        await broker.publish(adapter.settings.inbound_queue, example("tjenestestatus-ar-komplett.xml"))
    await wait_until(lambda: processed(runtime) >= before + 1 + status, what="the behandleroversikt")


async def test_r12_message_redelivered_after_a_lost_ack_publishes_no_duplicate_event(
    adapter: Adapter, broker: Broker
) -> None:
    """The first run commits the message but dies before acknowledging it; the broker redelivers
    it to the next run, which recognises it (inbox) and publishes nothing new, but answers with
    the same AppRec (R15)."""
    portal = await broker.collect(adapter.settings.portal_queue)
    receipts = await broker.collect(f"{OFFICE}_async")
    first = await adapter.start()
    await _roster(adapter, broker, first, status=True)
    # the status's change and the booking list it makes (Bestill time on)
    await wait_until(lambda: len(portal.messages) == 2 and len(receipts.messages) == 1, what="first event")

    async def commit_but_never_ack(message, work: Work) -> None:
        assert first.pipeline is not None
        await first.pipeline.submit(work)  # committed (and its outbox published)…
        # …but the ack is lost: the delivery is never settled on this connection.

    first._settle = commit_but_never_ack  # type: ignore[method-assign]
    await broker.publish(adapter.settings.inbound_queue, example("tjenestestatus-epj.xml"))
    await wait_until(lambda: processed(first) >= 3, what="the status message to commit")
    # Bestill time off: a change, and the booking list without Astrid
    await wait_until(lambda: len(portal.messages) == 4 and len(receipts.messages) == 2, what="event and AppRec")
    await first.stop()  # the unacknowledged delivery goes back to the queue

    second = await adapter.start()
    await wait_until(lambda: processed(second) >= 1, what="the redelivery")
    await wait_until(lambda: len(receipts.messages) == 3, what="the repeated AppRec")
    assert second.processor is not None
    assert len(portal.messages) == 4, "the redelivered message must not publish a second event"
    assert receipts.bodies()[2] == receipts.bodies()[1], "the duplicate gets the same AppRec"
    epj = {"kind": "message", "id": "5b0d9c1e-6a43-4f8e-9a51-0c2f4d6e7a10"}
    assert [e["caused_by"] for e in portal.json()[2:]] == [epj, epj]


async def test_message_whose_handling_always_raises_is_dead_lettered_and_the_rest_are_processed(
    adapter: Adapter, broker: Broker
) -> None:
    dead = await broker.collect(adapter.settings.dead_letter_queue)
    receipts = await broker.collect(f"{OFFICE}_async")
    attempts: list[bytes] = []

    def poison(work: Work) -> None:
        if b"POISON" in work.body:
            attempts.append(work.body)
            raise RuntimeError("a bug that hits this message every time")

    runtime = await adapter.start(fault=poison)
    await broker.publish(adapter.settings.inbound_queue, b"<POISON/>", message_id="poison-1")
    await _roster(adapter, broker, runtime)  # behind the poison message: processed all the same
    await wait_until(lambda: len(dead.messages) == 1, what="the poison message in the dead-letter queue")
    assert dead.messages[0].body == b"<POISON/>"
    assert len(attempts) == adapter.settings.delivery_limit + 1  # the first delivery plus the redeliveries
    await wait_until(lambda: len(receipts.messages) == 1, what="the AppRec of the good message")
    assert dead.messages[0].headers.get("x-first-death-reason") == "delivery_limit"


def close_connections(name: str) -> int:
    """Close, from the broker's side, every connection whose client named itself `name`."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    closed = 0
    for line in listing.splitlines():
        if name in line:
            pid = line.split("\t", 1)[0]
            subprocess.run(
                ["rabbitmqctl", "close_connection", pid, "test: dropped by the broker"],
                capture_output=True,
                check=True,
                timeout=60,
            )
            closed += 1
    return closed


async def test_connection_closed_by_the_broker_reconnects_and_continues_without_loss(
    adapter: Adapter, broker: Broker
) -> None:
    portal = await broker.collect(adapter.settings.portal_queue)
    name = f"ddfl-{adapter.prefix}"
    adapter.settings = adapter.settings.model_copy(update={"amqp_url": adapter.settings.amqp_url + f"?name={name}"})
    runtime = await adapter.start()
    await _roster(adapter, broker, runtime)
    assert await asyncio.to_thread(close_connections, name) >= 1

    await broker.publish(adapter.settings.inbound_queue, example("tjenestestatus-ar-komplett.xml"))
    await wait_until(lambda: len(portal.messages) == 2, timeout=60, what="processing after the reconnect")
    assert [(e["type"], e["sequence"]) for e in portal.json()] == [
        ("availability.changed", 1),
        ("office.practitioners.changed", 1),
    ]
    await wait_until(lambda: _healthy(runtime), what="healthy again")


async def test_health_endpoint_fails_when_the_consumer_is_gone(adapter: Adapter, broker: Broker) -> None:
    adapter.settings = adapter.settings.model_copy(update={"http_port": 0})
    runtime = await adapter.start()
    assert runtime.health is not None
    url = f"http://127.0.0.1:{runtime.health.port}"

    def get(path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(url + path, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    status, body = await asyncio.to_thread(get, "/health")
    assert status == 200 and json.loads(body)["healthy"] is True
    await broker.publish(adapter.settings.inbound_queue, example("behandleroversikt.xml"))
    await wait_until(lambda: processed(runtime) >= 1, what="one message")
    status, body = await asyncio.to_thread(get, "/metrics")
    assert status == 200
    text = body.decode()
    assert "ddfl_outbox_backlog" in text and "ddfl_batch_size_count" in text
    assert 'ddfl_messages_total{kind="xml",outcome="OK"}' in text

    for subscriber in runtime.broker.subscribers:
        await subscriber.stop()
    status, body = await asyncio.to_thread(get, "/health")
    assert status == 503
    assert json.loads(body)["checks"]["consuming"] is False


async def test_receipt_to_a_sender_queue_that_does_not_exist_is_counted_and_the_adapter_carries_on(
    adapter: Adapter, broker: Broker
) -> None:
    """Contract: the `{sender}_async` queues belong to the senders; when one is missing the AppRec
    is logged and counted as undeliverable, and nothing else is held up."""
    await broker.channel.queue_delete(f"{OFFICE}_async")
    portal = await broker.collect(adapter.settings.portal_queue)
    runtime = await adapter.start()
    await _roster(adapter, broker, runtime, status=True)  # the roster asks for an AppRec: unroutable
    await wait_until(lambda: len(portal.messages) == 2, what="the event and list behind the unroutable AppRec")
    assert runtime.relay is not None
    await wait_until(lambda: runtime.relay.undeliverable == 1, what="the undeliverable AppRec to be counted")
    assert runtime.store is not None
    assert await runtime.store.outbox_backlog() == 0, "an undeliverable receipt must not block the outbox"


async def _healthy(runtime) -> bool:
    return all((await runtime.checks()).values())
