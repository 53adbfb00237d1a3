"""How long the retention round's `retained_rows` (a COUNT(*) of every table) takes on a store
of a given size, and how long it held the event loop (issue 14).

    python bench/retained_rows.py [--inbox 150000 1000000] [--dir DIR]

For each size, a SQLite store is filled with that many inbox rows (each with a 300-byte
compressed AppRec, as the inbox keeps one) and as many timeline rows, 2,000 pairs and 500 offices,
then `retained_rows` is called five times while a heartbeat task beats every millisecond. Printed:
its wall time, the CPU time the event loop's thread spent in it (the loop held: steady whatever
the machine's load), and the longest gap between two beats (which a loaded machine inflates). A national population sends about
5,000 messages a day (bench/soak.py's default shares): about 150,000 in the 30 days the inbox
and the timeline keep. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from adapter.store.sqlite import open_sqlite


def fill(path: Path, rows: int) -> None:
    connection = sqlite3.connect(path)
    body = os.urandom(300)
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO inbox (sender, msg_id, outcome, received_at, reply_body) VALUES (?, ?, 'OK', ?, ?)",
        ((str(80000 + i % 500), f"{i:032x}", 1_700_000_000_000_000 + i, body) for i in range(rows)),
    )
    connection.executemany(
        "INSERT INTO timeline (office_her_id, practitioner_hpr, happened_at, kind, detail) VALUES (?, ?, ?, 'message', ?)",
        ((80000 + i % 500, str(i % 2000), 1_700_000_000_000_000 + i, '{"msg_id": "x"}') for i in range(rows)),
    )
    connection.executemany(
        "INSERT INTO pairs (office_her_id, practitioner_hpr, state, next_change_at) VALUES (?, ?, '{}', NULL)",
        ((80000 + i % 500, str(i)) for i in range(2000)),
    )
    connection.executemany(
        "INSERT INTO offices (office_her_id, state) VALUES (?, '{}')", ((80000 + i,) for i in range(500))
    )
    connection.execute("COMMIT")
    connection.close()


async def create(path: Path) -> None:
    await (await open_sqlite(str(path))).close()


async def measure(path: Path) -> tuple[list[float], float]:
    store = await open_sqlite(str(path))
    gaps: list[float] = []
    stop = False

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not stop:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    beating = asyncio.create_task(heartbeat())
    times, on_loop = [], []
    try:
        for _ in range(5):
            t0, cpu0 = time.perf_counter(), time.thread_time()
            await store.retained_rows()
            times.append(time.perf_counter() - t0)
            on_loop.append(time.thread_time() - cpu0)
            await asyncio.sleep(0.05)
    finally:
        stop = True
        await beating
        await store.close()
    return times, on_loop, max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inbox", type=int, nargs="+", default=[150_000, 1_000_000])
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for rows in args.inbox:
            path = Path(tmp) / f"store-{rows}.sqlite3"
            asyncio.run(create(path))
            fill(path, rows)
            times, on_loop, held = asyncio.run(measure(path))
            size = path.stat().st_size / 2**20
            print(
                f"inbox and timeline {rows:>9,} rows ({size:.0f} MiB): retained_rows median "
                f"{statistics.median(times) * 1000:.1f} ms (max {max(times) * 1000:.1f}), of it CPU on "
                f"the event loop's thread median {statistics.median(on_loop) * 1000:.1f} ms (max "
                f"{max(on_loop) * 1000:.1f}); longest loop gap {held * 1000:.1f} ms; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
