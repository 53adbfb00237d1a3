"""The latency bench's traffic through the worker's per-message path in process, one message a batch.

    python bench/latency_path.py [--messages 4000] [--profile FILE] [--calls]

`bench/throughput.py --only latency` publishes status messages for 1,000 GPs at 20 offices at a
steady 200 msg/s; on a quiet machine each then comes alone (a batch of one). This runs the same
messages (the same generator and seed) through the processor (parse → handler → engine → store
commit) and the relay (outbox read, published to memory, marked sent) on a SQLite file, one
message per transaction, and prints the distribution of the CPU each took: a message whose own
handling costs tens of milliseconds holds every message behind it in the real worker, which
handles one batch at a time on one event loop. With `--calls`, Python function calls per message
(cProfile's count, the same whatever the machine's load) instead of CPU time. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from throughput import messages  # noqa: E402

from adapter.bootstrap import MemoryPublisher, isolated_settings  # noqa: E402
from adapter.bootstrap import processor as build_processor  # noqa: E402
from adapter.service.commands import Work  # noqa: E402
from adapter.store import open_store  # noqa: E402
from adapter.worker.clock import SystemClock  # noqa: E402
from adapter.worker.relay import Relay  # noqa: E402


def calls(profile: cProfile.Profile) -> int:
    return sum(calls for _, calls, *_ in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]


async def run(n: int, profile_to: Path | None, count_calls: bool) -> None:
    rosters, statuses = messages(2, 20, 50, max(1, round(n / 1000)))
    statuses = statuses[:n]
    with tempfile.TemporaryDirectory(prefix="ddfl-latency-path-") as tmp:
        clock = SystemClock()
        store = await open_store(f"sqlite:///{Path(tmp) / 'store.sqlite3'}")
        processor = build_processor(store, isolated_settings("latency-path"), clock)
        relay = Relay(store, MemoryPublisher(lambda row: None), clock.now)
        await processor.process([Work(kind="xml", body=m.body, headers={}) for m in rosters])
        await relay.flush()
        costs: list[tuple[float, float, int]] = []  # (process, relay, events) per message
        whole = cProfile.Profile(time.process_time) if profile_to else None
        for message in statuses:
            profile = cProfile.Profile() if count_calls else None
            if whole is not None:
                whole.enable()
            if profile is not None:
                profile.enable()
            c0 = time.process_time()
            (done,) = await processor.process([Work(kind="xml", body=message.body, headers={})])
            c1 = time.process_time()
            await relay.flush()
            c2 = time.process_time()
            if profile is not None:
                profile.disable()
            if whole is not None:
                whole.disable()
            if profile is not None:
                costs.append((calls(profile), 0.0, done.events))
            else:
                costs.append(((c1 - c0) * 1e3, (c2 - c1) * 1e3, done.events))
        await store.close()
    if whole is not None and profile_to is not None:
        whole.dump_stats(profile_to)
    unit = "calls" if count_calls else "ms CPU"
    print(f"latency path: {len(statuses)} status messages, one per transaction, in process; {unit} per message")
    for name, values in (("process", [c[0] for c in costs]), ("relay", [c[1] for c in costs])):
        if not any(values):
            continue
        ordered = sorted(values)
        q = statistics.quantiles(ordered, n=100)
        print(
            f"  {name:8} mean {statistics.fmean(ordered):9.2f}  p50 {q[49]:9.2f}  p90 {q[89]:9.2f}  "
            f"p99 {q[98]:9.2f}  max {ordered[-1]:9.2f}  sum {sum(ordered):10.1f}"
        )
    slowest = sorted(range(len(costs)), key=lambda i: -costs[i][0])[:8]
    print("  the slowest (message number: cost): " + ", ".join(f"{i}: {costs[i][0]:.1f}" for i in slowest))
    by_events: dict[int, list[float]] = {}
    for cost, _, events in costs:
        by_events.setdefault(events, []).append(cost)
    for events, values in sorted(by_events.items()):
        print(f"  {len(values):5} messages with {events} event(s): mean {statistics.fmean(values):9.2f} {unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--profile", type=Path, help="a CPU-time cProfile of the measured part, to this file")
    parser.add_argument("--calls", action="store_true", help="count Python calls per message instead of CPU")
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.profile, args.calls))


if __name__ == "__main__":
    main()
