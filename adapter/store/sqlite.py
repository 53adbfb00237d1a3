"""SQLite backend: the embedded default.

The stdlib driver is called synchronously from the coroutines: a statement takes microseconds,
far less than a hop to a worker thread would. One connection, in autocommit mode with explicit
BEGIN IMMEDIATE / COMMIT, journal_mode=WAL and synchronous=FULL, so a committed transaction
(hence an acknowledged message) survives a crash or power loss. Batching many messages into one
transaction is what makes this fast: the cost of a commit is one fsync of the WAL.

A busy database (another process writing) blocks the event loop for up to busy_timeout; the
adapter is meant to be the database file's only writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from adapter.store.sql import SQLITE, SqlStore

BUSY_TIMEOUT_MS = 5000
MEMORY = ":memory:"
#: INSERT ... ON CONFLICT (upsert) arrived in SQLite 3.24.
MIN_VERSION = (3, 24, 0)


class SqliteBackend:
    dialect = SQLITE

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    async def begin(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    async def commit(self) -> None:
        self.connection.execute("COMMIT")

    async def rollback(self) -> None:
        if self.connection.in_transaction:
            self.connection.execute("ROLLBACK")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.connection.execute(sql, params).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        return self.connection.executemany(sql, rows).rowcount

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, params).fetchall()

    async def close(self) -> None:
        self.connection.close()


def connect(path: str) -> sqlite3.Connection:
    """A connection configured for the store: WAL (for a file), synchronous=FULL, busy_timeout."""
    if sqlite3.sqlite_version_info < MIN_VERSION:
        raise RuntimeError(f"SQLite {sqlite3.sqlite_version} is too old: the store needs 3.24+")
    connection = sqlite3.connect(path, isolation_level=None, cached_statements=256)
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if path != MEMORY:
            (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode.lower() != "wal":
                raise RuntimeError(f"SQLite refused WAL mode for {path!r} (journal_mode={mode})")
        connection.execute("PRAGMA synchronous = FULL")
    except BaseException:
        connection.close()
        raise
    return connection


async def open_sqlite(path: str) -> SqlStore:
    """The store in the SQLite file at `path` (created if missing), or in memory for ':memory:'."""
    return await SqlStore.open(SqliteBackend(connect(path)))
