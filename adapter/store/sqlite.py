"""SQLite backend: the embedded default, for one process.

The stdlib driver is called synchronously from the coroutines: a statement takes microseconds,
far less than a hop to a worker thread would. The exception is the commit of a transaction that
wrote to a file: it waits for an fsync (and now and then a checkpoint), so it runs in a thread
while the event loop goes on. One connection, in autocommit mode with explicit
BEGIN IMMEDIATE / COMMIT, journal_mode=WAL and synchronous=FULL, so a committed transaction
(hence an acknowledged message) survives a crash or power loss. Batching many messages into one
transaction is what makes this fast: the cost of a commit is one fsync of the WAL.

One process only: the store holds an exclusive lock on `FILE.lock` beside the database for its
life, and a second process (or a second store in the same process) that opens the file is
refused with StoreInUse. The adapter's guarantees rest on one writer (one relay, one clock, one
office decided at a time); replicas need PostgreSQL. The kernel drops the lock when the process
ends, however it ends, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import Awaitable, Sequence
from typing import Any

from adapter.store.base import StoreContention, StoreInUse
from adapter.store.sql import SQLITE, SqlStore

BUSY_TIMEOUT_MS = 5000
MEMORY = ":memory:"
#: INSERT ... ON CONFLICT (upsert) arrived in SQLite 3.24.
MIN_VERSION = (3, 24, 0)
LOCK_SUFFIX = ".lock"


class SqliteBackend:
    dialect = SQLITE

    def __init__(self, connection: sqlite3.Connection, lock_fd: int | None = None, offload: bool = False) -> None:
        self.connection = connection
        self._lock_fd = lock_fd
        #: The open transaction runs with synchronous=NORMAL (restored to FULL when it ends).
        self._relaxed = False
        #: Whether a commit that writes runs in a thread (a file's: it waits for an fsync).
        self._offload = offload
        #: The connection's total_changes when the open transaction began.
        self._changes = 0

    async def begin(self, durable: bool = True) -> None:
        if not durable:
            # WAL with NORMAL: the commit is not fsynced; the next FULL commit (or checkpoint)
            # syncs the WAL up to its end, this transaction included, so it is never lost while
            # a later one survives.
            self.connection.execute("PRAGMA synchronous = NORMAL")
            self._relaxed = True
        try:
            self.connection.execute("BEGIN IMMEDIATE")
            self._changes = self.connection.total_changes
        except sqlite3.OperationalError as error:
            self._restore()
            # Another connection (a tool beside the adapter) held the write lock past busy_timeout.
            if "locked" in str(error):
                raise StoreContention(f"SQLite database is locked ({error})") from error
            raise

    async def commit(self) -> None:
        try:
            if self._offload and not self._relaxed and self.connection.total_changes != self._changes:
                # A durable commit waits for the WAL's fsync (and, every thousand pages, for a
                # checkpoint): in a thread, the event loop goes on reading deliveries and
                # confirms meanwhile (issue 14); the store's lock keeps everyone else off the
                # connection until it is done.
                await _to_the_end(asyncio.to_thread(self.connection.execute, "COMMIT"))
            else:
                self.connection.execute("COMMIT")
        finally:
            self._restore()

    async def rollback(self) -> None:
        try:
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
        finally:
            self._restore()

    def _restore(self) -> None:
        if self._relaxed and not self.connection.in_transaction:
            self.connection.execute("PRAGMA synchronous = FULL")
            self._relaxed = False

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.connection.execute(sql, params).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        return self.connection.executemany(sql, rows).rowcount

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, params).fetchall()

    # BEGIN IMMEDIATE makes a transaction the only writer, and the file lock makes this process
    # the only one: there is nothing to lock and nobody to lead.

    async def lock(self, names: Sequence[str]) -> None:
        pass

    async def try_lock_session(self, name: str) -> bool:
        return True

    async def unlock_session(self, name: str) -> None:
        pass

    async def close(self) -> None:
        try:
            self.connection.close()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None


async def _to_the_end(work: Awaitable[Any]) -> None:
    """Await `work` to its end even when cancelled meanwhile (then raise CancelledError after it):
    a rollback must never run beside a commit still under way in its thread."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError


def lock_exclusively(path: str) -> int:
    """An exclusive lock on `path`.lock for this store's life (its file descriptor); StoreInUse
    when another process (or another open store of this one) holds it."""
    lock_path = path + LOCK_SUFFIX
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreInUse(
            f"the SQLite store {path!r} is in use by another process (it holds {lock_path!r}):"
            " a SQLite store serves one process; stop the other one, or run replicas on PostgreSQL"
            " (DDFL_STORE_URL=postgresql://...)"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def connect(path: str) -> sqlite3.Connection:
    """A connection configured for the store: WAL (for a file), synchronous=FULL, busy_timeout."""
    if sqlite3.sqlite_version_info < MIN_VERSION:
        raise RuntimeError(f"SQLite {sqlite3.sqlite_version} is too old: the store needs 3.24+")
    # check_same_thread off: a commit runs in a worker thread (SqliteBackend.commit), one at a
    # time under the store's lock; the library itself is built serialized (threadsafety 3).
    connection = sqlite3.connect(path, isolation_level=None, cached_statements=256, check_same_thread=False)
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
    connection = connect(path)  # first: a path that cannot be opened fails as it always did
    try:
        lock_fd = None if path == MEMORY else lock_exclusively(path)
    except BaseException:
        connection.close()
        raise
    return await SqlStore.open(SqliteBackend(connection, lock_fd, offload=path != MEMORY))
