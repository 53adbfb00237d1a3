"""The worker on the real RabbitMQ: the contract's scenario end to end, and the clock (R11)."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from lxml import etree

from .conftest import EXAMPLES, OFFICE, Adapter, Broker, example, wait_until

pytestmark = pytest.mark.broker

APPREC = "{http://www.kith.no/xmlstds/apprec/2004-11-21}"


def apprec_status(body: bytes) -> str:
    return etree.fromstring(body).find(f"{APPREC}Status").get("V")


def processed(runtime) -> int:
    return runtime.processor.stats.items


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_backend(request: pytest.FixtureRequest, adapter: Adapter) -> str:
    """The same worker on each store backend: only DDFL_STORE_URL changes."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_schema_url")
        adapter.settings = adapter.settings.model_copy(update={"store_url": url})
    return request.param


async def test_contract_scenario_publishes_expected_events_and_apprecs(
    adapter: Adapter, broker: Broker, store_backend: str
) -> None:
    """scenario.yaml's messages on the real queues → the worked example's events (R5, R10, R12)
    and an AppRec with status 1 for each message that asked for one (R15), on either store."""
    portal = await broker.collect(adapter.settings.portal_queue)
    receipts = await broker.collect(f"{OFFICE}_async")
    runtime = await adapter.start()
    scenario = yaml.safe_load((EXAMPLES / "scenario.yaml").read_text())
    for step in scenario["steps"]:
        adapter.clock.set(step["at"])
        before = processed(runtime)
        if "xml" in step:
            await broker.publish(
                adapter.settings.inbound_queue,
                example(step["xml"]),
                headers={k: str(v) for k, v in (step.get("headers") or {}).items()},
            )
        elif "absence" in step:
            await broker.publish(
                adapter.settings.absence_queue, example(step["absence"]), content_type="application/json"
            )
        else:
            continue
        await wait_until(lambda before=before: processed(runtime) > before, what=f"step at {step['at']}")

    def changed() -> list[dict]:
        return [e for e in portal.json() if e["type"] == "availability.changed"]

    def of_type(kind: str) -> list[dict]:
        return [e for e in portal.json() if e["type"] == kind]

    # everything asserted below has arrived before anything is asserted
    await wait_until(
        lambda: (
            len(changed()) == 4
            and len(of_type("availability.warning")) == 2
            and len(of_type("dialogue.closed")) == 1
            and len(receipts.messages) == 3
        ),
        what="4 changes, 2 warnings, 1 closure and 3 AppRecs",
    )
    events = changed()
    assert [e["sequence"] for e in events] == [1, 2, 3, 4]
    assert [e["event_id"] for e in events] == [f"{OFFICE}-9144900-{n}" for n in (1, 2, 3, 4)]
    assert events[2]["effective_at"] == "2023-12-22T00:00:00+01:00"
    assert events[2]["services"]["TIMEBESTILLING"] == {
        "status": "TEMPORARILY_CLOSED",
        "reopens_on": "2024-01-02",
        "booking_mode": None,
        "info_visible": True,
    }
    assert events[2]["services"]["E_KONSULTASJON"]["accepts_replies"] is False
    assert events[3]["effective_at"] == "2024-01-02T00:00:00+01:00"
    assert events[3]["services"]["TIMEBESTILLING"]["status"] == "NOT_OFFERED"
    assert events[3]["services"]["KONTAKT_LEGEKONTORET"]["status"] == "AVAILABLE"
    warnings = [e for e in portal.json() if e["type"] == "availability.warning"]
    assert [(w["code"], w["service"]) for w in warnings] == [
        ("SERVICE_STILL_OFF_AFTER_ABSENCE", "TIMEBESTILLING"),
        ("SERVICE_STILL_OFF_AFTER_ABSENCE", "E_KONSULTASJON"),
    ]
    closed = [e for e in portal.json() if e["type"] == "dialogue.closed"]
    assert [c["conversation_ref"] for c in closed] == ["0a8c6e4d-7b2f-4e1a-b9c3-5d8e7f6a4b21"]
    assert [apprec_status(b) for b in receipts.bodies()] == ["1", "1", "1"]
    for message in portal.messages:  # the contract: persistent JSON, message id = event_id
        assert message.delivery_mode == 2
        assert message.content_type == "application/json"
        assert message.message_id == __import__("json").loads(message.body)["event_id"]
    await runtime.stop()  # before the store's own teardown (a PostgreSQL schema is dropped then)


async def _prepare_absence(adapter: Adapter, broker: Broker, runtime) -> None:
    """Roster and AR status at 12-20, then an absence from 12-22 registered at 15:05."""
    for name, at in (
        ("behandleroversikt.xml", "2023-12-20T08:00:00+01:00"),
        ("tjenestestatus-ar-komplett.xml", "2023-12-20T14:00:00+01:00"),
    ):
        adapter.clock.set(dt.datetime.fromisoformat(at))
        before = processed(runtime)
        await broker.publish(adapter.settings.inbound_queue, example(name))
        await wait_until(lambda before=before: processed(runtime) > before, what=name)
    adapter.clock.set(dt.datetime.fromisoformat("2023-12-20T15:05:00+01:00"))
    before = processed(runtime)
    await broker.publish(
        adapter.settings.absence_queue, example("absence-registered.json"), content_type="application/json"
    )
    await wait_until(lambda before=before: processed(runtime) > before, what="absence")


async def test_r11_absence_starting_at_midnight_is_published_when_the_clock_passes_midnight(
    adapter: Adapter, broker: Broker
) -> None:
    portal = await broker.collect(adapter.settings.portal_queue)
    runtime = await adapter.start()
    await _prepare_absence(adapter, broker, runtime)
    # the AR status's change, and the booking list it makes (Bestill time on: Astrid is bookable)
    await wait_until(lambda: len(portal.messages) == 2, what="the AR status event")

    adapter.clock.set(dt.datetime.fromisoformat("2023-12-21T23:59:59+01:00"))
    adapter.clock.set(dt.datetime.fromisoformat("2023-12-22T00:00:00+01:00"))
    await wait_until(lambda: len(portal.messages) == 4, what="the midnight event and list")
    event = portal.of_type("availability.changed")[1]
    assert event["effective_at"] == "2023-12-22T00:00:00+01:00"
    assert event["caused_by"] == {"kind": "clock", "id": None}
    assert event["services"]["TIMEBESTILLING"]["status"] == "TEMPORARILY_CLOSED"
    listed = portal.of_type("office.practitioners.changed")
    assert [(e["sequence"], e["effective_at"], e["practitioners"]) for e in listed[1:]] == [
        (2, "2023-12-22T00:00:00+01:00", [])
    ], "temporarily closed: off the booking list at the same midnight"


async def test_r11_worker_stopped_over_midnight_publishes_on_start(adapter: Adapter, broker: Broker) -> None:
    portal = await broker.collect(adapter.settings.portal_queue)
    runtime = await adapter.start()
    await _prepare_absence(adapter, broker, runtime)
    await wait_until(lambda: len(portal.messages) == 2, what="the AR status event and the booking list")
    await runtime.stop()

    adapter.clock.set(dt.datetime.fromisoformat("2024-01-05T09:00:00+01:00"))  # slept through both ends
    await adapter.start()
    await wait_until(lambda: len(portal.messages) == 6, what="the two changes slept through, and their lists")
    events = portal.of_type("availability.changed")
    assert [e["effective_at"] for e in events[1:]] == ["2023-12-22T00:00:00+01:00", "2024-01-02T00:00:00+01:00"]
    assert [e["sequence"] for e in events] == [1, 2, 3]
    listed = portal.of_type("office.practitioners.changed")
    assert [(e["sequence"], e["effective_at"], len(e["practitioners"])) for e in listed[1:]] == [
        (2, "2023-12-22T00:00:00+01:00", 0),
        (3, "2024-01-02T00:00:00+01:00", 1),
    ], "each list at its own midnight, in time order (R11)"
