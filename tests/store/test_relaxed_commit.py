"""Marking outbox rows sent commits without an fsync of its own (issue 14: on SQLite the fsync
held the event loop once per relay round). Losing such a mark to a power loss only publishes its
rows again under the same message ids, as a crash between publishing and marking always could;
every other transaction stays durable (synchronous=FULL, PostgreSQL's synchronous_commit on)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from adapter.store import OutboxMessage, Store, open_store
from adapter.store.sql import SqlStore

NOW = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)


def connection_of(store: Store) -> sqlite3.Connection:
    assert isinstance(store, SqlStore)
    return store._db.connection  # type: ignore[attr-defined,no-any-return]


async def add_rows(store: Store, n: int) -> list[int]:
    async with store.transaction() as tx:
        await tx.outbox_add(*(OutboxMessage("portal.availability", f"m{i}", b"{}") for i in range(n)))
    return [row.id for row in await store.outbox_pending(n)]


async def test_sqlite_marks_sent_with_synchronous_normal_and_returns_to_full(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        ids = await add_rows(store, 3)
        statements: list[str] = []
        connection_of(store).set_trace_callback(statements.append)
        assert await store.outbox_mark_sent(ids, NOW) == 3
        connection_of(store).set_trace_callback(None)
        marked = [s for s in statements if s.startswith("UPDATE outbox SET sent_at")]
        assert [s for s in statements if s not in marked] == [
            "PRAGMA synchronous = NORMAL",
            "BEGIN IMMEDIATE",
            "COMMIT",
            "PRAGMA synchronous = FULL",
        ]
        assert len(marked) == 3
        assert connection_of(store).execute("PRAGMA synchronous").fetchone() == (2,), "FULL again"
        assert await store.outbox_backlog() == 0
    finally:
        await store.close()


async def test_sqlite_every_other_transaction_stays_synchronous_full(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        ids = await add_rows(store, 1)
        await store.outbox_mark_sent(ids, NOW)
        async with store.transaction() as tx:
            level = connection_of(store).execute("PRAGMA synchronous").fetchone()
            await tx.outbox_add(OutboxMessage("portal.availability", "after", b"{}"))
        assert level == (2,), "the unit of work after a mark commits with synchronous=FULL"
    finally:
        await store.close()


async def test_sqlite_a_mark_that_cannot_begin_leaves_synchronous_full(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = await open_store(f"sqlite:///{path}")
    tool = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        ids = await add_rows(store, 1)
        connection_of(store).execute("PRAGMA busy_timeout = 0")
        tool.execute("BEGIN IMMEDIATE")  # a tool beside the adapter holds the write lock
        with pytest.raises(Exception, match="locked"):
            await store.outbox_mark_sent(ids, NOW)
        tool.execute("ROLLBACK")
        assert connection_of(store).execute("PRAGMA synchronous").fetchone() == (2,)
        assert await store.outbox_mark_sent(ids, NOW) == 1
    finally:
        tool.close()
        await store.close()


@pytest.mark.postgres
async def test_postgresql_marks_sent_without_waiting_for_the_wal_flush_only_then(postgres_schema_url: str) -> None:
    store = await open_store(postgres_schema_url)
    try:
        assert isinstance(store, SqlStore)
        db = store._db
        async with store.transaction(durable=False):
            relaxed = await db.fetchall("SHOW synchronous_commit")
        async with store.transaction():
            durable = await db.fetchall("SHOW synchronous_commit")
        assert (relaxed, durable) == ([("off",)], [("on",)])
        ids = await add_rows(store, 2)
        assert await store.outbox_mark_sent(ids, NOW) == 2
        assert await store.outbox_backlog() == 0
    finally:
        await store.close()
