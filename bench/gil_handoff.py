"""How long a store commit that ends in a thread waits to hand its result back to a busy event
loop, by the interpreter's switch interval (issue 14).

    python bench/gil_handoff.py [--rounds 3] [--commits 300]

The event loop's thread is kept busy as the adapter's is at a steady rate: pure Python work in
slices of about 1 ms (a delivery parsed), with a loop round between two. Beside it, one coroutine
after another "commits": `asyncio.to_thread` of a 1 ms wait that releases the GIL, as SQLite's
fsync does. Printed per switch interval (alternated, round by round): how much longer than the
wait itself each commit took, p50 / p90 / p99 / max. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

FSYNC = 0.001


def slice_of_work() -> None:
    """About a millisecond of pure Python (it holds the GIL throughout)."""
    total = 0
    for i in range(20_000):
        total += i * i
    if total < 0:
        raise AssertionError


async def run(interval: float, commits: int) -> list[float]:
    sys.setswitchinterval(interval)
    stop = False

    async def busy() -> None:
        while not stop:
            slice_of_work()
            await asyncio.sleep(0)

    worker = asyncio.create_task(busy())
    extra: list[float] = []
    try:
        for _ in range(commits):
            t0 = time.perf_counter()
            await asyncio.to_thread(time.sleep, FSYNC)
            extra.append((time.perf_counter() - t0 - FSYNC) * 1000)
    finally:
        stop = True
        await worker
    return sorted(extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument("--intervals", type=float, nargs="+", default=[0.005, 0.0005])
    args = parser.parse_args()
    for i in range(args.rounds):
        intervals = args.intervals if i % 2 == 0 else args.intervals[::-1]
        for interval in intervals:
            extra = asyncio.run(run(interval, args.commits))
            q = statistics.quantiles(extra, n=100)
            print(
                f"round {i + 1} switch interval {interval * 1000:4.1f} ms: a commit's wait beyond its 1 ms, "
                f"p50 {q[49]:.2f}  p90 {q[89]:.2f}  p99 {q[98]:.2f}  max {extra[-1]:.2f} ms  "
                f"(load {os.getloadavg()[0]:.1f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
