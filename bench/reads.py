"""Do reads slow the writer? The write rate with and without concurrent reads, in one run.

    python bench/reads.py [--messages 30000] [--rate 200] [--store-only]

The adapter (`ddfl-adapter run`, its own process, SQLite store) and the read API (its own process,
`python -m adapter.api.server`, the same store file) run side by side on the real RabbitMQ. The
rosters of 2,000 GPs at 40 offices are taken in first, then three rounds each take a backlog of
the same size (Tjenestestatus, Ack J → an event and an AppRec each): without reads, with reads at a
steady rate (a mix of one pair, one office, and a page of 500 of everything; every read the API
answers is a real store read and a tick on a copy), and without reads again (so the order of the
rounds, and the store growing, show as the spread between the two read-free ones). The write rate
of each round, the reads' p50/p99 latency and the read errors are printed. Nothing is asserted.

--store-only leaves the broker out: the writer is the service layer itself (the processor, batches
of 256 as the pipeline makes them) on the SQLite file, in this process; the read API is its own
process as above. It isolates what the reads cost the store and the CPU from the broker's share.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import AMQP_URL, ROOT, Bench, inbound_args, messages, prepare_adapter, until

OFFICES, GPS = 40, 50


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_api(bench: Bench, store_url: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "adapter.api.server",
            "--store-url",
            store_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "ab"),  # noqa: SIM115 (the child keeps it)
    )
    bench.processes.append(process)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as http:
        deadline = time.perf_counter() + 30
        while True:
            try:
                if (await http.get("/v1/availability", params={"limit": 1})).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() > deadline:
                raise TimeoutError("the read API did not start")
            await asyncio.sleep(0.05)
    return process, base


class Reads:
    """Requests at a steady rate (each its own task: a slow answer does not slow the rate)."""

    def __init__(self, base: str, rate: float, pairs: list[tuple[int, str]]) -> None:
        self.base, self.rate, self.pairs = base, rate, pairs
        self.latencies: list[float] = []
        self.errors = 0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        rng = random.Random(7)
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=self.base, limits=limits, timeout=30) as http:
            tasks: set[asyncio.Task[None]] = set()
            interval, next_at = 1.0 / self.rate, time.perf_counter()
            n = 0
            while not self._stop.is_set():
                office, hpr = rng.choice(self.pairs)
                kind = n % 10
                if kind < 7:
                    path, params = f"/v1/offices/{office}/practitioners/{hpr}/availability", {}
                elif kind < 9:
                    path, params = f"/v1/offices/{office}/availability", {}
                else:
                    path, params = "/v1/availability", {"limit": 500}
                task = asyncio.create_task(self._one(http, path, params))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n += 1
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            await asyncio.gather(*tasks)

    async def _one(self, http: httpx.AsyncClient, path: str, params: dict[str, int]) -> None:
        started = time.perf_counter()
        try:
            answer = await http.get(path, params=params)
            ok = answer.status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            self.latencies.append(time.perf_counter() - started)
        else:
            self.errors += 1

    def stop(self) -> None:
        self._stop.set()


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) >= 2 else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def store_only(rounds: list[list], rosters: list, pairs: list[tuple[int, str]], rate: float) -> None:
    """The three rounds with the service layer as the writer, in this process; the read API and the
    reads' client each in a process of their own (so neither takes this process's CPU)."""
    from adapter.bootstrap import default_settings, processor
    from adapter.service.commands import Work
    from adapter.store import open_store
    from adapter.worker.clock import SystemClock

    with tempfile.TemporaryDirectory(prefix="ddfl-bench-reads-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'store.sqlite3'}"
        store = await open_store(url)
        service = processor(store, default_settings(http_port=None), SystemClock())
        bench = Bench(None, Path(tmp))  # no broker: only the processes are kept

        async def write(bodies: list[bytes]) -> tuple[float, float]:
            """(messages per second, the writer's own CPU µs per message)."""
            started, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(bodies), 256):
                done = await service.process([Work(kind="xml", body=b) for b in bodies[start : start + 256]])
                assert all(d.ok for d in done)
                await asyncio.sleep(0)  # as the pipeline yields between batches
            return len(bodies) / (time.perf_counter() - started), (time.process_time() - cpu) / len(bodies) * 1e6

        await write([m.body for m in rosters])
        api, base = await start_api(bench, url, Path(tmp) / "api.log")
        pairs_file = Path(tmp) / "pairs.json"
        pairs_file.write_text(json.dumps(pairs))
        try:
            for number, bodies in enumerate(rounds, start=1):
                client = None
                if number == 2:
                    client = subprocess.Popen(
                        [sys.executable, __file__, "--client", base, "--rate", str(rate), "--pairs", str(pairs_file)],
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                    await asyncio.to_thread(client.stdout.readline)  # READY
                api_cpu = cpu_seconds(api.pid)
                rate_written, writer_cpu = await write([m.body for m in bodies])
                line = f"  round {number}: {rate_written:8.0f} msg/s written, writer CPU {writer_cpu:5.0f} µs/msg"
                wal = Path(url.removeprefix("sqlite:///") + "-wal")
                line += f", WAL {wal.stat().st_size / 2**20 if wal.exists() else 0:5.1f} MiB"
                if client is not None:
                    line += f", API CPU {cpu_seconds(api.pid) - api_cpu:5.1f} s"
                    client.send_signal(signal.SIGTERM)
                    out, _ = await asyncio.to_thread(client.communicate, None, 60)
                    line += "   " + out.strip()
                else:
                    line += "   (no reads)"
                print(line, flush=True)
        finally:
            api.terminate()
            await asyncio.to_thread(api.wait, 30)
            await store.close()


async def client(base: str, rate: float, pairs_file: Path) -> None:
    """--client: reads at a steady rate until SIGTERM, then one line of figures on stdout."""
    pairs = [tuple(p) for p in json.loads(pairs_file.read_text())]
    reads = Reads(base, rate, pairs)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, reads.stop)
    print("READY", flush=True)
    await reads.run()
    print(
        f"with {len(reads.latencies)} reads answered ({reads.errors} errors),"
        f" p50 {pct(reads.latencies, 50):.1f} ms, p99 {pct(reads.latencies, 99):.1f} ms",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=30000, help="status messages in all three rounds")
    parser.add_argument("--rate", type=float, default=200.0, help="reads per second in the middle round")
    parser.add_argument("--store-only", action="store_true", help="the service layer as the writer, no broker")
    parser.add_argument("--client", metavar="BASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--pairs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        await client(args.client, args.rate, args.pairs)
        return

    updates = max(3, round(args.messages / (OFFICES * GPS)))
    updates -= updates % 3
    rosters, statuses = messages(11, OFFICES, GPS, updates)
    third = len(statuses) // 3
    rounds = [statuses[i * third : (i + 1) * third] for i in range(3)]
    pairs = sorted({(m.office_her_id, m.practitioner_hpr or "") for m in statuses})
    print(
        f"reads{' (store only, no broker)' if args.store_only else ''}: 3 rounds of {third} status messages (Ack J) for {len(pairs)} GPs at {OFFICES} offices; "
        f"reads at {args.rate:.0f}/s in round 2 (70% one pair, 20% one office, 10% a page of 500)"
    )
    if args.store_only:
        await store_only(rounds, rosters, pairs, args.rate)
        return

    connection = await aio_pika.connect_robust(AMQP_URL)
    with tempfile.TemporaryDirectory(prefix="ddfl-bench-reads-") as tmp:
        bench = Bench(connection, Path(tmp))
        try:
            prefix = f"bench-{uuid.uuid4().hex[:8]}"
            env = bench.adapter_env(prefix)
            log = bench.tmp / "reads.log"
            await bench.declare(env["DDFL_INBOUND_QUEUE"], inbound_args(env["DDFL_DEAD_LETTER_QUEUE"]))
            await bench.declare(env["DDFL_PORTAL_QUEUE"])
            receipts = await prepare_adapter(bench, env, log, rosters, {m.office_her_id for m in rosters})
            await bench.count([env["DDFL_PORTAL_QUEUE"]])
            api, base = await start_api(bench, env["DDFL_STORE_URL"], bench.tmp / "api.log")
            figures = []
            for number, bodies in enumerate(rounds, start=1):
                await bench.fill(env["DDFL_INBOUND_QUEUE"], [m.body for m in bodies])
                reads = Reads(base, args.rate, pairs) if number == 2 else None
                reading = asyncio.create_task(reads.run()) if reads else None
                wanted = receipts.n + len(bodies)
                process, t0 = await bench.start_adapter(env, log)
                await until(lambda wanted=wanted: receipts.n >= wanted, 900, f"round {number}")
                rate = len(bodies) / (receipts.last - t0)
                if reads and reading:
                    reads.stop()
                    await reading
                await bench.stop(process)
                figures.append((number, rate, reads))
            for number, rate, reads in figures:
                line = f"  round {number}: {rate:8.0f} msg/s written"
                if reads:
                    line += (
                        f"   with {len(reads.latencies)} reads answered ({reads.errors} errors),"
                        f" p50 {pct(reads.latencies, 50):.1f} ms, p99 {pct(reads.latencies, 99):.1f} ms"
                    )
                else:
                    line += "   (no reads)"
                print(line)
            quiet = statistics.mean([figures[0][1], figures[2][1]])
            print(f"  write rate with reads / without (mean of rounds 1, 3): {figures[1][1] / quiet:.2f}")
            api.terminate()
            await asyncio.to_thread(api.wait, 30)
        finally:
            await bench.cleanup()
            await connection.close()


if __name__ == "__main__":
    asyncio.run(main())
