"""Throughput with 1, 2 and 3 `ddfl-adapter run` processes on one PostgreSQL store and one RabbitMQ
(issue 9). Each run gets fresh queues and a fresh schema: the offices' behandleroversikter are
processed first, the workers stopped, COUNT status reports queued, and the same number of workers
started again; the rate is measured from the first report committed to the last (start-up excluded),
by polling the store's inbox, with the workers' CPU per message over the same stretch.

    python bench/replicas.py [COUNT] [WORKERS ...]     # defaults: 3000, 1 2 3
    DDFL_BENCH_POSTGRES_URL / DDFL_BENCH_AMQP_URL override the local servers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aio_pika
import psycopg

from adapter.bootstrap import default_settings
from adapter.domain.model import PROCESSES
from adapter.store import open_store
from adapter.topology import Topology
from adapter.worker.amqp import inbound_arguments
from tests.support.synthetic import roster_xml, status_xml

ROOT = Path(__file__).resolve().parents[1]
POSTGRES = os.environ.get("DDFL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
AMQP = os.environ.get("DDFL_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
GPS = 100


def _env(prefix: str, store_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDFL_")}
    env.update(Topology.isolated(prefix).environment())
    env.update(
        {"DDFL_AMQP_URL": AMQP, "DDFL_STORE_URL": store_url, "DDFL_HTTP_PORT": "none", "DDFL_LOG_LEVEL": "WARNING"}
    )
    return env


def _spawn(env: dict[str, str], n: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen([sys.executable, "-m", "adapter.cli", "run"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        for _ in range(n)
    ]


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(60)


async def _inbox(store_url: str) -> int:
    store = await open_store(store_url)
    try:
        return (await store.retained_rows()).inbox
    finally:
        await store.close()


def _cpu(workers: list[subprocess.Popen[bytes]]) -> float:
    """User + system CPU seconds the workers have used so far (what a loaded machine changes least)."""
    total = 0.0
    for worker in workers:
        fields = Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def _wait_inbox(
    store_url: str, at_least: int, timeout: float = 600, workers: list[subprocess.Popen[bytes]] | None = None
) -> list[tuple[float, int, float]]:
    """Poll the inbox until it holds `at_least` rows; the (time, rows, workers' CPU) samples seen."""
    store = await open_store(store_url)
    samples: list[tuple[float, int, float]] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            rows = (await store.retained_rows()).inbox
            samples.append((time.monotonic(), rows, _cpu(workers or [])))
            if rows >= at_least:
                return samples
            if time.monotonic() > deadline:
                raise TimeoutError(f"{rows} of {at_least} messages after {timeout} s")
            await asyncio.sleep(0.1)
    finally:
        await store.close()


async def run(n: int, count: int) -> float:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    schema = f"ddfl_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    store_url = f"{POSTGRES}{'&' if '?' in POSTGRES else '?'}options=-csearch_path%3D{schema}"
    env = _env(prefix, store_url)
    inbound = env["DDFL_INBOUND_QUEUE"]
    offices = [8400000 + o for o in range(max(1, count // GPS))]
    rng = random.Random(n)
    gen = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    connection = await aio_pika.connect_robust(AMQP)
    try:
        channel = await connection.channel()
        await channel.declare_queue(  # as the workers declare it, so it can be filled before they run
            inbound,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                **inbound_arguments(default_settings(dead_letter_queue=env["DDFL_DEAD_LETTER_QUEUE"])),
            },
        )
        workers = _spawn(env, 1)  # takes the rosters
        try:
            for office in offices:
                hprs = [str(1000000 + (office % 1000) * GPS + g) for g in range(GPS)]
                body = roster_xml(office, hprs, msg_id=f"r-{prefix}-{office}", gen_date=gen)
                await channel.default_exchange.publish(aio_pika.Message(body), routing_key=inbound)
            await _wait_inbox(store_url, len(offices), timeout=60)
        finally:
            _stop(workers)
        for i in range(count):
            office = offices[i % len(offices)]
            hpr = str(1000000 + (office % 1000) * GPS + (i // len(offices)) % GPS)
            on = {p.value: rng.random() < 0.7 for p in PROCESSES}
            body = status_xml(office, hpr, on, msg_id=f"s-{prefix}-{i}", gen_date=gen)
            await channel.default_exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=inbound
            )
        workers = _spawn(env, n)
        try:
            samples = await _wait_inbox(store_url, len(offices) + count, workers=workers)
        finally:
            _stop(workers)
        first_sample = next((s for s in samples if s[1] > len(offices)), samples[-1])
        (t0, first, cpu0), (t1, last, cpu1) = first_sample, samples[-1]
        rate = (last - first) / (t1 - t0) if t1 > t0 else float("nan")
        cpu = (cpu1 - cpu0) / (last - first) * 1e6 if last > first else float("nan")
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"{n} worker(s): {count} messages, {rate:,.0f} msg/s, {cpu:,.0f} µs CPU per message over all "
            f"workers, load average {load}",
            flush=True,
        )
        cleanup = await connection.channel()
        for queue in Topology.isolated(prefix).queues():
            await cleanup.queue_delete(queue)
        return rate
    finally:
        await connection.close()
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


async def main(count: int, ns: list[int]) -> None:
    rates = {n: await run(n, count) for n in ns}
    base = rates.get(1)
    if base:
        print("  ".join(f"{n}: {rate / base:.2f}x" for n, rate in rates.items()))


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(args[0] if args else 3000, args[1:] or [1, 2, 3]))
