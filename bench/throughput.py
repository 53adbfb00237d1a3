"""End-to-end figures of the adapter on the real RabbitMQ, with the baseline measured in the same run.

    python bench/throughput.py [--messages 20000] [--rounds 1] [--set DDFL_BATCH_SIZE=256 ...]
                               [--variant DDFL_PARSE_WORKERS=1 ...] [--variant BENCH_ROOT=../main]
                               [--latency-seconds 20] [--absences 5000] [--midnight-rounds N]
                               [--rss-messages 200000] [--only throughput,latency,midnight,rss]

1. throughput: N realistic EPJ/AR status messages (Ack V="J") for many GPs are pre-filled; the
   adapter (its own process, `ddfl-adapter run`, SQLite store) takes them in and publishes an
   event and an AppRec each, confirmed, input acked. The same messages go through two raw
   aio-pika loops (bench/raw_pipeline.py: consume, publish two messages with confirms, ack) on the
   same broker: "pipelined" (publishes gathered, prefetch 512) and "naive" (one channel, each
   publish awaited, prefetch 100, as this field's tools write it). The three rates and the
   adapter's ratio to each are printed; with --rounds, per round (interleaved) and their medians.
2. latency: p50/p99 from publishing a message to receiving its portal event, at a steady 200 msg/s.
3. midnight: 5,000 absences that start on the same midnight; the time from the clock passing it
   to the last of its events received (by a counter in a process of its own, as the portal is) and
   the adapter's CPU for it (and its event loop's thread's, and the garbage collector's). The
   adapter runs in this process with `ddfl-adapter run`'s event loop (uvloop) and collector
   settings (`cli._collect_less`). With --midnight-rounds N, N bursts per adapter, each in a fresh
   process, alternating with every --variant BENCH_ROOT=DIR (another checkout's code).
   DDFL_BENCH_PROFILE=FILE: a cProfile of the burst (CPU time); DDFL_BENCH_PYSPY=FILE: a py-spy
   record of it (raw collapsed stacks per thread; DDFL_BENCH_PYSPY_IDLE=1 samples waits too).
4. rss: the adapter's resident memory growth over 200,000 messages.
Nothing is asserted: the script prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika

ROOT = Path(__file__).resolve().parents[1]
#: The adapter's code the midnight burst (which runs it in this process) imports: another
#: checkout's with BENCH_MIDNIGHT_ROOT (set by `--midnight-rounds` for its A/B against main).
CODE = Path(os.environ.get("BENCH_MIDNIGHT_ROOT") or ROOT).resolve()
sys.path.insert(0, str(CODE))

from adapter.bootstrap import default_settings  # noqa: E402
from adapter.domain.calendar import OSLO  # noqa: E402
from adapter.domain.calendar import midnight as oslo_midnight  # noqa: E402
from adapter.messages.builders import absence_registered  # noqa: E402
from adapter.replay.generate import iter_status_messages  # noqa: E402
from adapter.topology import Topology  # noqa: E402
from adapter.worker.amqp import inbound_arguments  # noqa: E402

AMQP_URL = os.environ.get("DDFL_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PREFETCH = 512
#: The naive baseline's prefetch: what this field's own consumers are written with.
NAIVE_PREFETCH = 100


def inbound_args(dead_letter_queue: str) -> dict[str, object]:
    """An inbound queue's arguments, declared ahead of the adapter: the adapter's own."""
    return {"x-queue-type": "quorum", **inbound_arguments(default_settings(dead_letter_queue=dead_letter_queue))}


@dataclass
class Count:
    """Counts what arrives on some queues (auto-ack), remembering when the last one came."""

    n: int = 0
    last: float = 0.0
    bodies: list[bytes] = field(default_factory=list)
    keep: bool = False
    #: portal events by their `type` header (availability.changed, office.practitioners.changed, …)
    by_type: Counter[str] = field(default_factory=Counter)
    #: The distinct message ids seen (a row published again after a failed confirm comes twice).
    ids: set[str | None] = field(default_factory=set)
    channel: aio_pika.abc.AbstractChannel | None = None

    async def close(self) -> None:
        """Stop counting (a later round's counter on the same queues gets every message)."""
        if self.channel is not None:
            await self.channel.close()

    async def __call__(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        # A coroutine: for a plain callable aio-pika warns on every message, with the callable's
        # repr in the text; this dataclass's repr holds every id seen, so counting N messages cost
        # O(N²) CPU in the bench's own process (1.8 ms a message at 4,000), beside the loops it
        # measures on the same cores.
        self.n += 1
        self.last = time.perf_counter()
        self.by_type[str(message.headers.get("type", ""))] += 1
        self.ids.add(message.message_id)
        if self.keep:
            self.bodies.append(message.body)


async def until(condition, timeout: float, what: str) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"bench: timed out waiting for {what}")
        await asyncio.sleep(0.002)


class Bench:
    def __init__(self, connection: aio_pika.abc.AbstractRobustConnection, tmp: Path):
        self.connection = connection
        self.tmp = tmp
        self.queues: list[str] = []
        self.processes: list[subprocess.Popen] = []

    async def channel(self) -> aio_pika.abc.AbstractChannel:
        return await self.connection.channel()

    async def declare(self, name: str, arguments: dict | None = None, purge: bool = True):
        channel = await self.channel()
        queue = await channel.declare_queue(name, durable=True, arguments=arguments or {"x-queue-type": "quorum"})
        if purge:
            await queue.purge()
        self.queues.append(name)
        return queue

    async def count(self, names: list[str], keep: bool = False) -> Count:
        channel = await self.channel()
        counter = Count(keep=keep, channel=channel)
        await channel.set_qos(prefetch_count=2000)
        for name in names:
            queue = await channel.get_queue(name)
            await queue.consume(counter, no_ack=True)
        return counter

    async def fill(self, queue: str, bodies: list[bytes], content_type: str = "application/xml") -> None:
        channel = await self.connection.channel(publisher_confirms=True)
        for start in range(0, len(bodies), 1000):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(b, content_type=content_type, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=queue,
                    )
                    for b in bodies[start : start + 1000]
                )
            )
        await channel.close()

    def adapter_env(self, prefix: str) -> dict[str, str]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DDFL_")}
        env.update(Topology.isolated(prefix).environment())
        env.update(
            {
                "DDFL_AMQP_URL": AMQP_URL,
                "DDFL_STORE_URL": f"sqlite:///{self.tmp / (prefix + '.sqlite3')}",
                "DDFL_HTTP_PORT": str(port),
                "DDFL_LOG_FORMAT": "json",
                "DDFL_PREFETCH": str(PREFETCH),
                "DDFL_LOG_LEVEL": "WARNING",
            }
        )
        self.queues += [env[k] for k in env if k.endswith("_QUEUE")]
        return env

    async def start_adapter(
        self, env: dict[str, str], log: Path, trace: Path | None = None
    ) -> tuple[subprocess.Popen, float]:
        """Start `ddfl-adapter run` (with `trace`: bench/latency_trace.py, writing its stage trace
        there); returns the process and the instant it began consuming."""
        env = {**env, "DDFL_LOG_LEVEL": "INFO"}
        root = Path(env.pop("BENCH_ROOT", ROOT))  # another checkout's code (an A/B against main)
        env["PYTHONPATH"] = str(root)
        command = (
            ["-m", "adapter.cli", "run"] if trace is None else [str(ROOT / "bench" / "latency_trace.py"), str(trace)]
        )
        process = subprocess.Popen(
            [sys.executable, *command],
            env=env,
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=open(log, "ab"),  # noqa: SIM115 (the child keeps it)
        )
        self.processes.append(process)
        offset = log.stat().st_size if log.exists() else 0
        await until(lambda: log.exists() and b'"DDFL-STARTED"' in log.read_bytes()[offset:], 60, "the adapter")
        return process, time.perf_counter()

    async def stop(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 60)

    async def cleanup(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        channel = await self.channel()
        for name in set(self.queues):
            await channel.queue_delete(name)


def messages(seed: int, offices: int, gps: int, updates: int, spacing: float = 0.5):
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=spacing * offices * gps * (updates + 1) + 3600)
    generated = list(
        iter_status_messages(seed, offices, gps, start, updates_per_gp=updates, spacing=dt.timedelta(seconds=spacing))
    )
    rosters = [m for m in generated if m.kind == "behandleroversikt"]
    statuses = [m for m in generated if m.kind == "tjenestestatus"]
    return rosters, statuses


async def prepare_adapter(bench: Bench, env: dict[str, str], log: Path, rosters, offices: set[int]) -> Count:
    """Declare the offices' receipt queues, let the adapter take the rosters in, and stop it."""
    for office in offices:
        await bench.declare(f"{office}_async")
    receipts = await bench.count([f"{o}_async" for o in offices])
    process, _ = await bench.start_adapter(env, log)
    await bench.fill(env["DDFL_INBOUND_QUEUE"], [m.body for m in rosters])
    await until(lambda: receipts.n >= len(rosters), 600, "the rosters' AppRecs")
    await bench.stop(process)
    return receipts


async def raw_loop(bench: Bench, bodies: list[bytes], mode: str, prefetch: int) -> Rate:
    """One baseline (bench/raw_pipeline.py in `mode`) over `bodies` on fresh queues; its rate."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    raw_in = f"{prefix}-raw-in"
    await bench.declare(raw_in, inbound_args(f"{prefix}-raw-dl"))
    await bench.declare(f"{prefix}-raw-a")
    await bench.declare(f"{prefix}-raw-b")
    await bench.fill(raw_in, bodies)
    out = await bench.count([f"{prefix}-raw-a", f"{prefix}-raw-b"])
    n = len(bodies)
    script = ROOT / "bench" / "raw_pipeline.py"
    args = [AMQP_URL, raw_in, f"{prefix}-raw-a", f"{prefix}-raw-b", str(n), str(prefetch), mode]
    raw = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True)
    bench.processes.append(raw)
    await asyncio.to_thread(raw.stdout.readline)  # READY
    t0, cpu0 = time.perf_counter(), cpu_seconds(raw.pid)
    await until(lambda: out.n >= 2 * n, 600, f"the raw loop ({mode})")
    cpu = cpu_seconds(raw.pid) - cpu0  # it waits for its last confirms' acks before it ends
    await asyncio.to_thread(raw.wait, 30)
    await out.close()
    return Rate(n / (out.last - t0), cpu / n * 1e6)


@dataclass
class Rate:
    per_second: float
    #: The process's CPU per message: what a loaded machine changes least.
    cpu_us: float
    #: Its child processes' (the parsing workers, DDFL_PARSE_WORKERS): CPU the second core gives.
    helpers_cpu_us: float = 0.0


async def adapter_run(bench: Bench, rosters, bodies: list[bytes], settings: dict[str, str]) -> Rate:
    """The adapter in its own process on fresh queues and store: XML in → event and AppRec out,
    confirmed, input acked; its rate from the moment it consumes to the last AppRec."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    env = {**bench.adapter_env(prefix), **settings}
    log = bench.tmp / "throughput.log"
    await bench.declare(env["DDFL_INBOUND_QUEUE"], inbound_args(env["DDFL_DEAD_LETTER_QUEUE"]))
    await bench.declare(env["DDFL_PORTAL_QUEUE"])
    receipts = await prepare_adapter(bench, env, log, rosters, {m.office_her_id for m in rosters})
    events = await bench.count([env["DDFL_PORTAL_QUEUE"]])  # the events, drained as they come
    await bench.fill(env["DDFL_INBOUND_QUEUE"], bodies)
    before = receipts.n
    process, t0 = await bench.start_adapter(env, log)
    if profile := os.environ.get("DDFL_BENCH_PROFILE"):  # a py-spy flame graph of the run, to that file
        spy = [py_spy(), "record", "-p", str(process.pid), "-r", "200", "-o", profile, "-f", "raw"]
        bench.processes.append(subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    n = len(bodies)
    cpu0, helpers0 = cpu_seconds(process.pid), children_cpu_seconds(process.pid)
    await until(lambda: receipts.n - before >= n, 900, "the adapter's AppRecs")
    cpu, helpers = cpu_seconds(process.pid) - cpu0, children_cpu_seconds(process.pid) - helpers0
    rate = Rate(n / (receipts.last - t0), cpu / n * 1e6, helpers / n * 1e6)
    await bench.stop(process)
    await receipts.close()  # the offices' receipt queues have the same names in the next round
    await events.close()
    return rate


async def throughput(
    bench: Bench, n: int, rounds: int, settings: dict[str, str], variants: list[dict[str, str]] | None = None
) -> None:
    """The three loops, interleaved `rounds` times; each of `variants` adds the adapter with those
    settings (over `settings`) to every round, so a lever is measured against the same load."""
    offices, gps = 40, 50
    updates = max(1, round(n / (offices * gps)))
    rosters, statuses = messages(1, offices, gps, updates)
    bodies = [m.body for m in statuses]
    n = len(bodies)
    extra = " ".join(f"{k}={v}" for k, v in settings.items())
    print(
        f"throughput: {n} status messages (Ack J) for {offices * gps} GPs at {offices} offices, "
        f"adapter prefetch {settings.get('DDFL_PREFETCH', PREFETCH)}, {rounds} round(s) {extra}".rstrip()
    )
    print(f"  load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    adapters = {"adapter": settings} | {
        "adapter " + " ".join(f"{k}={v}" for k, v in variant.items()): settings | variant for variant in variants or []
    }
    pipelined: list[Rate] = []
    naive: list[Rate] = []
    adapter: dict[str, list[Rate]] = {name: [] for name in adapters}
    for i in range(rounds):  # interleaved, so a change in the machine's load hits all three alike
        pipelined.append(await raw_loop(bench, bodies, "pipelined", PREFETCH))
        naive.append(await raw_loop(bench, bodies, "naive", NAIVE_PREFETCH))
        p, v = pipelined[-1], naive[-1]
        print(f"  round {i + 1}: msg/s pipelined {p.per_second:5.0f}  naive {v.per_second:5.0f};", end="")
        print(f"  CPU µs/msg {p.cpu_us:4.0f} / {v.cpu_us:4.0f}", flush=True)
        for name, adapter_settings in adapters.items():
            adapter[name].append(a := await adapter_run(bench, rosters, bodies, adapter_settings))
            print(
                f"    {name}: msg/s {a.per_second:5.0f}  ratios {a.per_second / p.per_second:.2f} / "
                f"{a.per_second / v.per_second:.2f};  CPU µs/msg {a.cpu_us:4.0f}{helpers(a)}",
                flush=True,
            )
        print(f"    load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    m = statistics.median

    def ratio(rates: list[Rate], baseline: list[Rate]) -> float:
        return m(a.per_second / b.per_second for a, b in zip(rates, baseline, strict=True))

    print(f"  medians of {rounds} round(s):                         msg/s   CPU µs/msg")
    loops = {
        f"raw aio-pika, pipelined (2 channels, prefetch {PREFETCH})": pipelined,
        f"raw aio-pika, naive (1 channel, prefetch {NAIVE_PREFETCH}) ": naive,
    } | {
        name.replace("adapter", "ddfl-adapter (event + AppRec, SQLite WAL)", 1): rates
        for name, rates in adapter.items()
    }
    for name, rates in loops.items():
        cpu = Rate(0, m(r.cpu_us for r in rates), m(r.helpers_cpu_us for r in rates))
        print(f"  {name} {m(r.per_second for r in rates):8.0f}  {cpu.cpu_us:8.0f}{helpers(cpu)}")
    for name, rates in adapter.items():
        print(f"  ratio {name} / pipelined, / naive: {ratio(rates, pipelined):6.2f} {ratio(rates, naive):6.2f}")
    print(f"  load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def helpers(rate: Rate) -> str:
    """The parsing workers' CPU per message beside the process's, when it has any."""
    return f" (+{rate.helpers_cpu_us:.0f} in parsing workers)" if rate.helpers_cpu_us else ""


@dataclass
class Latency:
    p50: float
    p90: float
    p99: float
    max: float
    events: int
    #: The adapter's CPU per message while it took them in (µs).
    cpu_us: float


async def latency(
    bench: Bench,
    seconds: float,
    rate: float = 200.0,
    rounds: int = 1,
    variants: list[dict[str, str]] | None = None,
    trace: Path | None = None,
) -> None:
    """p50/p99 publish → portal event at a steady `rate`; each of `variants` (settings, or
    BENCH_ROOT=DIR: the adapter's code from that checkout) runs after the default in every round,
    so an A/B meets the same load. `trace`: the adapter runs under bench/latency_trace.py and each
    run's stage breakdown is printed (the traces are kept in that directory)."""
    adapters = {"adapter": {}} | {
        "adapter " + " ".join(f"{k}={v}" for k, v in variant.items()): variant for variant in variants or []
    }
    results: dict[str, list[Latency]] = {name: [] for name in adapters}
    print(f"latency: publish → portal event at {rate:.0f} msg/s for {seconds:.0f} s, {rounds} round(s)")
    for i in range(rounds):
        order = list(adapters.items())
        for name, settings in order[::-1] if i % 2 else order:  # each goes first in every other round
            where = trace / f"round{i + 1}-{len(results[name])}-{uuid.uuid4().hex[:4]}" if trace else None
            results[name].append(r := await latency_run(bench, seconds, rate, settings, where))
            print(
                f"  round {i + 1} {name}: p50 {r.p50:7.1f} ms  p90 {r.p90:7.1f} ms  p99 {r.p99:7.1f} ms  max {r.max:7.1f} ms  "
                f"({r.events} events)  CPU µs/msg {r.cpu_us:5.0f}  "
                f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
                flush=True,
            )
    if rounds > 1:
        m = statistics.median
        for name, runs in results.items():
            print(
                f"  median {name}: p50 {m(r.p50 for r in runs):7.1f} ms  p90 {m(r.p90 for r in runs):7.1f} ms  "
                f"p99 {m(r.p99 for r in runs):7.1f} ms  "
                f"CPU µs/msg {m(r.cpu_us for r in runs):5.0f}"
            )


async def latency_run(
    bench: Bench, seconds: float, rate: float, settings: dict[str, str], trace: Path | None
) -> Latency:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    rosters, statuses = messages(2, 20, 50, max(1, round(seconds * rate / 1000)))
    statuses = statuses[: int(seconds * rate)]
    env = {**bench.adapter_env(prefix), **settings}
    log = bench.tmp / "latency.log"
    await bench.declare(env["DDFL_INBOUND_QUEUE"], inbound_args(env["DDFL_DEAD_LETTER_QUEUE"]))
    await bench.declare(env["DDFL_PORTAL_QUEUE"])
    receipts = await prepare_adapter(bench, env, log, rosters, {m.office_her_id for m in rosters})
    await receipts.close()
    arrived: dict[str, float] = {}

    async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        cause = json.loads(message.body).get("caused_by", {})
        if cause.get("kind") == "message" and message.headers.get("type") == "availability.changed":
            arrived[cause["id"]] = time.perf_counter()

    channel = await bench.channel()
    await (await channel.get_queue(env["DDFL_PORTAL_QUEUE"])).consume(on_event, no_ack=True)
    if trace is not None:
        trace.mkdir(parents=True, exist_ok=True)
    process, _ = await bench.start_adapter(env, log, trace / "adapter.json" if trace else None)
    publisher = await bench.connection.channel(publisher_confirms=False)
    sent: dict[str, float] = {}
    cpu0 = cpu_seconds(process.pid)
    t0 = time.perf_counter()
    for i, message in enumerate(statuses):
        await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        sent[message.msg_id] = time.perf_counter()
        await publisher.default_exchange.publish(
            aio_pika.Message(message.body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=env["DDFL_INBOUND_QUEUE"],
        )
    last = [0.0, 0]  # when the count last grew, and to what (no O(N) scan per poll)

    def settled() -> bool:
        if len(arrived) != last[1]:
            last[:] = [time.perf_counter(), len(arrived)]
        # not every status message changes what citizens see (the first of a GP's may not)
        return len(arrived) >= len(statuses) or time.perf_counter() - last[0] > 2.0

    await until(settled, 120, "the events")
    cpu = cpu_seconds(process.pid) - cpu0
    await bench.stop(process)
    await channel.close()
    await publisher.close()
    delays = sorted((arrived[k] - sent[k]) * 1000 for k in arrived if k in sent)
    q = statistics.quantiles(delays, n=100)
    if trace is not None:
        (trace / "bench.json").write_text(json.dumps({"sent": sent, "arrived": arrived}))
        print(breakdown(trace))
    return Latency(q[49], q[89], q[98], delays[-1], len(delays), cpu / len(statuses) * 1e6)


def breakdown(trace: Path) -> str:
    """Where each message's latency went, from the adapter's stage trace joined with the bench's
    stamps (one clock: CLOCK_MONOTONIC): percentiles per stage, and the slowest messages'."""
    adapter = json.loads((trace / "adapter.json").read_text())
    bench = json.loads((trace / "bench.json").read_text())
    sent, arrived = bench["sent"], bench["arrived"]
    parsed = {m: (a, b) for m, a, b in adapter["parsed"] if m is not None}
    batch_of = {m: (a, b, cpu, len(ids)) for a, b, cpu, ids in adapter["batches"] for m in ids if m is not None}
    published = {}
    for a, b, ids in adapter["publishes"]:
        for row in ids:
            if row.startswith("apprec-"):
                published[row[len("apprec-") :]] = (a, b)
    stages = ("broker+consume", "parse", "wait for batch", "commit", "wait for relay", "publish+confirm", "to bench")
    rows = []
    for m, t_arrived in arrived.items():
        if m not in sent or m not in parsed or m not in batch_of or m not in published:
            continue
        p0, p1 = parsed[m]
        b0, b1, _, _ = batch_of[m]
        r0, r1 = published[m]
        marks = (sent[m], p0, p1, b0, b1, r0, r1, t_arrived)
        rows.append((t_arrived - sent[m], [(marks[j + 1] - marks[j]) * 1000 for j in range(len(stages))], m))
    rows.sort()
    out = [f"  stage breakdown ({len(rows)} messages joined), ms: p50 / p90 / p99 / max"]
    for j, stage in enumerate(stages):
        values = sorted(r[1][j] for r in rows)
        q = statistics.quantiles(values, n=100)
        out.append(f"    {stage:16} {q[49]:8.2f} {q[89]:8.2f} {q[98]:8.2f} {values[-1]:8.2f}")
    out.append("  the slowest 5: total = " + " + ".join(stages))
    for total, parts, m in rows[-5:]:
        out.append(f"    {total * 1000:8.1f} = " + " + ".join(f"{p:.1f}" for p in parts) + f"  ({m})")
    sizes = [len(ids) for _, _, _, ids in adapter["batches"]]
    commits = sorted((b - a) * 1000 for a, b, _, _ in adapter["batches"])
    out.append(
        f"  batches {len(sizes)}: size median {statistics.median(sizes):.0f} max {max(sizes)}; "
        f"commit ms median {statistics.median(commits):.2f} max {commits[-1]:.1f}"
    )
    waits: dict[str, list[tuple[float, float]]] = {}
    for who, asked, got, ended in adapter.get("store", []):
        waits.setdefault(who.split("-")[0] if who.startswith("Task-") else who, []).append((got - asked, ended - got))
    for who, spans in sorted(waits.items(), key=lambda kv: -len(kv[1])):
        wait, held = sorted(w * 1000 for w, _ in spans), sorted(h * 1000 for _, h in spans)
        out.append(
            f"  store {who:22} {len(spans):5} tx: waited p50 {wait[len(wait) // 2]:.2f} p99 "
            f"{wait[int(len(wait) * 0.99)]:.2f} max {wait[-1]:.1f} ms; held p50 {held[len(held) // 2]:.2f} "
            f"max {held[-1]:.1f} ms"
        )
    gcs = adapter["gc"]
    for generation in (0, 1, 2):
        spans = sorted((b - a) * 1000 for g, a, b, _ in gcs if g == generation)
        if spans:
            out.append(
                f"  gc gen{generation}: {len(spans)} collections, max {spans[-1]:.1f} ms, sum {sum(spans):.0f} ms"
            )
    stalls = sorted(adapter["stalls"], key=lambda s: s[0] - s[1])
    out.append(f"  loop stalls > 20 ms: {len(stalls)}, total {sum(b - a for a, b, _ in stalls) * 1000:.0f} ms")
    t_first = min(sent.values())
    for a, b, stack in stalls[:5]:
        out.append(f"    {(b - a) * 1000:7.1f} ms at +{a - t_first:.2f} s:")
        out += [f"        {line}" for line in stack[-6:]]
    return "\n".join(out)


def py_spy() -> str:
    """py-spy's command: on the PATH, or beside this Python (a venv's, not activated)."""
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit("bench: DDFL_BENCH_PROFILE / DDFL_BENCH_PYSPY need py-spy (pip install py-spy)")
    return found


class GcTime:
    """The garbage collector's collections from now to `stop`, and the CPU time they took."""

    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.counts[info["generation"]] += 1
            self.seconds += time.process_time() - self._started

    def stop(self) -> None:
        gc.callbacks.remove(self._callback)

    def __str__(self) -> str:
        return f"gc {self.seconds:.2f} s in {'/'.join(map(str, self.counts))} collections of generation 0/1/2"


async def midnight(bench: Bench, absences: int) -> dict[str, float]:
    """In-process with a manual clock: the clock passes one midnight that starts every absence.

    The burst's events are counted by `bench/burst_counter.py`, a process of its own (as the
    portal is): counted here, aio-pika's cost per delivery ran on the adapter's event loop, in
    the figures measured. Returns the run's figures (seconds)."""
    from adapter.bootstrap import build, isolated_settings
    from adapter.cli import _collect_less
    from adapter.worker.clock import ManualClock

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    offices, gps = max(1, absences // 50), 50
    rosters, statuses = messages(3, offices, gps, 1)
    last = max(m.gen_date for m in statuses)
    clock = ManualClock(last + dt.timedelta(minutes=1))
    tomorrow = clock.now().astimezone(OSLO).date() + dt.timedelta(days=1)
    env = bench.adapter_env(prefix)
    settings = isolated_settings(prefix, amqp_url=AMQP_URL, store_url=env["DDFL_STORE_URL"])
    for office in {m.office_her_id for m in rosters}:  # the AppRecs' queues, so none is undeliverable
        await bench.declare(f"{office}_async")
    _collect_less()  # as `ddfl-adapter run` does before it builds the runtime
    runtime = build(settings, clock=clock)
    await runtime.start()
    events = await bench.count([settings.portal_queue])
    await bench.fill(settings.inbound_queue, [m.body for m in rosters + statuses])
    await until(lambda: runtime.processor.stats.items >= len(rosters) + len(statuses), 300, "the statuses")
    commands = [
        json.dumps(
            absence_registered(
                absence_id=str(uuid.uuid4()),
                office_her_id=m.office_her_id,
                practitioner_hpr=m.practitioner_hpr,
                from_date=tomorrow,
                to_date=tomorrow + dt.timedelta(days=13),
                services=["TIMEBESTILLING", "RESEPTFORNYELSE", "E_KONSULTASJON", "KONTAKT_LEGEKONTORET"],
                registered_by_hpr=m.practitioner_hpr,
                registered_at=clock.now(),
            )
        ).encode()
        for m in statuses[:absences]
    ]
    await bench.fill(settings.absence_queue, commands, content_type="application/json")
    await until(
        lambda: runtime.processor.stats.items >= len(rosters) + len(statuses) + len(commands), 300, "the absences"
    )
    await runtime.relay.flush()
    # Every event published so far received too, so none of them is counted in the burst (as a
    # message "published twice", or as one of the burst's own when waiting for the last).
    sent = runtime.relay.published_to(settings.portal_queue)
    await until(lambda: events.n >= sent, 120, "the events before midnight")
    await events.close()
    counter = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "burst_counter.py"),
        AMQP_URL,
        settings.portal_queue,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert counter.stdin is not None and counter.stdout is not None
    if (await counter.stdout.readline()).strip() != b"ready":
        raise RuntimeError("bench: the burst's counter did not start")
    at = oslo_midnight(tomorrow)
    # The clock passes the minute before the midnight first, as a real one does: a scheduler that
    # works the ticks out ahead (`Scheduler.AHEAD`) does it then; its CPU is printed apart.
    cpu0, rss0 = time.process_time(), rss_kib(os.getpid())
    clock.set(at - dt.timedelta(seconds=60))
    scheduler = runtime.scheduler
    await until(lambda: getattr(scheduler, "prepared_for", at) == at, 120, "the ticks worked out ahead")
    ahead = time.process_time() - cpu0
    prepared_kib = rss_kib(os.getpid()) - rss0
    await asyncio.sleep(0.5)  # its log line, the loop settled
    rows_before = runtime.processor.stats.outbox_rows
    spy = None
    if spied := os.environ.get("DDFL_BENCH_PYSPY"):  # a py-spy record of the burst only, to that file
        idle = ["--idle"] if os.environ.get("DDFL_BENCH_PYSPY_IDLE") else []
        output = ["-o", spied, "-f", "raw"]
        spy = subprocess.Popen(
            [py_spy(), "record", "--nonblocking", "--threads", *idle, "-p", str(os.getpid()), "-r", "250", *output],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(1.5)  # attached
    collections = GcTime()
    cpu0, loop0 = time.process_time(), time.thread_time()
    profiler = None
    if profile := os.environ.get("DDFL_BENCH_PROFILE"):  # cProfile of the burst only, to that file
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU time: what a loaded machine distorts least
        profiler.enable()
    clock.set(at)
    t0 = time.perf_counter()

    def caught_up() -> bool:
        """The relay has published every row committed so far (the process's own counters)."""
        committed = runtime.processor.stats.outbox_rows - rows_before
        return committed > 0 and runtime.relay.published_to(settings.portal_queue) - sent >= committed

    async def all_published() -> bool:
        due = await runtime.store.next_due()
        return (due is None or due > at) and await runtime.store.outbox_backlog() == 0

    # Every pair due at that midnight ticked, and published: the store is asked only once the
    # relay has caught up with the commits (its two queries run in the measured process: every
    # 10 ms through the whole burst, they were the bench's work in the adapter's figures).
    while not (caught_up() and await all_published()):
        await asyncio.sleep(0.01)
    published = time.perf_counter() - t0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        await asyncio.to_thread(spy.wait)
    cpu, loop_cpu = time.process_time() - cpu0, time.thread_time() - loop0
    collections.stop()
    rows = runtime.processor.stats.outbox_rows - rows_before
    counter.stdin.write(f"{rows}\n".encode())
    await counter.stdin.drain()
    counted = json.loads(await counter.stdout.readline())
    await counter.wait()
    if counted["distinct"] < rows:
        raise TimeoutError(f"bench: {counted['distinct']} of the burst's {rows} events arrived")
    received = counted["last"] - t0
    closed = counted["by_type"].get("availability.changed", 0)
    print(
        f"midnight: {len(commands)} absences starting on {tomorrow}: {rows} events ({closed} GPs with services "
        f"to close, the rest booking lists), all received {received:.2f} s after the clock passed midnight, "
        f"all published {published:.2f} s ({counted['received'] - rows} published twice); {cpu:.2f} s CPU in the "
        f"adapter's process ({loop_cpu:.2f} s of it on the event loop's thread; {collections}), and {ahead:.2f} s in the minute before (RSS {prepared_kib / 1024:+.0f} MiB); "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    await runtime.stop()
    return {
        "received": received,
        "published": published,
        "cpu": cpu,
        "loop_cpu": loop_cpu,
        "ahead": ahead,
        "events": rows,
        "load": os.getloadavg()[0],
    }


async def midnight_rounds(absences: int, rounds: int, variants: list[dict[str, str]]) -> None:
    """`rounds` bursts of this checkout's adapter, alternating with each variant's code
    (BENCH_ROOT=DIR), each in a fresh process of this script (the burst runs the adapter in
    process); the order alternates round by round, so neither always meets the later load."""
    roots = {"adapter": CODE} | {
        f"adapter BENCH_ROOT={variant['BENCH_ROOT']}": Path(variant["BENCH_ROOT"]).resolve()
        for variant in variants
        if "BENCH_ROOT" in variant
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in roots}
    for round_ in range(rounds):
        order = list(roots.items())
        for name, root in order if round_ % 2 == 0 else order[::-1]:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--only",
                "midnight",
                "--absences",
                str(absences),
                "--midnight-json",
                env={**os.environ, "BENCH_MIDNIGHT_ROOT": str(root)},
                stdout=subprocess.PIPE,
            )
            out, _ = await child.communicate()
            lines = out.decode().splitlines()
            figures = json.loads(next(line for line in reversed(lines) if line.startswith("{")))
            results[name].append(figures)
            print(f"  round {round_ + 1}, {name}: {next(line for line in lines if line.startswith('midnight'))}")
    print("midnight medians:")
    for name, runs in results.items():
        print(
            f"  {name}: all received {statistics.median(r['received'] for r in runs):.2f} s, all published "
            f"{statistics.median(r['published'] for r in runs):.2f} s, CPU {statistics.median(r['cpu'] for r in runs):.2f} s "
            f"(the event loop's thread {statistics.median(r.get('loop_cpu', 0.0) for r in runs):.2f} s) "
            f"(+{statistics.median(r['ahead'] for r in runs):.2f} s the minute before) "
            f"({len(runs)} runs: " + ", ".join(f"{r['received']:.2f}/{r['cpu']:.2f}" for r in runs) + " received/CPU)"
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    """User + system CPU its living child processes have used so far."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                total += cpu_seconds(int(child))
            except FileNotFoundError:  # ended meanwhile
                pass
    return total


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def rss(bench: Bench, total: int) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    offices, gps = 40, 50
    rosters, statuses = messages(4, offices, gps, max(1, total // (offices * gps)), spacing=0.05)
    statuses = statuses[:total]
    env = bench.adapter_env(prefix)
    log = bench.tmp / "rss.log"
    await bench.declare(env["DDFL_INBOUND_QUEUE"], inbound_args(env["DDFL_DEAD_LETTER_QUEUE"]))
    await bench.declare(env["DDFL_PORTAL_QUEUE"])
    receipts = await prepare_adapter(bench, env, log, rosters, {m.office_her_id for m in rosters})
    await bench.count([env["DDFL_PORTAL_QUEUE"]])
    start = receipts.n
    process, t0 = await bench.start_adapter(env, log)
    warm = min(10_000, len(statuses) // 10)
    chunk = 5_000
    baseline = 0
    for offset in range(0, len(statuses), chunk):
        await until(lambda sent=offset: sent - (receipts.n - start) < 15_000, 600, "the backlog to shrink")
        await bench.fill(env["DDFL_INBOUND_QUEUE"], [m.body for m in statuses[offset : offset + chunk]])
        if not baseline and receipts.n - start >= warm:
            baseline = rss_kib(process.pid)
    await until(lambda: receipts.n - start >= len(statuses), 1800, "all AppRecs")
    baseline = baseline or rss_kib(process.pid)
    final = rss_kib(process.pid)
    elapsed = receipts.last - t0
    await bench.stop(process)
    print(f"rss: {len(statuses)} messages in {elapsed:.0f} s ({len(statuses) / elapsed:.0f} msg/s)")
    print(
        f"  RSS after {warm} messages {baseline / 1024:6.1f} MiB, after all {final / 1024:6.1f} MiB, "
        f"growth {(final - baseline) / 1024:6.1f} MiB"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=1, help="throughput rounds; medians are printed")
    parser.add_argument(
        "--set", action="append", default=[], metavar="DDFL_X=V", help="adapter setting for the throughput runs"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="DDFL_X=V[,DDFL_Y=W]",
        help="another adapter loop in every throughput or latency round, with these settings (a lever, A/B); "
        "BENCH_ROOT=DIR runs the adapter's code from that checkout",
    )
    parser.add_argument("--latency-seconds", type=float, default=20)
    parser.add_argument("--latency-rate", type=float, default=200.0)
    parser.add_argument(
        "--latency-rounds", type=int, default=1, help="latency runs per adapter (--variant's alternate with it)"
    )
    parser.add_argument("--trace", type=Path, help="latency: run the adapter under bench/latency_trace.py, keep here")
    parser.add_argument("--absences", type=int, default=5_000)
    parser.add_argument(
        "--midnight-rounds",
        type=int,
        default=1,
        help="midnight bursts per adapter, each in a process of its own, alternating with --variant BENCH_ROOT=DIR",
    )
    parser.add_argument("--midnight-json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rss-messages", type=int, default=200_000)
    parser.add_argument("--only", default="throughput,latency,midnight,rss")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    print(
        f"ddfl-adapter bench, {dt.datetime.now().isoformat(timespec='minutes')}, {os.cpu_count()} cores, "
        f"broker {AMQP_URL.rsplit('@', 1)[-1]}"
    )
    connection = await aio_pika.connect_robust(AMQP_URL)
    with tempfile.TemporaryDirectory(prefix="ddfl-bench-") as tmp:
        bench = Bench(connection, Path(tmp))
        try:
            if "throughput" in parts:
                variants = [dict(kv.split("=", 1) for kv in variant.split(",")) for variant in args.variant]
                await throughput(bench, args.messages, args.rounds, dict(kv.split("=", 1) for kv in args.set), variants)
            if "latency" in parts:
                variants = [dict(kv.split("=", 1) for kv in variant.split(",")) for variant in args.variant]
                await latency(bench, args.latency_seconds, args.latency_rate, args.latency_rounds, variants, args.trace)
            if "midnight" in parts:
                variants = [dict(kv.split("=", 1) for kv in variant.split(",")) for variant in args.variant]
                if args.midnight_rounds > 1 or variants:
                    await midnight_rounds(args.absences, args.midnight_rounds, variants)
                else:
                    figures = await midnight(bench, args.absences)
                    if args.midnight_json:
                        print(json.dumps(figures), flush=True)
            if "rss" in parts:
                await rss(bench, args.rss_messages)
        finally:
            await bench.cleanup()
            await connection.close()


if __name__ == "__main__":
    try:  # `ddfl-adapter run`'s event loop: the midnight runs the adapter in this process
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
