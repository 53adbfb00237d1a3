"""Every delivery is settled, whatever its bytes and AMQP properties, on the real RabbitMQ; the
metrics say what they mean."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import aio_pika
import pytest
from prometheus_client import REGISTRY

from .conftest import OFFICE, Adapter, Broker, example, wait_until

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
    await wait_until(lambda: len(portal.messages) == 1, timeout=30, what="the good messages behind the flood")
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
        "async": metric("ddfl_events_published_total", type="async"),
        "lost": metric("ddfl_replies_total", kind="apprec", outcome="undeliverable"),
        "delivered": metric("ddfl_replies_total", kind="apprec", outcome="delivered"),
        "undeliverable": metric("ddfl_undeliverable_total"),
    }
    runtime = await adapter.start()
    adapter.clock.set(dt.datetime.fromisoformat("2023-12-20T16:00:00+01:00"))
    await broker.publish(adapter.settings.inbound_queue, example("behandleroversikt.xml"))  # an AppRec
    await broker.publish(adapter.settings.inbound_queue, example("tjenestestatus-ar-komplett.xml"))  # an event
    await wait_until(lambda: len(portal.messages) == 1, what="the event")
    assert runtime.relay is not None
    await wait_until(lambda: runtime.relay.undeliverable == 1, what="the undeliverable AppRec")
    assert metric("ddfl_events_published_total", type="availability.changed") == before["events"] + 1
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
