"""The CPU the processor spends deciding (parsing excluded), in batches, in process.

    python bench/decide_batch.py [--messages 4000] [--batch 256] [--calls] [--profile FILE]

The throughput bench's traffic (`bench/throughput.py --only throughput`: status messages for 2,000
GPs at 40 offices, after their rosters) through the processor on a SQLite file, `--batch`
messages a transaction (256: the worker's default; 1: the latency path's one message a
transaction). Every message is parsed before the clock starts (`Processor.prepare`, as the
parsing workers or the delivery's coroutine do), so the figure is the batch's transaction only:
load, decide, stage, write, commit. The worker's GC settings (`adapter/cli.py`). Prints the CPU
per message of the whole run (or, with `--calls`, Python calls per message: cProfile's count, the
same whatever the load) and the load average. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from throughput import messages  # noqa: E402

from adapter.bootstrap import isolated_settings  # noqa: E402
from adapter.bootstrap import processor as build_processor  # noqa: E402
from adapter.service.commands import Work  # noqa: E402
from adapter.store import open_store  # noqa: E402
from adapter.worker.clock import SystemClock  # noqa: E402


async def run(n: int, batch: int, count_calls: bool, profile_to: Path | None) -> None:
    offices, gps = 40, 50
    rosters, statuses = messages(1, offices, gps, max(1, round(n / (offices * gps))))
    statuses = statuses[:n]
    with tempfile.TemporaryDirectory(prefix="ddfl-decide-batch-") as tmp:
        clock = SystemClock()
        store = await open_store(f"sqlite:///{Path(tmp) / 'store.sqlite3'}")
        processor = build_processor(store, isolated_settings("decide-batch"), clock)
        await processor.process([Work(kind="xml", body=m.body, headers={}) for m in rosters])
        works = [processor.prepare(Work(kind="xml", body=m.body, headers={})) for m in statuses]
        gc.collect()
        gc.set_threshold(50_000, 20, 100)
        gc.freeze()
        profile = cProfile.Profile(time.process_time) if profile_to else cProfile.Profile() if count_calls else None
        events = 0
        cpu = time.process_time()
        if profile is not None:
            profile.enable()
        for start in range(0, len(works), batch):
            events += sum(done.events for done in await processor.process(works[start : start + batch]))
        if profile is not None:
            profile.disable()
        cpu = time.process_time() - cpu
        await store.close()
    if profile_to is not None and profile is not None:
        profile.dump_stats(profile_to)
    what = f"{len(works)} status messages, {batch} a transaction, {events} events"
    if count_calls and profile is not None:
        total = sum(c for _, c, *_ in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]
        print(f"decide: {what}: {total / len(works):.1f} Python calls per message")
    else:
        print(f"decide: {what}: {cpu / len(works) * 1e6:.0f} µs CPU per message (load {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--calls", action="store_true", help="count Python calls per message instead of CPU")
    parser.add_argument("--profile", type=Path, help="a CPU-time cProfile of the measured part, to this file")
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.batch, args.calls, args.profile))


if __name__ == "__main__":
    main()
