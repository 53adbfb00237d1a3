"""`ddfl-adapter run`'s HTTP side on the real RabbitMQ: the read API (/v1), /health and /metrics on
one port (DDFL_HTTP_PORT), the API reading the worker's store through a connection of its own."""

from __future__ import annotations

import httpx
import pytest

from adapter.store import open_store

from .conftest import OFFICE, Adapter, Broker, wait_until
from .test_broker_flow import _prepare_absence

pytestmark = pytest.mark.broker

GP = "9144900"


async def test_the_worker_answers_reads_health_and_metrics_on_one_port(adapter: Adapter, broker: Broker) -> None:
    """What the worker published is what /v1 answers (R12: same availability, same sequence)."""
    adapter.settings = adapter.settings.model_copy(update={"http_port": 0})
    portal = await broker.collect(adapter.settings.portal_queue)
    runtime = await adapter.start()
    await _prepare_absence(adapter, broker, runtime)
    await wait_until(lambda: len(portal.messages) == 2, what="the AR status event and the booking list")
    event = portal.of_type("availability.changed")[0]

    assert runtime.health is not None
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.health.port}", timeout=10) as http:
        answer = await http.get(f"/v1/offices/{OFFICE}/practitioners/{GP}/availability")
        assert answer.status_code == 200
        fields = ("sequence", "services", "panel_info_visible", "substitute")
        assert {f: answer.json()[f] for f in fields} == {f: event[f] for f in fields}
        health = await http.get("/health")
        assert health.status_code == 200 and health.json()["failing"] == []
        assert {"broker_connected", "consuming", "pipeline", "relay", "clock", "store"} <= set(health.json()["checks"])
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200 and 'ddfl_messages_total{kind="xml",outcome="OK"}' in metrics.text
        assert (await http.get("/v1/openapi.json")).status_code == 200
    await runtime.stop()


async def test_a_worker_given_a_store_in_memory_serves_health_and_says_why_it_cannot_read(
    adapter: Adapter, broker: Broker
) -> None:
    """A SQLite store in memory cannot be read by a second connection: /v1 answers 503 saying so
    (a problem document), /health and /metrics are served all the same."""
    adapter.settings = adapter.settings.model_copy(update={"http_port": 0})
    store = await open_store("sqlite:///:memory:")
    try:
        runtime = await adapter.start(store=store)
        assert runtime.health is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.health.port}", timeout=10) as http:
            answer = await http.get(f"/v1/offices/{OFFICE}/availability")
            assert answer.status_code == 503 and answer.headers["content-type"] == "application/problem+json"
            assert "ddfl-adapter api" in answer.json()["detail"]
            assert (await http.get("/health")).status_code == 200
        await runtime.stop()
    finally:
        await store.close()
