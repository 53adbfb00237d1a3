"""How fast the store commits the work of one message: a pair update, an inbox row, an outbox row.

Compares one transaction per message with one transaction per batch, in the same run, for
SQLite (a file, WAL, synchronous=FULL) and for PostgreSQL when one is reachable. Prints figures;
asserts nothing.

    python bench/store.py [--messages N] [--batch B] [--postgres URL] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapter.store import OutboxMessage, Store, open_store

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
ROWS_PER_MESSAGE = 3
STATE = '{"services":{"TIMEBESTILLING":"AVAILABLE","RESEPTFORNYELSE":"AVAILABLE"},"seq":%d}'


async def run(store: Store, messages: int, batch: int, tag: str) -> float:
    """Commit `messages` units of work, `batch` per transaction; returns messages per second."""
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    started = time.perf_counter()
    for first in range(0, messages, batch):
        async with store.transaction() as tx:
            for n in range(first, min(first + batch, messages)):
                office, hpr = 8_000_000 + n % 50, str(1_000_000 + n % 997)
                await tx.put_pair(office, hpr, STATE % n, t0 + dt.timedelta(minutes=n))
                await tx.inbox_put(str(office), f"{tag}-{n}", '{"status":"OK"}', t0)
                await tx.outbox_add(OutboxMessage("portal.availability", f"{tag}-ev-{n}", b'{"e":%d}' % n))
    return messages / (time.perf_counter() - started)


@asynccontextmanager
async def sqlite_store(directory: str | None) -> AsyncIterator[Store]:
    with tempfile.TemporaryDirectory(dir=directory, prefix="bench-store-") as tmp:
        store = await open_store(f"sqlite:///{tmp}/bench.sqlite3")
        try:
            yield store
        finally:
            await store.close()


@asynccontextmanager
async def postgres_store(url: str) -> AsyncIterator[Store]:
    import psycopg

    schema = f"ddfl_bench_{uuid.uuid4().hex[:12]}"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
        await admin.execute(f"CREATE SCHEMA {schema}")
        separator = "&" if "?" in url else "?"
        store = await open_store(f"{url}{separator}options=-csearch_path%3D{schema}")
        try:
            yield store
        finally:
            await store.close()
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")


async def bench(name: str, opener: Callable[[], AbstractAsyncContextManager[Store]], messages: int, batch: int) -> None:
    async with opener() as store:
        # Warm up (schema pages, statement caches), then measure both modes in the same store.
        await run(store, min(200, messages), batch, "warm")
        single = await run(store, messages, 1, "single")
        batched = await run(store, messages, batch, "batched")
    for mode, per_second in (("1 msg/tx", single), (f"{batch} msg/tx", batched)):
        print(
            f"{name:<11} {mode:<11} {ROWS_PER_MESSAGE * per_second:>9,.0f} rows/s"
            f"  {per_second:>8,.0f} msg/s  {1e6 / per_second:7.1f} µs/msg"
        )
    print(f"{name:<11} batching is x{batched / single:.1f} faster")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="'' to leave it out")
    parser.add_argument("--dir", default=None, help="where the SQLite file goes (default: temp)")
    args = parser.parse_args()
    print(f"{args.messages} messages of {ROWS_PER_MESSAGE} rows: put_pair, inbox_put, outbox_add")
    await bench("sqlite", lambda: sqlite_store(args.dir), args.messages, args.batch)
    if not args.postgres:
        return
    try:
        import psycopg
    except ImportError as error:
        print(f"postgresql  skipped: {error}")
        return
    try:
        await (await psycopg.AsyncConnection.connect(args.postgres, connect_timeout=3)).close()
    except psycopg.Error as error:
        print(f"postgresql  skipped: {str(error).strip()}")
        return
    await bench("postgresql", lambda: postgres_store(args.postgres), args.messages, args.batch)


if __name__ == "__main__":
    asyncio.run(main())
