"""Where does a long history cost the worker more? The per-message path of `bench/growth.py`, in process.

    python bench/growth_path.py [--store DIR] [--round 100] [--rounds 3] [--instructions]

`bench/growth.py` measures the real worker and finds its B rounds (GPs with 1,500+ hourly reports,
a full bounded state) costlier than its A rounds (GPs never heard of before); this script finds
where. It runs the worker's own per-message path without the broker — the processor
(parse → handler → engine → store commit, `DDFL_BATCH_SIZE=1`: one message per transaction) and
the relay (outbox read, published to memory, marked sent) — on a SQLite file, for the same
traffic as `growth.py` (its `traffic()`), so deterministic measures can say what differs:

- Python function calls per message (cProfile's count: the same whatever the machine's load),
  with the functions whose counts differ most between A and B;
- with `--instructions`, instructions per message under `valgrind --tool=callgrind` (also
  deterministic): each kind runs twice in a child process, without and with `--round` messages,
  and the difference is divided by their number;
- CPU time per message (`process_time`), which load disturbs.

The store after the history (`--gps` GPs x `--reports` syncs, taken in 256 per transaction, and a
fresh round to warm up) and the traffic are built once into `--store DIR` and reused: every run
starts from a copy. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pickle
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from growth import Traffic, traffic  # noqa: E402

from adapter.bootstrap import MemoryPublisher, isolated_settings  # noqa: E402
from adapter.bootstrap import processor as build_processor  # noqa: E402
from adapter.service.commands import Work  # noqa: E402
from adapter.store import open_store  # noqa: E402
from adapter.store.base import Store  # noqa: E402
from adapter.worker.clock import SystemClock  # noqa: E402
from adapter.worker.relay import Relay  # noqa: E402

STORE, TRAFFIC = "store.sqlite3", "traffic.pickle"
VALGRIND = ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null")


class Worker:
    """The processor and the relay over one store, as `ddfl-adapter run` wires them; what the
    relay publishes goes to memory."""

    def __init__(self, store: Store) -> None:
        clock = SystemClock()
        self.store = store
        self.processor = build_processor(store, isolated_settings("growth-path"), clock)
        self.relay = Relay(store, MemoryPublisher(lambda row: None), clock.now)

    @classmethod
    async def open(cls, path: Path) -> Worker:
        return cls(await open_store(f"sqlite:///{path}"))

    async def take(self, bodies: list[bytes], batch: int = 1) -> None:
        """Each batch committed, then its outbox published, as the pipeline and the relay do."""
        for start in range(0, len(bodies), batch):
            await self.processor.process([Work(kind="xml", body=b, headers={}) for b in bodies[start : start + batch]])
            await self.relay.flush()

    async def close(self) -> None:
        await self.store.close()


async def build(directory: Path, gps: int, reports: int, per_round: int, rounds: int) -> None:
    plan = traffic(10, gps, reports, per_round, rounds)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / TRAFFIC).write_bytes(pickle.dumps(plan))
    began = time.perf_counter()
    worker = await Worker.open(directory / STORE)
    await worker.take(plan.rosters, 256)
    await worker.take(plan.history, 256)
    await worker.take(plan.fresh[rounds], 1)  # warming up, as growth.py does
    await worker.close()
    print(f"  built {directory}: {len(plan.history)} messages of history in {time.perf_counter() - began:.0f} s")


def bodies_of(plan: Traffic, kind: str, k: int) -> list[bytes]:
    return plan.fresh[k] if kind == "A" else plan.old[k]


async def run_kind(directory: Path, kind: str, messages: int) -> None:
    """For --instructions: one copy of the store, `messages` of the first round of `kind`."""
    plan: Traffic = pickle.loads((directory / TRAFFIC).read_bytes())
    with tempfile.TemporaryDirectory(prefix="ddfl-growth-path-") as tmp:
        shutil.copy(directory / STORE, Path(tmp) / STORE)
        worker = await Worker.open(Path(tmp) / STORE)
        await worker.take(bodies_of(plan, kind, 0)[:messages])
        await worker.close()


def instructions(directory: Path, kind: str, messages: int) -> float:
    def collected(n: int) -> int:
        out = subprocess.run(
            [*VALGRIND, sys.executable, __file__, "--store", str(directory), "--kind", kind, "--messages", str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        return int(re.search(r"Collected : (\d+)", out.stderr).group(1))

    return (collected(messages) - collected(0)) / messages


def calls_by_function(profile: cProfile.Profile) -> dict[str, int]:
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return {f"{Path(f).name}:{line} {name}": calls for (f, line, name), (_, calls, *_) in stats.items()}


async def interleaved(directory: Path, per_round: int, rounds: int) -> None:
    plan: Traffic = pickle.loads((directory / TRAFFIC).read_bytes())
    rounds = min(rounds, len(plan.old))  # as many as the store was built for
    calls: dict[str, list[float]] = {"A": [], "B": []}
    cpu: dict[str, list[float]] = {"A": [], "B": []}
    functions: dict[str, dict[str, int]] = {"A": {}, "B": {}}
    with tempfile.TemporaryDirectory(prefix="ddfl-growth-path-") as tmp:
        shutil.copy(directory / STORE, Path(tmp) / STORE)
        worker = await Worker.open(Path(tmp) / STORE)
        for k in range(rounds):
            for kind in "AB":
                bodies = bodies_of(plan, kind, k)[:per_round]
                profile = cProfile.Profile()
                began = time.process_time()
                profile.enable()
                await worker.take(bodies)
                profile.disable()
                cpu[kind].append((time.process_time() - began) / len(bodies))
                counted = calls_by_function(profile)
                calls[kind].append(sum(counted.values()) / len(bodies))
                for name, n in counted.items():
                    functions[kind][name] = functions[kind].get(name, 0) + n
                print(
                    f"  round {kind}{k + 1}: {calls[kind][-1]:7.0f} calls/message, "
                    f"CPU {cpu[kind][-1] * 1e3:5.2f} ms/message (profiled)"
                )
        await worker.close()
    a, b = statistics.median(calls["A"]), statistics.median(calls["B"])
    print(f"  calls per message: A {a:.0f}, B {b:.0f} (B/A {b / a:.2f})")
    print(
        f"  CPU per message, profiled: A {statistics.median(cpu['A']) * 1e3:.2f} ms, B {statistics.median(cpu['B']) * 1e3:.2f} ms"
    )
    n = per_round * rounds
    names = functions["A"].keys() | functions["B"].keys()
    differ = sorted(names, key=lambda f: -abs(functions["B"].get(f, 0) - functions["A"].get(f, 0)))[:12]
    print("  the calls that differ most, per message (A → B):")
    for name in differ:
        print(f"    {functions['A'].get(name, 0) / n:7.1f} → {functions['B'].get(name, 0) / n:7.1f}  {name}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, help="where the built store and traffic are kept (default: a temp dir)")
    parser.add_argument("--gps", type=int, default=20)
    parser.add_argument("--reports", type=int, default=1500)
    parser.add_argument("--round", type=int, default=100, help="messages per measured round")
    parser.add_argument("--rounds", type=int, default=3, help="pairs of rounds (A then B)")
    parser.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    parser.add_argument("--kind", choices="AB", help=argparse.SUPPRESS)  # one kind, for --instructions
    parser.add_argument("--messages", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    scratch = None
    if args.store is None:
        scratch = tempfile.TemporaryDirectory(prefix="ddfl-growth-path-")
        args.store = Path(scratch.name)
    if args.kind is not None:
        await run_kind(args.store, args.kind, args.messages)
        return
    if not (args.store / STORE).exists():
        await build(args.store, args.gps, args.reports, max(args.round, 100), args.rounds)
    print(f"growth path: {args.round} messages per round, DDFL_BATCH_SIZE=1, in process (SQLite {args.store / STORE})")
    await interleaved(args.store, args.round, args.rounds)
    if args.instructions:
        a, b = (instructions(args.store, kind, args.round) for kind in "AB")
        print(f"  instructions per message (callgrind): A {a / 1e6:.2f} M, B {b / 1e6:.2f} M (B/A {b / a:.2f})")
    if scratch is not None:
        scratch.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
