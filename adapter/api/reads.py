"""The read side's own way into the store: a separate connection that only reads.

The writer's `Store` holds one connection behind a lock, one transaction at a time; a read through
it would queue behind the writer's batches (and hold the writer up in turn). So the API opens its
own connection to the same database and issues plain SELECTs over the store's tables:

- SQLite: a second connection to the file, `query_only`, in a worker thread. WAL lets it read a
  committed snapshot while the writer writes, without taking the write lock; the thread keeps the
  event loop (possibly the worker's own, inside `ddfl-adapter run`) free while SQLite steps.
- PostgreSQL: a connection of its own in autocommit, read-only sessions (MVCC: readers never wait
  for the writer's row locks).

Only statements that read; the schema is the store's (`adapter/store/sql.py`). The verbs here
are the ones `adapter/store/base.py` would grow if the read side became part of the store:
`pair_state`, `office_pairs`, `office_state` and `pairs_after` (keyset paging), and `timeline`,
whose statements the store shares (`sql.TIMELINE_READS`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..store.base import PairKey, TimelineEntry, from_micros
from ..store.sql import POSTGRESQL, SQLITE, TIMELINE_READS, Dialect, timeline_entries, timeline_query
from ..store.sqlite import BUSY_TIMEOUT_MS

_SQLITE_PREFIX = "sqlite:///"

_STATEMENTS = {
    "pair_state": "SELECT office_her_id, practitioner_hpr, state, next_change_at FROM pairs"
    " WHERE office_her_id = ? AND practitioner_hpr = ?",
    "office_pairs": "SELECT office_her_id, practitioner_hpr, state, next_change_at FROM pairs WHERE office_her_id = ?"
    " ORDER BY practitioner_hpr",
    "office_state": "SELECT state FROM offices WHERE office_her_id = ?",
    # The console's name search: a coarse filter on the stored text, confirmed on the parsed roster.
    "offices_containing": "SELECT office_her_id, state FROM offices WHERE LOWER(state) LIKE ? ESCAPE '!'"
    " ORDER BY office_her_id LIMIT ?",
    "pairs_first": "SELECT office_her_id, practitioner_hpr, state, next_change_at FROM pairs"
    " ORDER BY office_her_id, practitioner_hpr LIMIT ?",
    # Row-value comparison (SQLite >= 3.15, PostgreSQL): the index on the primary key serves it.
    "pairs_after": "SELECT office_her_id, practitioner_hpr, state, next_change_at FROM pairs"
    " WHERE (office_her_id, practitioner_hpr) > (?, ?) ORDER BY office_her_id, practitioner_hpr LIMIT ?",
    **TIMELINE_READS,
}


@dataclass(frozen=True, slots=True)
class StoredPair:
    """One row of the store's pairs: the state as the writer keeps it (JSON text), and when the
    clock must next look at it (so a reader knows whether a time-driven change is due)."""

    office_her_id: int
    practitioner_hpr: str
    state: str
    next_change_at: dt.datetime | None


class StoreUnreadable(Exception):
    """The store cannot be read beside the writer (an in-memory SQLite store, or a store the
    embedding process was handed rather than opened): the API answers 503 with this text."""


class _Connection(Protocol):
    async def fetchall(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...

    async def close(self) -> None: ...


class Reader:
    """Read-only verbs over the store's tables, on a connection of their own."""

    def __init__(self, connection: _Connection, dialect: Dialect) -> None:
        self._connection = connection
        self._q = {name: dialect.render(sql) for name, sql in _STATEMENTS.items()}

    async def pair_state(self, office_her_id: int, practitioner_hpr: str) -> StoredPair | None:
        rows = await self._connection.fetchall(self._q["pair_state"], (office_her_id, practitioner_hpr))
        return _rows(rows)[0] if rows else None

    async def office_pairs(self, office_her_id: int) -> list[StoredPair]:
        """Every stored pair of the office, by HPR."""
        return _rows(await self._connection.fetchall(self._q["office_pairs"], (office_her_id,)))

    async def office_state(self, office_her_id: int) -> str | None:
        """The office's state (its roster, where its absences live), None when the adapter has none."""
        rows = await self._connection.fetchall(self._q["office_state"], (office_her_id,))
        return str(rows[0][0]) if rows else None

    async def offices_containing(self, text: str, limit: int) -> list[tuple[int, str]]:
        """Up to `limit` offices (HER-id, state) whose stored state contains `text`, ignoring case: a
        coarse filter on the stored text (it matches keys and ids too); the caller confirms each
        match on the parsed state."""
        pattern = "%" + "".join("!" + c if c in "!%_" else c for c in text.lower()) + "%"
        rows = await self._connection.fetchall(self._q["offices_containing"], (pattern, limit))
        return [(int(office), str(state)) for office, state in rows]

    async def pairs_after(self, after: PairKey | None, limit: int) -> list[StoredPair]:
        """Up to `limit` pairs in key order, strictly after `after` (from the first when None)."""
        if after is None:
            rows = await self._connection.fetchall(self._q["pairs_first"], (limit,))
        else:
            rows = await self._connection.fetchall(self._q["pairs_after"], (after[0], after[1], limit))
        return _rows(rows)

    async def answers(self, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """Does the store answer a read within `timeout`? (`ddfl-adapter api`'s /health.)"""
        try:
            async with asyncio.timeout(timeout):
                await self._connection.fetchall("SELECT 1", ())
        except Exception:
            return False
        return True

    async def timeline(
        self, office_her_id: int, practitioner_hpr: str, limit: int = 100, before_id: int | None = None
    ) -> list[TimelineEntry]:
        """The pair's latest `limit` timeline entries (inputs that touched it, events published about
        it), newest first; with `before_id`, the page of entries stored before that one."""
        name, params = timeline_query(office_her_id, practitioner_hpr, limit, before_id)
        return timeline_entries(await self._connection.fetchall(self._q[name], params))

    async def close(self) -> None:
        await self._connection.close()


class _Unreadable:
    """Stands in for a connection where none can be opened: every read says why."""

    def __init__(self, reason: str) -> None:
        self._reason = reason

    async def fetchall(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        raise StoreUnreadable(self._reason)

    async def close(self) -> None:
        pass


def unreadable(reason: str) -> Reader:
    """A reader that answers every read with StoreUnreadable(`reason`)."""
    return Reader(_Unreadable(reason), SQLITE)


def _rows(rows: list[tuple[Any, ...]]) -> list[StoredPair]:
    return [
        StoredPair(int(office), str(hpr), str(state), None if due is None else from_micros(due))
        for office, hpr, state, due in rows
    ]


def _lower(value: str | bytes | int | float | None) -> str | bytes | int | float | None:
    return value.lower() if isinstance(value, str) else value


class _SqliteReads:
    """One read-only connection used from worker threads, one statement at a time."""

    def __init__(self, path: str) -> None:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA query_only = ON")
            # SQLite's own LOWER folds ASCII only; the console's name search needs Å as å (as PostgreSQL does).
            connection.create_function("lower", 1, _lower, deterministic=True)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        self._lock = asyncio.Lock()

    async def fetchall(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        run: Callable[[], list[tuple[Any, ...]]] = lambda: self._connection.execute(sql, params).fetchall()  # noqa: E731
        async with self._lock:
            return await asyncio.to_thread(run)

    async def close(self) -> None:
        async with self._lock:
            self._connection.close()


class _PostgresReads:
    """A connection of its own, autocommit, read-only; one statement at a time. A connection the
    server dropped (a restart, a failover) is replaced at the next read; that read fails."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: Any = None
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        import psycopg

        connection = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        await connection.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        self._connection = connection

    async def fetchall(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self._lock:
            if self._connection is None or self._connection.closed:
                await self.connect()
            cursor = await self._connection.execute(sql, params)
            rows: list[tuple[Any, ...]] = await cursor.fetchall()
            return rows

    async def close(self) -> None:
        async with self._lock:
            if self._connection is not None:
                await self._connection.close()


async def open_reader(store_url: str) -> Reader:
    """A reader of the store named by `store_url` (the same URLs as `adapter.store.open_store`).

    The store must exist (the writer creates it); an in-memory SQLite store cannot be shared with
    a second connection and is refused.
    """
    scheme = store_url.partition("://")[0].lower()
    if scheme == "sqlite":
        path = store_url[len(_SQLITE_PREFIX) :] if store_url.startswith(_SQLITE_PREFIX) else ""
        if not path or path == ":memory:":
            raise ValueError(f"the read API needs a SQLite file store, got {store_url!r}")
        if not await asyncio.to_thread(Path(path).is_file):
            raise FileNotFoundError(f"no store at {path!r}: the adapter creates it on its first start")
        return Reader(_SqliteReads(path), SQLITE)
    if scheme in ("postgresql", "postgres"):
        reads = _PostgresReads(store_url)
        await reads.connect()  # fail at start, not at the first request, when the store is unreachable
        return Reader(reads, POSTGRESQL)
    raise ValueError(f"unsupported store URL {store_url!r}: expected sqlite:/// or postgresql://")
