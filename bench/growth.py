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
import urllib.request
import uuid
from pathlib import Path

import aio_pika

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from throughput import AMQP_URL, Bench, inbound_args, rss_kib, until  # noqa: E402

from adapter.domain.model import Process  # noqa: E402
from adapter.messages.builders import behandleroversikt, new_id, tjenestestatus  # noqa: E402
from adapter.replay.generate import plan_offices  # noqa: E402
from adapter.topology import Topology  # noqa: E402

GPS_PER_OFFICE = 5
CHUNK = 500
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


def traffic(seed: int, gps: int, reports: int) -> tuple[list[bytes], list[bytes]]:
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
    return rosters, statuses


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system): what a message costs the worker, whatever
    else the machine's cores are doing."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def committed(port: int, pid: int, series: list[tuple[float, int, float]], stop: asyncio.Event) -> None:
    """Polls the worker's /metrics: (when, status messages processed and committed so far, its CPU time)."""

    def read() -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        return int(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("ddfl_messages_total{") and 'kind="xml"' in line
            )
        )

    while not stop.is_set():
        try:
            count = await asyncio.to_thread(read)
            series.append((time.perf_counter(), count, cpu_seconds(pid)))
        except OSError:
            pass
        await asyncio.sleep(0.02)


def reached(series: list[tuple[float, int, float]], count: int, cpu: bool = False) -> float:
    """When (or after how much CPU time) the processed count first reached `count` (the first poll
    that saw it)."""
    return next(c if cpu else t for t, n, c in series if n >= count)


def rate(times: list[float], first: int, last: int) -> float:
    """AppRecs per second between the arrival of AppRec number `first` and that of `last` (from 0):
    timed from an arrival, so the worker's start-up (connecting, loading the schemas) is left out."""
    return (last - first) / (times[last] - times[first])


async def measure(bench: Bench, gps: int, reports: int, window: int, backlog: int) -> None:
    rosters, statuses = traffic(10, gps, reports)
    n = len(statuses)
    window = min(window, n // 2)
    print(
        f"growth: {gps} GPs x {reports} hourly status syncs (Ack J) = {n} messages, DDFL_BATCH_SIZE=1, "
        f"real worker (ddfl-adapter run, SQLite), rate over the first and last {window}; "
        + (f"fed with at most {backlog} awaiting their AppRec" if backlog else "all queued before the worker starts")
    )
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    replies = Topology.isolated(prefix, own_replies=True).replies_queue
    env = {**bench.adapter_env(prefix), "DDFL_BATCH_SIZE": "1", "DDFL_REPLIES_QUEUE": str(replies)}
    log = bench.tmp / "growth.log"
    await bench.declare(env["DDFL_INBOUND_QUEUE"], inbound_args(env["DDFL_DEAD_LETTER_QUEUE"]))
    await bench.declare(env["DDFL_PORTAL_QUEUE"])
    await bench.declare(env["DDFL_REPLIES_QUEUE"])  # every AppRec goes out through it
    receipts = Arrivals()
    channel = await bench.channel()
    await channel.set_qos(prefetch_count=2000)
    await (await channel.get_queue(env["DDFL_REPLIES_QUEUE"])).consume(receipts, no_ack=True)
    await bench.count([env["DDFL_PORTAL_QUEUE"]])  # drained, so the portal queue does not grow

    process, _ = await bench.start_adapter(env, log)
    await bench.fill(env["DDFL_INBOUND_QUEUE"], rosters)
    await until(lambda: receipts.n >= len(rosters), 120, "the rosters' AppRecs")
    await bench.stop(process)

    before = receipts.n
    if backlog:  # fed as it goes: at most `backlog` messages waiting for their AppRec
        process, t0 = await bench.start_adapter(env, log)
    else:  # everything waiting in the queue before the worker starts
        t_fill = time.perf_counter()
        await bench.fill(env["DDFL_INBOUND_QUEUE"], statuses)
        print(f"  published {n} messages in {time.perf_counter() - t_fill:.1f} s; starting the worker")
        process, t0 = await bench.start_adapter(env, log)
    series: list[tuple[float, int, float]] = []
    stop = asyncio.Event()
    poller = asyncio.create_task(committed(int(env["DDFL_HTTP_PORT"]), process.pid, series, stop))
    for offset in range(0, n if backlog else 0, CHUNK):
        await until(lambda sent=offset: sent - (receipts.n - before) <= backlog - CHUNK, 600, "the backlog to shrink")
        await bench.fill(env["DDFL_INBOUND_QUEUE"], statuses[offset : offset + CHUNK])
    await until(lambda: receipts.n - before >= n, 3600, "the adapter's AppRecs")
    memory = rss_kib(process.pid)
    stop.set()
    await poller
    await bench.stop(process)
    times = receipts.times[before:]
    start_rate = rate(times, 0, window)
    end_rate = rate(times, n - 1 - window, n - 1)
    seconds = [round(times[i] - times[0], 2) for i in range(0, n, max(1, n // 10))]
    print(f"  AppRec k*n/10 arrived after (s): {seconds}")
    print(f"  AppRecs received, first {window:6d} : {start_rate:8.0f} /s")
    print(f"  AppRecs received, last  {window:6d} : {end_rate:8.0f} /s")
    print(f"  ratio last / first                : {end_rate / start_rate:8.2f}   (target >= 0.9)")
    if series and series[-1][1] >= n:
        marks = [round(reached(series, k) - t0, 2) for k in range(1, n + 1, max(1, n // 10))]
        print(f"  committed k*n/10 after the worker's start (s): {marks}")
        first = window / (reached(series, window + 1) - reached(series, 1))
        last = window / (reached(series, n) - reached(series, n - window))
        print(f"  committed (/metrics), first {window:6d} : {first:8.0f} /s")
        print(f"  committed (/metrics), last  {window:6d} : {last:8.0f} /s")
        print(f"  ratio last / first                    : {last / first:8.2f}")
        cpu_first = (reached(series, window + 1, True) - reached(series, 1, True)) / window
        cpu_last = (reached(series, n, True) - reached(series, n - window, True)) / window
        print(f"  worker CPU per message, first {window:6d} : {cpu_first * 1e3:8.2f} ms")
        print(f"  worker CPU per message, last  {window:6d} : {cpu_last * 1e3:8.2f} ms")
        print(f"  ratio first / last (as a rate)        : {cpu_first / cpu_last:8.2f}")
    print(
        f"  all {n} in {times[-1] - t0:.1f} s from the worker's start ({n / (times[-1] - t0):.0f}/s);"
        f" first AppRec {times[0] - t0:.1f} s after it; worker RSS {memory / 1024:.0f} MiB"
    )
    store = bench.tmp / f"{prefix}.sqlite3"
    sizes = sum(p.stat().st_size for p in bench.tmp.glob(f"{prefix}.sqlite3*"))
    print(f"  store {store.name}: {sizes / 2**20:.1f} MiB with its WAL")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gps", type=int, default=20)
    parser.add_argument("--reports", type=int, default=1500, help="hourly status syncs per GP")
    parser.add_argument(
        "--backlog",
        type=int,
        default=2000,
        help="messages published ahead of their AppRec (0: queue them all before the worker starts)",
    )
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
            await measure(bench, args.gps, args.reports, args.window, args.backlog)
        except BaseException:
            log = Path(tmp) / "growth.log"
            if log.exists():  # the worker's own account of what went wrong
                print(log.read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            await bench.cleanup()
            await connection.close()


if __name__ == "__main__":
    asyncio.run(main())
