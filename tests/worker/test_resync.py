"""Resync over AMQP on the real RabbitMQ: a portal that lost its queue asks for what is true now and
rebuilds from `availability.snapshot` and `office.practitioners.snapshot` events without a gap
(issue 12); the live stream goes on.

The contract's scenario (R5, R10, R11, R12) and a second office are sent to the worker; then the
portal's queue is deleted and declared again, a resync is requested, and each snapshot must equal
the last `availability.changed` of its pair — sequence included (R12: the higher sequence wins) —
and each office's list snapshot its last `office.practitioners.changed`."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import yaml

from adapter.domain.state import NOTHING_OFFERED
from adapter.worker.runtime import Runtime
from tests.support.synthetic import BOOKING_LISTS, roster_xml, status_xml

from .conftest import EXAMPLES, OFFICE, Adapter, Broker, Collector, example, wait_until
from .test_broker_flow import processed, store_backend  # noqa: F401  (store_backend: a fixture)

pytestmark = pytest.mark.broker

OTHER = 7001234
OTHER_GPS = ("1000001", "1000002")
GP = "9144900"
#: The fields a snapshot shares with availability.changed (the API's entry fields).
PAIR_FIELDS = ("office_her_id", "practitioner_hpr", "sequence", "services", "panel_info_visible", "substitute")


async def _send(adapter: Adapter, broker: Broker, runtime: Runtime, queue: str, body: bytes, **kwargs: Any) -> None:
    """Publish one message and wait until the worker has committed it."""
    before = processed(runtime)
    await broker.publish(queue, body, **kwargs)
    await wait_until(lambda: processed(runtime) > before, what=f"a message on {queue}")


async def _history(adapter: Adapter, broker: Broker, runtime: Runtime) -> None:
    """The contract's scenario (the clock included: the absence's midnights) and a second office."""
    for step in yaml.safe_load((EXAMPLES / "scenario.yaml").read_text())["steps"]:
        adapter.clock.set(step["at"])
        if "xml" in step:
            headers = {k: str(v) for k, v in (step.get("headers") or {}).items()}
            await _send(adapter, broker, runtime, adapter.settings.inbound_queue, example(step["xml"]), headers=headers)
        elif "absence" in step:
            body = example(step["absence"])
            await _send(adapter, broker, runtime, adapter.settings.absence_queue, body, content_type="application/json")
    now = adapter.clock.now()
    for body in (
        roster_xml(OTHER, OTHER_GPS, msg_id="other-roster", gen_date=now),
        status_xml(
            OTHER,
            OTHER_GPS[0],
            {"Dialog_Innbygger_Ekontakt": True, "Dialog_Innbygger_Timereservasjon": True},  # bookable: listed
            msg_id="other-status",
            gen_date=now,
        ),
    ):
        await _send(adapter, broker, runtime, adapter.settings.inbound_queue, body)


def _changed(collector: Collector) -> list[dict[str, Any]]:
    return [e for e in collector.json() if e["type"] == "availability.changed"]


def _last_lists(collector: Collector) -> dict[int, tuple[int, list[Any]]]:
    """What the portal had been told of each office's booking list: its last list and sequence."""
    return {
        e["office_her_id"]: (e["sequence"], e["practitioners"]) for e in collector.json() if e["type"] == BOOKING_LISTS
    }


def _last_told(events: list[dict[str, Any]]) -> dict[tuple[int, str], dict[str, Any]]:
    """What the portal had been told of each pair: its last change."""
    return {(e["office_her_id"], e["practitioner_hpr"]): {f: e[f] for f in PAIR_FIELDS} for e in events}


def _request(request_id: str, office: int | None) -> bytes:
    return json.dumps({"type": "resync.requested", "request_id": request_id, "office_her_id": office}).encode()


async def _resync(adapter: Adapter, broker: Broker, portal: Collector, request_id: str, office: int | None) -> int:
    """Request a resync; wait for its resync.completed; return the position of that event."""
    await broker.publish(adapter.settings.resync_queue, _request(request_id, office), content_type="application/json")

    def completed() -> int | None:
        return next(
            (
                i
                for i, e in enumerate(portal.json())
                if e["type"] == "resync.completed" and e["request_id"] == request_id
            ),
            None,
        )

    await wait_until(lambda: completed() is not None, what=f"resync.completed of {request_id}")
    position = completed()
    assert position is not None
    return position


async def _drop_and_declare_again(broker: Broker, name: str) -> Collector:
    """The portal lost its queue (and everything in it) and consumes a fresh one."""
    await broker.channel.queue_delete(name)
    return await broker.collect(name)


@pytest.mark.usefixtures("store_backend")
async def test_a_portal_that_lost_its_queue_rebuilds_every_pair_from_a_resync_and_the_stream_goes_on(
    adapter: Adapter, broker: Broker
) -> None:
    """R12 across a resync: every stored pair once, equal to its last change (sequence included),
    then resync.completed; the next change has sequence + 1 and comes after it. On either store."""
    first = await broker.collect(adapter.settings.portal_queue)
    runtime = await adapter.start()
    await _history(adapter, broker, runtime)
    await wait_until(lambda: len(_changed(first)) == 5, what="the scenario's 4 changes and the other office's 1")
    told = _last_told(_changed(first))
    assert told[(OFFICE, GP)]["sequence"] == 4
    await wait_until(lambda: OTHER in _last_lists(first), what="the other office's booking list")
    lists = _last_lists(first)
    assert lists[OFFICE] == (2, []) and [p["hpr"] for p in lists[OTHER][1]] == [OTHER_GPS[0]]

    portal = await _drop_and_declare_again(broker, adapter.settings.portal_queue)
    end = await _resync(adapter, broker, portal, "rebuild-1", None)
    events = portal.json()
    snapshots = [e for e in events[:end] if e["type"] == "availability.snapshot"]
    listed = [e for e in events[:end] if e["type"] == "office.practitioners.snapshot"]
    assert events[:end] == snapshots + listed, "nothing else was due or sent; the pairs, then the lists"
    keys = [(s["office_her_id"], s["practitioner_hpr"]) for s in snapshots]
    assert keys == sorted(keys) and len(set(keys)) == len(keys), "each pair once, in key order"
    assert events[end]["pairs"] == len(snapshots) and events[end]["office_her_id"] is None
    # each office's list once, in HER-id order, equal to the last office.practitioners.changed
    assert [e["office_her_id"] for e in listed] == sorted(lists) and events[end]["offices"] == len(lists)
    for snapshot in listed:
        assert (snapshot["sequence"], snapshot["practitioners"]) == lists[snapshot["office_her_id"]]
        assert snapshot["event_id"] == f"{snapshot['office_her_id']}-practitioners-{snapshot['sequence']}-s-rebuild-1"
    assert set(told) <= set(keys)
    for snapshot in snapshots:
        key = (snapshot["office_her_id"], snapshot["practitioner_hpr"])
        expected = told.get(key) or {
            "office_her_id": key[0],
            "practitioner_hpr": key[1],
            "sequence": 0,  # listed, nothing published yet: the baseline
            **NOTHING_OFFERED.to_json(),
        }
        assert {f: snapshot[f] for f in PAIR_FIELDS} == expected, key
        assert snapshot["event_id"] == f"{key[0]}-{key[1]}-{snapshot['sequence']}-s-rebuild-1"
        assert snapshot["request_id"] == "rebuild-1"
    for message in portal.messages[: end + 1]:  # as every portal event: persistent, message id = event_id
        assert message.delivery_mode == 2 and message.message_id == json.loads(message.body)["event_id"]

    # the live stream goes on: the GP's Timereservasjon is switched on again
    adapter.clock.advance(dt.timedelta(hours=8))
    on = status_xml(
        OFFICE, GP, {"Dialog_Innbygger_Timereservasjon": True}, msg_id="after", gen_date=adapter.clock.now()
    )
    await _send(adapter, broker, runtime, adapter.settings.inbound_queue, on)
    await wait_until(lambda: len(portal.messages) > end + 1, what="the change after the resync")
    after = portal.json()[end + 1]
    assert after["type"] == "availability.changed" and (after["office_her_id"], after["practitioner_hpr"]) == (
        OFFICE,
        GP,
    )
    assert after["sequence"] == told[(OFFICE, GP)]["sequence"] + 1

    # one office only: its pairs and its list, nothing of the other office
    seen = len(portal.messages)
    only = await _resync(adapter, broker, portal, "other-only", OTHER)
    sent = portal.json()[seen:only]
    assert {e["office_her_id"] for e in sent} == {OTHER}
    (other_list,) = [e for e in sent if e["type"] == "office.practitioners.snapshot"]
    assert (other_list["sequence"], other_list["practitioners"]) == lists[OTHER]
    assert (portal.json()[only]["pairs"], portal.json()[only]["offices"]) == (1, 1)  # its one stored pair
    await runtime.stop()  # before the store's own teardown (a PostgreSQL schema is dropped then)


async def test_a_resync_of_one_office_sends_only_its_pairs_and_a_request_id_seen_before_changes_nothing(
    adapter: Adapter, broker: Broker
) -> None:
    portal = await broker.collect(adapter.settings.portal_queue)
    runtime = await adapter.start()
    now = adapter.clock.now()
    await _send(
        adapter, broker, runtime, adapter.settings.inbound_queue, roster_xml(OTHER, OTHER_GPS, msg_id="r", gen_date=now)
    )
    status = status_xml(OTHER, OTHER_GPS[1], {"Dialog_Innbygger_Ekontakt": True}, msg_id="s", gen_date=now)
    await _send(adapter, broker, runtime, adapter.settings.inbound_queue, status)
    await _send(adapter, broker, runtime, adapter.settings.inbound_queue, example("behandleroversikt.xml"))
    await wait_until(lambda: len(_changed(portal)) == 1, what="the other office's change")
    seen = len(portal.messages)

    end = await _resync(adapter, broker, portal, "office-1", OTHER)
    snapshots = portal.json()[seen:end]
    # the pairs the adapter holds state of: the GP listed but never told about is the baseline
    assert [(s["type"], s["office_her_id"], s.get("practitioner_hpr"), s["sequence"]) for s in snapshots] == [
        ("availability.snapshot", OTHER, OTHER_GPS[1], 1),
        ("office.practitioners.snapshot", OTHER, None, 0),  # only that office's list: nobody bookable yet
    ]
    assert snapshots[1]["practitioners"] == []
    assert portal.json()[end] | {"completed_at": None} == {
        "type": "resync.completed",
        "event_id": "resync-office-1",
        "request_id": "office-1",
        "office_her_id": OTHER,
        "pairs": 1,
        "offices": 1,
        "completed_at": None,
    }

    # The same request id again: committed, and nothing published. A change sent after it is the
    # next portal message (the outbox is published in order, so snapshots would have come first).
    before = processed(runtime)
    await broker.publish(adapter.settings.resync_queue, _request("office-1", None), content_type="application/json")
    await wait_until(lambda: processed(runtime) > before, what="the duplicate request")
    off = status_xml(OTHER, OTHER_GPS[1], {"Dialog_Innbygger_Ekontakt": False}, msg_id="s2", gen_date=now)
    await _send(adapter, broker, runtime, adapter.settings.inbound_queue, off)
    await wait_until(lambda: len(portal.messages) > end + 1, what="the change after the duplicate")
    assert len(portal.messages) == end + 2
    assert portal.json()[end + 1]["type"] == "availability.changed"


async def test_a_malformed_request_goes_to_the_invalid_queue_with_its_reason_and_sends_nothing(
    adapter: Adapter, broker: Broker
) -> None:
    portal = await broker.collect(adapter.settings.portal_queue)
    invalid = await broker.collect(adapter.settings.resync_invalid_queue)
    runtime = await adapter.start()
    for body in (b'{"type": "resync.requested", "office_her_id": null}', b"not json", _request("bad id", None)):
        await _send(adapter, broker, runtime, adapter.settings.resync_queue, body, content_type="application/json")
    await wait_until(lambda: len(invalid.messages) == 3, what="three refused requests")
    assert [m.headers["reason"] for m in invalid.messages] == ["missing_field", "invalid_json", "invalid_field"]
    assert invalid.messages[0].body == b'{"type": "resync.requested", "office_her_id": null}'
    assert "request_id" in str(invalid.messages[2].headers["description"])
    # Nothing went to the portal: a change sent afterwards is its first message (the outbox is
    # published in order, so anything the refusals had produced would have come first).
    now = adapter.clock.now()
    await _send(
        adapter, broker, runtime, adapter.settings.inbound_queue, roster_xml(OTHER, OTHER_GPS, msg_id="r", gen_date=now)
    )
    status = status_xml(OTHER, OTHER_GPS[0], {"Dialog_Innbygger_Ekontakt": True}, msg_id="s", gen_date=now)
    await _send(adapter, broker, runtime, adapter.settings.inbound_queue, status)
    await wait_until(lambda: len(portal.messages) >= 1, what="the change after the refusals")
    assert [e["type"] for e in portal.json()] == ["availability.changed"]
