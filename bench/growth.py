"""Issue 10's "Done when": does a pair's long status history slow the real worker down?

    python bench/growth.py [--gps 20] [--reports 1500] [--round 500] [--rounds 5]

The real worker (`ddfl-adapter run`, its own process, queues of its own, a SQLite store in a temp
directory) with one message per transaction (DDFL_BATCH_SIZE=1, what a quiet hour looks like),
fed hourly status syncs (Ack J, a complete list; most repeat the GP's status, one in ten switches
one process).

The start and the end of a long history are measured in one run, interleaved, so that a machine
whose load changes over minutes slows both alike:
1. every office's behandleroversikt; then `--gps` "old" GPs send `--reports` hourly syncs each,
   their history (taken in with DDFL_BATCH_SIZE=256 to save time; what a pair keeps does not depend
   on how messages were batched);
2. the worker restarts with DDFL_BATCH_SIZE=1, and rounds alternate A B A B ...: a round A is
   `--round` syncs from `--gps` GPs never heard of before (a fresh set each time: the start of a
   history), a round B is `--round` syncs from the old GPs, continuing their hours (the end of a
   history of `--reports`+ reports each), after one more fresh round that is not measured (the
   worker warming up). A round is published when the previous one's AppRecs are
   all back. Each round gives the AppRec rate (from its first AppRec to its last) and the worker
   process's CPU time per message (user + system from /proc, from publishing the round to its last
   AppRec): CPU per message is what a larger state would drive up, and is the least sensitive to
   what else the machine's cores are doing.
Printed: every round, the medians of A and of B, and end/start (B/A) as ratios of rates (target:
at least 0.9). Nothing is asserted: the script prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aio_pika

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from throughput import AMQP_URL, Bench, inbound_args, rss_kib, until  # noqa: E402

from adapter.domain.model import Process  # noqa: E402
from adapter.messages.builders import Office, Person, behandleroversikt, new_id, tjenestestatus  # noqa: E402
from adapter.replay.generate import plan_offices  # noqa: E402
from adapter.topology import Topology  # noqa: E402

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


@dataclass
class Traffic:
    rosters: list[bytes]
    history: list[bytes]
    #: per round: the fresh GPs' syncs (A) and the old GPs' next syncs (B)
    fresh: list[list[bytes]]
    old: list[list[bytes]]


def syncs(rng: random.Random, people: list[tuple[Office, Person]], first: dt.datetime, hours: range) -> list[bytes]:
    """Hourly syncs of `people` over `hours` (counted from `first`), in GenDate order."""
    status = {gp.hpr: {rng.choice(list(Process)), Process.EKONTAKT} for _, gp in people}
    bodies = []
    for hour in hours:
        for index, (office, gp) in enumerate(people):
            on = status[gp.hpr]
            if hour != hours.start and rng.random() < TOGGLE_SHARE:
                on ^= {rng.choice(list(Process))}
            bodies.append(
                tjenestestatus(
                    office=office,
                    gp=gp,
                    gen_date=first + dt.timedelta(hours=hour, seconds=index),
                    msg_id=new_id(rng),
                    statuses={process: process in on for process in Process},
                    complete=True,
                    source="AR" if hour == hours.start else "EPJ",
                )
            )
    return bodies


def traffic(seed: int, gps: int, reports: int, per_round: int, rounds: int) -> Traffic:
    rng = random.Random(seed)
    offices = -(-gps * (2 + rounds) // GPS_PER_OFFICE)
    plans = plan_offices(rng, offices, GPS_PER_OFFICE)
    people = [(plan.office, gp.person) for plan in plans for gp in plan.gps]
    hours = -(-per_round // gps)
    last = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    first = last - dt.timedelta(hours=reports + rounds * hours)
    rosters = [
        behandleroversikt(office=plan.office, entries=plan.roster(), gen_date=first, msg_id=new_id(rng))
        for plan in plans
    ]
    old = syncs(rng, people[:gps], first, range(1, reports + rounds * hours + 1))
    return Traffic(
        rosters=rosters,
        history=old[: gps * reports],
        fresh=[
            syncs(
                rng, people[gps * (1 + k) : gps * (2 + k)], first, range(reports + k * hours, reports + (k + 1) * hours)
            )[:per_round]
            for k in range(rounds + 1)  # the last one warms the worker up
        ],
        old=[old[gps * (reports + k * hours) :][:per_round] for k in range(rounds)],
    )


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system): what a message costs the worker, whatever
    else the machine's cores are doing."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    kind: str
    rate: float
    cpu: float


async def measure(bench: Bench, gps: int, reports: int, per_round: int, rounds: int) -> None:
    plan = traffic(10, gps, reports, per_round, rounds)
    print(
        f"growth: {gps} old GPs with {reports} hourly status syncs each (Ack J), then {rounds} x (A: {per_round} "
        f"syncs from {gps} fresh GPs, B: {per_round} syncs from the old ones) with DDFL_BATCH_SIZE=1; "
        "real worker (ddfl-adapter run, SQLite)"
    )
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    replies = Topology.isolated(prefix, own_replies=True).replies_queue
    env = {**bench.adapter_env(prefix), "DDFL_REPLIES_QUEUE": str(replies)}
    log = bench.tmp / "growth.log"
    await bench.declare(env["DDFL_INBOUND_QUEUE"], inbound_args(env["DDFL_DEAD_LETTER_QUEUE"]))
    await bench.declare(env["DDFL_PORTAL_QUEUE"])
    await bench.declare(env["DDFL_REPLIES_QUEUE"])  # every AppRec goes out through it
    receipts = Arrivals()
    channel = await bench.channel()
    await channel.set_qos(prefetch_count=2000)
    await (await channel.get_queue(env["DDFL_REPLIES_QUEUE"])).consume(receipts, no_ack=True)
    await bench.count([env["DDFL_PORTAL_QUEUE"]])  # drained, so the portal queue does not grow

    process, _ = await bench.start_adapter({**env, "DDFL_BATCH_SIZE": "256"}, log)
    await bench.fill(env["DDFL_INBOUND_QUEUE"], plan.rosters)
    await until(lambda: receipts.n >= len(plan.rosters), 120, "the rosters' AppRecs")
    t0 = time.perf_counter()
    for start in range(0, len(plan.history), 2000):
        await bench.fill(env["DDFL_INBOUND_QUEUE"], plan.history[start : start + 2000])
        await until(lambda s=start: receipts.n >= len(plan.rosters) + s, 600, "the history's AppRecs")
    await until(lambda: receipts.n >= len(plan.rosters) + len(plan.history), 600, "the history's AppRecs")
    print(f"  history: {len(plan.history)} messages taken in, in {time.perf_counter() - t0:.0f} s")
    await bench.stop(process)

    process, _ = await bench.start_adapter({**env, "DDFL_BATCH_SIZE": "1"}, log)
    await bench.fill(env["DDFL_INBOUND_QUEUE"], plan.fresh[rounds])  # warming up: not measured
    wanted = receipts.n + len(plan.fresh[rounds])
    await until(lambda: receipts.n >= wanted, 600, "the warm-up round's AppRecs")
    results: list[Round] = []
    for k in range(rounds):
        for kind, bodies in (("A", plan.fresh[k]), ("B", plan.old[k])):
            before = receipts.n
            cpu = cpu_seconds(process.pid)
            await bench.fill(env["DDFL_INBOUND_QUEUE"], bodies)
            wanted = before + len(bodies)
            await until(lambda w=wanted: receipts.n >= w, 600, f"round {kind}{k + 1}'s AppRecs")
            cpu = cpu_seconds(process.pid) - cpu
            times = receipts.times[before:]
            result = Round(kind, (len(times) - 1) / (times[-1] - times[0]), cpu / len(bodies))
            results.append(result)
            print(
                f"  round {kind}{k + 1}: {result.rate:7.0f} AppRecs/s   worker CPU {result.cpu * 1e3:6.2f} ms/message"
            )
    memory = rss_kib(process.pid)
    await bench.stop(process)

    def median(kind: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in results if r.kind == kind)

    start_rate, end_rate = median("A", "rate"), median("B", "rate")
    start_cpu, end_cpu = median("A", "cpu"), median("B", "cpu")
    print(f"  median A (start, fresh GPs)    : {start_rate:7.0f} AppRecs/s   {start_cpu * 1e3:6.2f} ms CPU/message")
    print(f"  median B (end, {reports}+ reports) : {end_rate:7.0f} AppRecs/s   {end_cpu * 1e3:6.2f} ms CPU/message")
    print(f"  end / start, AppRec rate       : {end_rate / start_rate:7.2f}   (target >= 0.9)")
    print(f"  end / start, CPU rate (A/B)    : {start_cpu / end_cpu:7.2f}   (target >= 0.9)")
    store = bench.tmp / f"{prefix}.sqlite3"
    sizes = sum(p.stat().st_size for p in bench.tmp.glob(f"{prefix}.sqlite3*"))
    print(f"  worker RSS {memory / 1024:.0f} MiB; store {store.name}: {sizes / 2**20:.1f} MiB with its WAL")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gps", type=int, default=20, help="GPs in each group (old, and each fresh set)")
    parser.add_argument("--reports", type=int, default=1500, help="hourly status syncs of history per old GP")
    parser.add_argument("--round", type=int, default=500, help="messages in each measured round")
    parser.add_argument("--rounds", type=int, default=5, help="pairs of rounds (A then B)")
    args = parser.parse_args()
    print(
        f"ddfl-adapter growth bench, {dt.datetime.now().isoformat(timespec='minutes')}, {os.cpu_count()} cores, "
        f"broker {AMQP_URL.rsplit('@', 1)[-1]}"
    )
    connection = await aio_pika.connect_robust(AMQP_URL)
    with tempfile.TemporaryDirectory(prefix="ddfl-growth-") as tmp:
        bench = Bench(connection, Path(tmp))
        try:
            await measure(bench, args.gps, args.reports, args.round, args.rounds)
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
