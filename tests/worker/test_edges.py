"""Every delivery is settled, whatever its bytes and AMQP properties, on the real RabbitMQ; the
metrics say what they mean."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request

import aio_pika
import pytest
from prometheus_client import REGISTRY

from .conftest import AMQP_URL, OFFICE, Adapter, Broker, example, wait_until
from .test_resilience import close_connections

pytestmark = pytest.mark.broker


def processed(runtime) -> int:
    return runtime.processor.stats.items


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _ready(broker: Broker, queue: str) -> int:
    """Messages ready in `queue` (unacknowledged ones come back as ready when their channel closes)."""
    channel = await broker.connection.channel()
    try:
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0
    finally:
        await channel.close()


async def test_absence_declared_as_json_whose_body_is_not_json_is_refused_and_settled(
    adapter: Adapter, broker: Broker
) -> None:
    """The bug: FastStream decoded `application/json` bodies before the handler; one it could not
    decode was never acknowledged. Now the adapter reads the bytes itself: R14's invalid path."""
    invalid = await broker.collect(adapter.settings.absence_invalid_queue)
    runtime = await adapter.start()
    await broker.publish(adapter.settings.absence_queue, b"{not json", content_type="application/json")
    await wait_until(lambda: len(invalid.messages) == 1, what="the refusal on the invalid path")
    assert invalid.messages[0].headers["reason"] == "invalid_json"
    assert invalid.messages[0].body == b"{not json"
    await wait_until(lambda: processed(runtime) == 1, what="the refusal to be counted")
    await runtime.stop()
    assert await _ready(broker, adapter.settings.absence_queue) == 0, "the delivery was acknowledged"


def _hostile_deliveries(settings) -> list[tuple[str, aio_pika.Message]]:
    """Bodies no framework default can decode and AMQP properties of every kind and size."""
    strange_headers = {
        "bytes": bytearray(b"\xff\xfe\x00"),
        "nested": {"a": [1, 2.5, None, {"b": True}], "c": decimal.Decimal("1.25")},
        "when": dt.datetime(2023, 12, 20, 8, 0),
        "fromHerId": [OFFICE],  # the right header with the wrong type
        "huge": "x" * 50_000,
    }
    xml, absence = settings.inbound_queue, settings.absence_queue
    return [
        (absence, aio_pika.Message(b"{not json", content_type="application/json")),
        (absence, aio_pika.Message(b"\xff\xfe not utf-8", content_type="text/plain")),
        (absence, aio_pika.Message(b'{"type": "absence.registered"}', content_type="application/json; charset=x")),
        (absence, aio_pika.Message(b"[]", content_type="application/json", content_encoding="gzip")),
        (absence, aio_pika.Message(b"", content_type="application/json")),
        (xml, aio_pika.Message(b"<a>", content_type="application/json")),
        (xml, aio_pika.Message(b"\xff\xfe\x00<", content_type="text/plain", headers={"fromHerId": OFFICE})),
        (xml, aio_pika.Message(example("tjenestestatus-epj.xml"), content_encoding="gzip", headers=strange_headers)),
        (xml, aio_pika.Message(b"<?xml version='1.0'?><x/>", message_id="m" * 255, headers={"fromHerId": "abc"})),
        (xml, aio_pika.Message(b"not xml at all", message_id=None, content_type="application/xml")),
    ]


async def test_a_flood_of_undecodable_deliveries_larger_than_the_prefetch_never_stops_good_messages(
    adapter: Adapter, broker: Broker
) -> None:
    prefetch = 4
    adapter.settings = adapter.settings.model_copy(update={"prefetch": prefetch})
    portal = await broker.collect(adapter.settings.portal_queue)
    runtime = await adapter.start()
    hostile = _hostile_deliveries(adapter.settings) * 3
    assert len(hostile) > 5 * prefetch
    for queue, message in hostile:
        await broker.channel.default_exchange.publish(message, routing_key=queue)
    # Behind the flood: a roster and a status, which must be processed as usual.
    adapter.clock.set(dt.datetime.fromisoformat("2023-12-20T16:00:00+01:00"))
    await broker.publish(adapter.settings.inbound_queue, example("behandleroversikt.xml"))
    await broker.publish(adapter.settings.inbound_queue, example("tjenestestatus-ar-komplett.xml"))
    # the status's change and the booking list it makes
    await wait_until(lambda: len(portal.messages) == 2, timeout=30, what="the good messages behind the flood")
    await wait_until(lambda: processed(runtime) == len(hostile) + 2, timeout=30, what="every delivery handled")
    await runtime.stop()
    for queue in (adapter.settings.inbound_queue, adapter.settings.absence_queue):
        assert await _ready(broker, queue) == 0, f"a delivery on {queue} was left unsettled"


async def test_metrics_count_events_by_type_and_receipts_by_outcome_undeliverable_apart(
    adapter: Adapter, broker: Broker
) -> None:
    """The bug: receipts were counted as events of type `async`, and an undeliverable receipt as
    published."""
    await broker.channel.queue_delete(f"{OFFICE}_async")  # the office's receipt queue is missing
    portal = await broker.collect(adapter.settings.portal_queue)
    before = {
        "events": metric("ddfl_events_published_total", type="availability.changed"),
        "lists": metric("ddfl_events_published_total", type="office.practitioners.changed"),
        "async": metric("ddfl_events_published_total", type="async"),
        "lost": metric("ddfl_replies_total", kind="apprec", outcome="undeliverable"),
        "delivered": metric("ddfl_replies_total", kind="apprec", outcome="delivered"),
        "undeliverable": metric("ddfl_undeliverable_total"),
    }
    runtime = await adapter.start()
    adapter.clock.set(dt.datetime.fromisoformat("2023-12-20T16:00:00+01:00"))
    await broker.publish(adapter.settings.inbound_queue, example("behandleroversikt.xml"))  # an AppRec
    await broker.publish(adapter.settings.inbound_queue, example("tjenestestatus-ar-komplett.xml"))  # an event
    await wait_until(lambda: len(portal.messages) == 2, what="the event and the booking list")
    assert runtime.relay is not None
    await wait_until(lambda: runtime.relay.undeliverable == 1, what="the undeliverable AppRec")
    # The portal's consumer may see the events before their confirms reach the relay, which
    # counts them once confirmed: wait for the relay to have marked both sent.
    await wait_until(lambda: runtime.relay.published_to(adapter.settings.portal_queue) == 2, what="both confirmed")
    assert metric("ddfl_events_published_total", type="availability.changed") == before["events"] + 1
    assert metric("ddfl_events_published_total", type="office.practitioners.changed") == before["lists"] + 1
    assert metric("ddfl_events_published_total", type="async") == before["async"], "a receipt is not an event"
    assert metric("ddfl_replies_total", kind="apprec", outcome="undeliverable") == before["lost"] + 1
    assert metric("ddfl_replies_total", kind="apprec", outcome="delivered") == before["delivered"]
    assert metric("ddfl_undeliverable_total") == before["undeliverable"] + 1
    # And a receipt that arrives is counted as delivered.
    receipts = await broker.collect(f"{OFFICE}_async")
    await broker.publish(adapter.settings.inbound_queue, example("tjenestestatus-epj.xml"))
    await wait_until(lambda: len(receipts.messages) == 1, what="the AppRec to the existing queue")
    await wait_until(
        lambda: metric("ddfl_replies_total", kind="apprec", outcome="delivered") == before["delivered"] + 1,
        what="the delivered AppRec to be counted",
    )
    assert json.loads(portal.messages[0].body)["type"] == "availability.changed"


class Proxy:
    """A TCP proxy the test controls, in front of RabbitMQ: `block()` refuses new connections
    (so a reconnect fails) until `unblock()`; established connections are left alone."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def block(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        self._server = None

    async def unblock(self) -> None:
        await self.start()

    async def close(self) -> None:
        if self._server is not None:
            await self.block()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        for task in (
            asyncio.create_task(pipe(reader, upstream_writer)),
            asyncio.create_task(pipe(upstream_reader, writer)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_health_answers_503_while_the_broker_connection_is_down_and_200_after_the_reconnect(
    adapter: Adapter, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """The bug: aio-pika's robust connection says it is open while it reconnects, so /health said
    200 for as long as the broker was away. Cut from the broker's side, reconnect blocked."""
    proxy = Proxy(urllib.parse.urlsplit(AMQP_URL).port or 5672)
    await proxy.start()
    name = f"ddfl-{adapter.prefix}"
    url = urllib.parse.urlsplit(AMQP_URL)._replace(netloc=f"guest:guest@127.0.0.1:{proxy.port}").geturl()
    adapter.settings = adapter.settings.model_copy(update={"amqp_url": f"{url}?name={name}", "http_port": 0})
    portal = await broker.collect(adapter.settings.portal_queue)
    try:
        runtime = await adapter.start()
        assert runtime.health is not None
        health = f"http://127.0.0.1:{runtime.health.port}/health"
        status, body = await asyncio.to_thread(_get, health)
        assert status == 200 and body["checks"]["broker_connected"] is True and body["checks"]["store"] is True

        caplog.set_level(logging.WARNING, logger="ddfl.worker")
        await proxy.block()  # the reconnect will be refused…
        assert await asyncio.to_thread(close_connections, name) == 1  # …after the broker drops us
        cut = time.monotonic()
        await wait_until(lambda: _answers(health, 503), timeout=10, what="/health to answer 503")
        assert time.monotonic() - cut < 5, "503 within seconds"
        status, body = await asyncio.to_thread(_get, health)
        assert body["checks"]["broker_connected"] is False and body["failing"] == ["broker_connected"]
        assert [r for r in caplog.records if getattr(r, "event", "") == "DDFL-BROKER-DISCONNECTED"]
        await wait_until(lambda: _answers(health, 503), timeout=3, what="still 503 while the reconnect is blocked")

        await proxy.unblock()
        await wait_until(lambda: _answers(health, 200), timeout=30, what="/health to answer 200 after the reconnect")
        assert [r for r in caplog.records if getattr(r, "event", "") == "DDFL-BROKER-RECONNECTED"], "logged"
        # And it works again: a message in, an event out.
        await broker.publish(adapter.settings.inbound_queue, example("behandleroversikt.xml"))
        await broker.publish(adapter.settings.inbound_queue, example("tjenestestatus-ar-komplett.xml"))
        await wait_until(lambda: len(portal.messages) == 2, timeout=30, what="processing after the reconnect")
        await runtime.stop()  # through the proxy, before it goes
    finally:
        await proxy.close()


async def _answers(url: str, status: int) -> bool:
    return (await asyncio.to_thread(_get, url))[0] == status


class FullDisk:
    """A transaction whose writes fail as on a full disk."""

    def __init__(self, tx: object) -> None:
        self._tx = tx

    def __getattr__(self, name: str) -> object:
        return getattr(self._tx, name)

    async def put_meta(self, key: str, value: str) -> None:
        raise OSError("disk full")


async def test_health_answers_503_when_the_store_cannot_commit(adapter: Adapter, broker: Broker) -> None:
    adapter.settings = adapter.settings.model_copy(update={"http_port": 0})
    runtime = await adapter.start()
    assert runtime.health is not None and runtime.store is not None
    health = f"http://127.0.0.1:{runtime.health.port}/health"
    assert (await asyncio.to_thread(_get, health))[0] == 200

    original = runtime.store.transaction

    def transaction():  # the transaction's put_meta fails like a full disk
        context = original()

        class Failing:
            async def __aenter__(self):
                return FullDisk(await context.__aenter__())

            async def __aexit__(self, *exc):
                return await context.__aexit__(*exc)

        return Failing()

    runtime.store.transaction = transaction  # type: ignore[method-assign]
    try:
        status, body = await asyncio.to_thread(_get, health)
    finally:
        del runtime.store.transaction  # the store's own again, for the shutdown
    assert status == 503 and body["failing"] == ["store"]
    assert (await asyncio.to_thread(_get, health))[0] == 200
