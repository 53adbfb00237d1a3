"""Issue 10's "Done when": does a pair's long status history slow the real worker down?

    python bench/growth.py [--gps 20] [--reports 1500] [--window 2000]

The real worker (`ddfl-adapter run`, its own process, queues of its own, a SQLite store in a temp
directory) with one message per transaction (DDFL_BATCH_SIZE=1, what a quiet hour looks like).
`--gps` GPs each send an hourly status sync (Ack J) `--reports` times: GenDates one hour apart,
ending an hour before now; most syncs repeat the GP's status (a complete list, as journal systems
resend it), one in ten switches one process. Each office's behandleroversikt is taken in first;
then every status message is published in GenDate order before the worker starts, and the
arrival of each AppRec is timed. Printed: the rate (AppRecs per second) over the first
`--window` messages and over the last `--window`, and their ratio (target: at least 0.9). With
state that grows with history, the last window would be several times slower than the first.
Nothing is asserted: the script prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from throughput import AMQP_URL, INBOUND_ARGS, Bench, rss_kib, until  # noqa: E402

from adapter.domain.model import Process  # noqa: E402
from adapter.messages.builders import behandleroversikt, new_id, tjenestestatus  # noqa: E402
from adapter.replay.generate import plan_offices  # noqa: E402

GPS_PER_OFFICE = 5
TOGGLE_SHARE = 0.1


class Arrivals:
    """Times every message that arrives on some queues (auto-ack)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.times.append(time.perf_counter())

    @property
    def n(self) -> int:
        return len(self.times)


def traffic(seed: int, gps: int, reports: int) -> tuple[list[bytes], list[bytes], set[int]]:
    """The offices' behandleroversikt, and every hourly sync in GenDate order."""
    rng = random.Random(seed)
    offices = max(1, -(-gps // GPS_PER_OFFICE))
    plans = plan_offices(rng, offices, GPS_PER_OFFICE)
    people = [(plan.office, gp) for plan in plans for gp in plan.gps][:gps]
    last = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    first = last - dt.timedelta(hours=reports - 1)
    rosters = [
        behandleroversikt(
            office=plan.office,
            entries=plan.roster(),
            gen_date=first - dt.timedelta(hours=1),
            msg_id=new_id(rng),
        )
        for plan in plans
    ]
    status = {gp.person.hpr: set(gp.processes) or {Process.EKONTAKT} for _, gp in people}
    statuses = []
    for hour in range(reports):
        for index, (office, gp) in enumerate(people):
            on = status[gp.person.hpr]
            if hour and rng.random() < TOGGLE_SHARE:
                on ^= {rng.choice(list(Process))}
            statuses.append(
                tjenestestatus(
                    office=office,
                    gp=gp.person,
                    gen_date=first + dt.timedelta(hours=hour, seconds=index),
                    msg_id=new_id(rng),
                    statuses={process: process in on for process in Process},
                    complete=True,
                    source="AR" if hour == 0 else "EPJ",
                )
            )
    return rosters, statuses, {plan.office.her_id for plan in plans}


def rate(times: list[float], start: float, first: int, last: int) -> float:
    """AppRecs per second from the arrival of number `first` (or `start`) to that of `last`."""
    t0 = start if first == 0 else times[first - 1]
    return (last - first) / (times[last - 1] - t0)


async def measure(bench: Bench, gps: int, reports: int, window: int) -> None:
    rosters, statuses, offices = traffic(10, gps, reports)
    n = len(statuses)
    window = min(window, n // 2)
    print(
        f"growth: {gps} GPs x {reports} hourly status syncs (Ack J) = {n} messages, DDFL_BATCH_SIZE=1, "
        f"real worker (ddfl-adapter run, SQLite), rate over the first and last {window}"
    )
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    env = {**bench.adapter_env(prefix), "DDFL_BATCH_SIZE": "1"}
    log = bench.tmp / "growth.log"
    await bench.declare(
        env["DDFL_INBOUND_QUEUE"], {**INBOUND_ARGS, "x-dead-letter-routing-key": env["DDFL_DEAD_LETTER_QUEUE"]}
    )
    await bench.declare(env["DDFL_PORTAL_QUEUE"])
    for office in offices:
        await bench.declare(f"{office}_async")
    receipts = Arrivals()
    channel = await bench.channel()
    await channel.set_qos(prefetch_count=2000)
    for office in offices:
        await (await channel.get_queue(f"{office}_async")).consume(receipts, no_ack=True)
    await bench.count([env["DDFL_PORTAL_QUEUE"]])  # drained, so the portal queue does not grow

    process, _ = await bench.start_adapter(env, log)
    await bench.fill(env["DDFL_INBOUND_QUEUE"], rosters)
    await until(lambda: receipts.n >= len(rosters), 120, "the rosters' AppRecs")
    await bench.stop(process)

    t_fill = time.perf_counter()
    await bench.fill(env["DDFL_INBOUND_QUEUE"], statuses)
    print(f"  published {n} messages in {time.perf_counter() - t_fill:.1f} s; starting the worker")
    before = receipts.n
    process, t0 = await bench.start_adapter(env, log)
    await until(lambda: receipts.n - before >= n, 3600, "the adapter's AppRecs")
    memory = rss_kib(process.pid)
    await bench.stop(process)
    times = receipts.times[before:]
    start_rate = rate(times, t0, 0, window)
    end_rate = rate(times, t0, n - window, n)
    print(f"  first {window:6d} messages : {start_rate:8.0f} AppRecs/s")
    print(f"  last  {window:6d} messages : {end_rate:8.0f} AppRecs/s")
    print(f"  ratio last / first      : {end_rate / start_rate:8.2f}   (target >= 0.9)")
    print(f"  all {n} in {times[-1] - t0:.1f} s ({n / (times[-1] - t0):.0f}/s); worker RSS {memory / 1024:.0f} MiB")
    store = bench.tmp / f"{prefix}.sqlite3"
    sizes = sum(p.stat().st_size for p in bench.tmp.glob(f"{prefix}.sqlite3*"))
    print(f"  store {store.name}: {sizes / 2**20:.1f} MiB with its WAL")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gps", type=int, default=20)
    parser.add_argument("--reports", type=int, default=1500, help="hourly status syncs per GP")
    parser.add_argument("--window", type=int, default=2000, help="messages in each measured window")
    args = parser.parse_args()
    print(
        f"ddfl-adapter growth bench, {dt.datetime.now().isoformat(timespec='minutes')}, {os.cpu_count()} cores, "
        f"broker {AMQP_URL.rsplit('@', 1)[-1]}"
    )
    connection = await aio_pika.connect_robust(AMQP_URL)
    with tempfile.TemporaryDirectory(prefix="ddfl-growth-") as tmp:
        bench = Bench(connection, Path(tmp))
        try:
            await measure(bench, args.gps, args.reports, args.window)
        finally:
            await bench.cleanup()
            await connection.close()


if __name__ == "__main__":
    asyncio.run(main())
