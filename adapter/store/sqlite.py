"""SQLite backend: the embedded default, for one process.

The stdlib driver is called synchronously from the coroutines: a statement takes microseconds,
far less than a hop to a worker thread would. The exception is the durable commit of a larger
transaction that wrote to a file (more than `IN_PLACE_ROWS` rows): it waits for an fsync of the
WAL, so it runs in a thread while the event loop goes on; a small one (a message or a few) commits
in place, where the hop would cost more than the commit.
One writing connection, in autocommit mode with explicit BEGIN IMMEDIATE / COMMIT,
journal_mode=WAL and synchronous=FULL, so a committed transaction (hence an acknowledged message)
survives a crash or power loss. Batching many messages into one transaction is what makes this
fast: the cost of a commit is one fsync of the WAL.

A file store has two more connections, `Aside` (issue 14): one the event loop reads committed
rows on without waiting for the writer's transaction under way (the relay's pending rows: WAL
lets a reader go on beside the writer), and one in a thread of its own that copies the WAL back
into the database (checkpoints, which SQLite would otherwise run inside whichever commit filled
the WAL: a batch's, or on the event loop) and counts rows for the retention round.

One process only: the store holds an exclusive lock on `FILE.lock` beside the database for its
life, and a second process (or a second store in the same process) that opens the file is
refused with StoreInUse. The adapter's guarantees rest on one writer (one relay, one clock, one
office decided at a time); replicas need PostgreSQL. The kernel drops the lock when the process
ends, however it ends, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Sequence
from typing import Any

from adapter.store.base import StoreContention, StoreInUse
from adapter.store.sql import SQLITE, SqlStore

BUSY_TIMEOUT_MS = 5000
MEMORY = ":memory:"
#: INSERT ... ON CONFLICT (upsert) arrived in SQLite 3.24.
MIN_VERSION = (3, 24, 0)
LOCK_SUFFIX = ".lock"
#: Seconds between two checkpoints while commits write (SQLite's own would come every 1,000 pages
#: of WAL: about every 100 messages at a steady rate; one a second keeps the WAL to a few MB).
CHECKPOINT_EVERY = 1.0
#: WAL frames (pages) beyond which the writer copies the rest itself after its next durable
#: commit (`Aside.behind`): ten times SQLite's own checkpoint threshold, about 40 MB.
BEHIND_FRAMES = 10_000
#: Rows a durable commit may have changed and still commit in place, on the event loop: a batch
#: of one message changes 4-8. The hop of a commit to a thread and back cost about 250 µs of CPU
#: against about 200 µs for the commit itself (docs/throughput.md), once per message at a low rate;
#: a larger batch commits in a thread, the loop reading deliveries and confirms meanwhile.
IN_PLACE_ROWS = 32

log = logging.getLogger("ddfl.store")


class SqliteBackend:
    dialect = SQLITE

    def __init__(
        self,
        connection: sqlite3.Connection,
        lock_fd: int | None = None,
        offload: bool = False,
        aside: Aside | None = None,
    ) -> None:
        self.connection = connection
        self._lock_fd = lock_fd
        #: The open transaction runs with synchronous=NORMAL (restored to FULL when it ends).
        self._relaxed = False
        #: Whether a commit that writes runs in a thread (a file's: it may wait for the disk).
        self._offload = offload
        #: The connections beside this one (a file store's; None in memory).
        self.aside = aside
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
            changed = self.connection.total_changes - self._changes
            wrote = changed != 0
            if (
                self._offload
                and not self._relaxed
                and (changed > IN_PLACE_ROWS or (self.aside is not None and self.aside.behind))
            ):
                # A durable commit waits for the WAL's fsync: in a thread, the event loop goes on
                # reading deliveries and confirms meanwhile (issue 14); the store's lock keeps
                # everyone else off the connection until it is done. A relaxed one (the relay's
                # marks) commits in place: the hop to a thread and back, with the lock held, cost
                # the next batch more than the commit (docs/throughput.md). So does a small one
                # (a batch of a message or a few: a low rate, where the loop has little to do
                # meanwhile): the hop cost more CPU than the commit itself.
                await _to_the_end(asyncio.to_thread(self._commit_durably))
            else:
                self.connection.execute("COMMIT")
            if wrote and self.aside is not None:
                self.aside.written()
        finally:
            self._restore()

    def _commit_durably(self) -> None:
        self.connection.execute("COMMIT")
        if self.aside is not None and self.aside.behind:
            # The side's checkpoints keep missing the end of a WAL that writes never pause for
            # (it restarts only once copied to its end): copy the rest here, where no write can
            # come in between, so the next write starts the WAL over.
            self.aside.behind = False
            self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

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
            if self.aside is not None:
                await self.aside.close()  # first: the writer's close checkpoints what is left
            self.connection.close()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None


class Aside:
    """A file store's connections beside the writer (see the module's docstring).

    `fetch_committed` reads on the event loop, on a read-only connection of its own: it sees what
    is committed and never waits for the writer's transaction under way (nor for the store's
    lock, which that transaction holds through its fsync). `fetch_in_thread` reads in the side
    thread, for a statement too long for the loop (a COUNT(*) over a month's inbox).
    `written` is told of every commit that wrote; at most every CHECKPOINT_EVERY seconds it
    starts a PASSIVE checkpoint in the side thread (the writer's own automatic checkpoints are
    off), which copies what it can without waiting for the writer or the readers. Should those
    checkpoints keep being overtaken by commits, so that the WAL never starts over and grows
    (`behind`), the writer's next durable commit copies the rest itself, in its thread."""

    def __init__(self, path: str) -> None:
        self._reader = _side_connection(path)
        try:
            self._side = _side_connection(path)
        except BaseException:
            self._reader.close()
            raise
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ddfl-sqlite-aside")
        self._checkpoint: asyncio.Future[Any] | None = None
        self._checkpointed = time.monotonic()
        self.checkpoints = 0  # started so far (tests)
        #: The last checkpoint found the WAL longer than BEHIND_FRAMES: it has not started over
        #: for a while, each checkpoint overtaken by new commits (read by the writer's commit).
        self.behind = False

    def fetch_committed(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._reader.execute(sql, params).fetchall()

    async def fetch_in_thread(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, lambda: self._side.execute(sql, params).fetchall()
        )

    def written(self) -> None:
        if (self._checkpoint is None or self._checkpoint.done()) and (
            time.monotonic() - self._checkpointed >= CHECKPOINT_EVERY
        ):
            self._checkpointed = time.monotonic()
            self.checkpoints += 1
            self._checkpoint = asyncio.get_running_loop().run_in_executor(self._thread, self._run_checkpoint)
            self._checkpoint.add_done_callback(_log_failure)

    def _run_checkpoint(self) -> None:
        ((_, frames, _),) = self._side.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self.behind = frames >= BEHIND_FRAMES

    async def close(self) -> None:
        try:
            if self._checkpoint is not None:
                await asyncio.wait([self._checkpoint])
            self._thread.shutdown(wait=True)
        finally:
            self._reader.close()
            self._side.close()


def _log_failure(checkpoint: asyncio.Future[Any]) -> None:
    """A failed checkpoint leaves the WAL longer until the next one; it never fails a commit."""
    if not checkpoint.cancelled() and (error := checkpoint.exception()) is not None:
        log.warning("checkpoint failed", extra={"event": "DDFL-CHECKPOINT-FAILED", "error": type(error).__name__})


def _side_connection(path: str) -> sqlite3.Connection:
    """A connection to the store's file beside the writer: it may checkpoint, never write rows."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA query_only = ON")
    except BaseException:
        connection.close()
        raise
    return connection


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
    if path == MEMORY:
        return await SqlStore.open(SqliteBackend(connection))
    try:
        # The writer's automatic checkpoints are off: the side connection runs them (`Aside`).
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        aside = Aside(path)
    except BaseException:
        connection.close()
        if lock_fd is not None:
            os.close(lock_fd)
        raise
    return await SqlStore.open(SqliteBackend(connection, lock_fd, offload=True, aside=aside))
