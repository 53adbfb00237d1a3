"""A SQLite file store's connections beside the writer (issue 14, `adapter.store.sqlite.Aside`):
the relay and the clock read committed rows without waiting for the transaction under way (it holds the
store's lock through its fsync), the WAL is checkpointed in a thread of its own instead of inside
whichever commit filled it, and the retention round's COUNT(*)s run off the event loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import adapter.store.sqlite as sqlite_store
from adapter.store import OutboxMessage, Store, open_store
from adapter.store.sql import SqlStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = await open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    assert isinstance(store, SqlStore)
    yield store
    await store.close()


def aside_of(store: SqlStore) -> sqlite_store.Aside:
    aside = store._db.aside
    assert isinstance(aside, sqlite_store.Aside)
    return aside


async def write(store: Store, *message_ids: str) -> None:
    async with store.transaction() as tx:
        await tx.outbox_add(*(OutboxMessage("portal.availability", m, b"{}") for m in message_ids))


async def test_pending_rows_are_read_while_a_transaction_holds_the_store(store: SqlStore) -> None:
    await write(store, "m1")
    in_transaction, finish = asyncio.Event(), asyncio.Event()

    async def next_batch() -> None:
        async with store.transaction() as tx:
            await tx.outbox_add(OutboxMessage("portal.availability", "m2", b"{}"))
            in_transaction.set()
            await finish.wait()

    batch = asyncio.create_task(next_batch())
    await asyncio.wait_for(in_transaction.wait(), 5)
    read = await asyncio.wait_for(store.outbox_pending(10), 1)  # no wait for the batch's commit
    assert [row.message_id for row in read] == ["m1"], "committed rows only"
    assert await asyncio.wait_for(store.outbox_backlog(), 1) == 1
    assert await asyncio.wait_for(store.next_due(), 1) is None  # the clock's reads too
    assert await asyncio.wait_for(store.due_pairs(dt.datetime.now(dt.UTC), 10), 1) == []
    finish.set()
    await batch
    assert [row.message_id for row in await store.outbox_pending(10)] == ["m1", "m2"]


async def test_the_writer_never_checkpoints_the_side_thread_does(
    store: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert store._db.connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)  # type: ignore[attr-defined]
    aside = aside_of(store)
    threads: list[int] = []
    aside._side.set_trace_callback(lambda sql: threads.append(threading.get_ident()) if "checkpoint" in sql else None)
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 0.0)
    started = aside.checkpoints
    await write(store, "m1")
    assert aside.checkpoints == started + 1
    assert aside._checkpoint is not None
    await asyncio.wait_for(aside._checkpoint, 5)
    assert threads and threading.get_ident() not in threads
    # Copied into the database file itself: a connection that ignores the WAL finds the row.
    copy = sqlite3.connect(f"file:{tmp_path / 'store.sqlite3'}?mode=ro&immutable=1", uri=True)
    try:
        assert copy.execute("SELECT message_id FROM outbox").fetchall() == [("m1",)]
    finally:
        copy.close()


async def test_checkpoints_are_spaced_and_one_at_a_time(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    aside = aside_of(store)
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 3600.0)
    started = aside.checkpoints
    for i in range(5):
        await write(store, f"m{i}")
    assert aside.checkpoints == started, "none before the interval has passed"


async def test_a_wal_the_side_checkpoints_fall_behind_on_is_copied_by_the_writers_next_commit(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    aside = aside_of(store)
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 0.0)
    monkeypatch.setattr(sqlite_store, "BEHIND_FRAMES", 1)  # any WAL is "too long"
    await write(store, "m1")
    assert aside._checkpoint is not None
    await asyncio.wait_for(aside._checkpoint, 5)
    assert aside.behind
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 3600.0)  # no side checkpoint in between
    writer: list[tuple[str, int]] = []
    store._db.connection.set_trace_callback(lambda sql: writer.append((sql, threading.get_ident())))  # type: ignore[attr-defined]
    await write(store, "m2")
    checkpoints = [thread for sql, thread in writer if "wal_checkpoint" in sql]
    assert len(checkpoints) == 1 and checkpoints[0] != threading.get_ident(), "in the commit's thread"
    assert not aside.behind
    await write(store, "m3")
    assert [thread for sql, thread in writer if "wal_checkpoint" in sql] == checkpoints, "once"


async def test_retained_rows_are_counted_off_the_event_loop(store: SqlStore) -> None:
    await write(store, "m1", "m2")
    threads: list[int] = []
    aside_of(store)._side.set_trace_callback(lambda sql: threads.append(threading.get_ident()))
    held = await store.retained_rows()
    assert held.outbox_unsent == 2
    assert threads and threading.get_ident() not in threads


async def test_an_in_memory_store_has_nothing_beside_it() -> None:
    store = await open_store("sqlite:///:memory:")
    try:
        assert isinstance(store, SqlStore) and store._db.aside is None
        await write(store, "m1")
        assert [row.message_id for row in await store.outbox_pending(10)] == ["m1"]
        assert (await store.retained_rows()).outbox_unsent == 1
    finally:
        await store.close()
