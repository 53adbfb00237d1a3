"""The real `ddfl-adapter run` process, killed and stopped in the middle of a stream of 2,000
messages on the real RabbitMQ: nothing lost, nothing published twice as two changes."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from adapter.bootstrap import MemoryPublisher, default_settings, processor
from adapter.domain.model import PROCESSES
from adapter.service.processor import Work
from adapter.store import open_store
from adapter.store.base import OutboxRow
from adapter.topology import Topology
from adapter.worker.amqp import inbound_arguments
from adapter.worker.clock import SystemClock
from tests.support.synthetic import BOOKING_LISTS as LISTS
from tests.support.synthetic import last_booking_lists, roster_xml, status_xml

from .conftest import AMQP_URL, Broker, wait_until

pytestmark = pytest.mark.broker

OFFICES, GPS = 20, 100  # 2,000 pairs, one status message each


def _stream(seed: int) -> list[bytes]:
    """20 behandleroversikter, then one complete status report per GP (2,000 messages)."""
    rng = random.Random(seed)
    gen_date = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    rosters, statuses = [], []
    for o in range(OFFICES):
        office = 8200000 + o
        hprs = [str(1000000 + o * 1000 + g) for g in range(GPS)]
        rosters.append(roster_xml(office, hprs, msg_id=f"roster-{seed}-{o}", gen_date=gen_date))
        for hpr in hprs:
            on = {p.value: rng.random() < 0.7 for p in PROCESSES}
            on[PROCESSES[-1].value] = True  # at least one service on: every pair gets an event
            statuses.append(status_xml(office, hpr, on, msg_id=f"status-{seed}-{hpr}", gen_date=gen_date))
    return rosters + statuses


async def _uninterrupted(messages: list[bytes]) -> dict[str, dict]:
    """The events of the same messages processed in one uninterrupted run (in memory)."""
    events: dict[str, dict] = {}
    store = await open_store("sqlite:///:memory:")

    def sink(row: OutboxRow) -> None:
        event = __import__("json").loads(row.body)
        events[event["event_id"]] = event

    from adapter.worker.relay import Relay

    service = processor(store, default_settings(portal_queue="portal"), SystemClock())
    for body in messages:
        await service.process([Work(kind="xml", body=body)])
    await Relay(store, MemoryPublisher(sink), service.now).flush()
    await store.close()
    return events


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "adapter.cli", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "ab"),
        cwd=Path(__file__).resolve().parents[2],
    )


def _without_time(event: dict) -> dict:
    return {k: v for k, v in event.items() if k != "effective_at"}


@pytest.fixture
def worker_env(tmp_path: Path, broker: Broker) -> dict[str, str]:
    prefix = f"t-{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDFL_")}
    env.update(Topology.isolated(prefix).environment())
    env.update(
        {
            "DDFL_AMQP_URL": AMQP_URL,
            "DDFL_STORE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
            "DDFL_HTTP_PORT": str(_free_port()),
            "DDFL_LOG_FORMAT": "json",
            "DDFL_BATCH_SIZE": "64",
        }
    )
    broker.declared.extend(env[k] for k in env if k.endswith("_QUEUE") and k.startswith("DDFL_"))
    return env


async def _declare_inbound(broker: Broker, env: dict[str, str]) -> None:
    """Declare the inbound queue as the worker will, so the test can fill it before the worker runs."""
    await broker.channel.declare_queue(
        env["DDFL_INBOUND_QUEUE"],
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            **inbound_arguments(default_settings(dead_letter_queue=env["DDFL_DEAD_LETTER_QUEUE"])),
        },
    )


@pytest.mark.parametrize("kill_points", [(300, 1100, 1700), (50, 1950)])
async def test_sigkill_mid_stream_then_restart_loses_nothing_and_renames_nothing(
    worker_env: dict[str, str], broker: Broker, tmp_path: Path, kill_points: tuple[int, ...]
) -> None:
    messages = _stream(seed=len(kill_points))
    expected = await _uninterrupted(messages)
    # One change per pair; and each GP whose Bestill time is on changes the office's booking list
    # once, so how many lists there are does not depend on the order the messages are taken in.
    assert len([e for e in expected.values() if e["type"] != LISTS]) == OFFICES * GPS
    assert len([e for e in expected.values() if e["type"] == LISTS]) > OFFICES

    portal = await broker.collect(worker_env["DDFL_PORTAL_QUEUE"])
    await _declare_inbound(broker, worker_env)
    for body in messages:
        await broker.publish(worker_env["DDFL_INBOUND_QUEUE"], body)

    def distinct() -> int:
        return len({m.message_id for m in portal.messages})

    log = tmp_path / "worker.log"
    for point in kill_points:
        worker = _spawn(worker_env, log)
        await wait_until(
            lambda point=point, worker=worker: distinct() >= point or worker.poll() is not None,
            timeout=90,
            what=f"{point} events before the kill",
        )
        assert worker.poll() is None, log.read_text()[-3000:]
        worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(worker.wait, 30)
    logged = log.stat().st_size
    worker = _spawn(worker_env, log)
    try:
        await wait_until(lambda: distinct() >= len(expected), timeout=120, what="every expected event")
        await wait_until(lambda: '"DDFL-STARTED"' in log.read_text()[logged:], what="the restart")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 60) == 0, log.read_text()[-3000:]

    seen: dict[str, dict] = {}
    for event in portal.json():
        if event["event_id"] in seen:  # published again after a crash: the very same change
            assert event == seen[event["event_id"]]
        seen[event["event_id"]] = event
    assert set(seen) == set(expected), "no event missing, none under a new id"
    assert {k: _without_time(v) for k, v in seen.items() if v["type"] != LISTS} == {
        k: _without_time(v) for k, v in expected.items() if v["type"] != LISTS
    }
    # A list in between depends on which GPs came first (redeliveries may reorder them); the last does not.
    assert last_booking_lists(seen.values()) == last_booking_lists(expected.values())
    for message in portal.messages:
        assert message.message_id == __import__("json").loads(message.body)["event_id"]


async def test_sigterm_stops_gracefully_and_a_restart_finishes_the_stream(
    worker_env: dict[str, str], broker: Broker, tmp_path: Path
) -> None:
    messages = _stream(seed=7)
    portal = await broker.collect(worker_env["DDFL_PORTAL_QUEUE"])
    await _declare_inbound(broker, worker_env)
    for body in messages:
        await broker.publish(worker_env["DDFL_INBOUND_QUEUE"], body)
    log = tmp_path / "worker.log"
    env = {**worker_env, "DDFL_PREFETCH": "20", "DDFL_BATCH_SIZE": "10"}  # little in flight at the stop

    def changes() -> list[str]:
        """The message ids of the availability changes received (booking lists apart)."""
        return [m.message_id for m in portal.messages if m.headers.get("type") == "availability.changed"]

    worker = _spawn(env, log)
    await wait_until(lambda: len(changes()) >= 100 or worker.poll() is not None, timeout=90, what="100 events")
    worker.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, 60) == 0, log.read_text()[-3000:]
    stopped_at = len(changes())
    assert '"DDFL-STOPPED"' in log.read_text()

    assert stopped_at < OFFICES * GPS, "the stop must leave part of the stream for the restart"
    worker = _spawn(worker_env, log)
    try:
        await wait_until(lambda: len(set(changes())) >= OFFICES * GPS, timeout=120, what="the rest of the stream")
        await wait_until(lambda: log.read_text().count('"DDFL-STARTED"') == 2, what="the second start")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 60) == 0
    ids = changes()
    assert len(ids) == len(set(ids)) == OFFICES * GPS, "a graceful stop leaves nothing to publish twice"
    lists = [m.message_id for m in portal.messages if m.headers.get("type") == LISTS]
    assert len(lists) == len(set(lists)), "nor any booking list"
