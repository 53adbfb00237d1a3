"""PostgreSQL backend: psycopg 3, one AsyncConnection, the same schema and statements as SQLite.

Any number of processes may share one database:
- a transaction takes its offices' locks first (`lock_offices`: transaction-scoped advisory locks,
  sorted, so two transactions never wait on each other in a cycle); a transaction's reads of
  state it will rewrite also take row locks (SELECT ... FOR UPDATE); a duplicate message raced by
  two workers is caught by the inbox's primary key (DuplicateMessage);
- a deadlock (40P01), a serialization failure (40001) or a lock that could not be had (55P03)
  is raised as StoreContention: the transaction is rolled back and the work can simply be run
  again (adapter.store.retry);
- leadership (`try_lead`) is a session-level advisory lock on the store's connection: held until
  released or until the connection ends, which PostgreSQL notices at once when the holder's
  process dies, and within about 20 s (TCP keepalives) when its machine does.

Advisory lock keys are 64-bit hashes of the schema (search_path) and the resource's name, so
adapters in different schemas of one database do not get in each other's way.

psycopg is an optional dependency (the `postgres` extra); it is imported only when a
postgresql:// URL is opened.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from adapter.store.base import StoreContention
from adapter.store.sql import POSTGRESQL, SqlStore

if TYPE_CHECKING:
    import psycopg

#: SQLSTATEs that mean "another transaction was in the way; run it again".
CONTENTION = {
    "40001": "serialization failure",
    "40P01": "deadlock",
    "55P03": "lock not available",
}


def lock_key(namespace: str, name: str) -> int:
    """The advisory lock key (signed 64-bit) of `name` in `namespace` (the schema)."""
    digest = hashlib.blake2b(f"ddfl\x00{namespace}\x00{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresBackend:
    dialect = POSTGRESQL

    #: Every read goes through the connection (the server lets it wait without holding the loop).
    aside = None

    def __init__(self, connection: psycopg.AsyncConnection[Any], namespace: str) -> None:
        self.connection = connection
        self.namespace = namespace

    @asynccontextmanager
    async def _contention(self) -> AsyncIterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as error:
            if error.sqlstate in CONTENTION:
                raise StoreContention(f"{CONTENTION[error.sqlstate]} ({error.sqlstate})") from error
            raise

    async def begin(self, durable: bool = True) -> None:
        if not durable:  # this transaction only: its commit does not wait for the WAL's flush
            async with self._contention():
                await self.connection.execute("SET LOCAL synchronous_commit TO OFF")

    async def commit(self) -> None:
        async with self._contention():
            await self.connection.commit()

    async def rollback(self) -> None:
        await self.connection.rollback()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._contention():
            cursor = await self.connection.execute(sql, params)
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        async with self._contention(), self.connection.cursor() as cursor:
            await cursor.executemany(sql, rows)
            return cursor.rowcount

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._contention():
            cursor = await self.connection.execute(sql, params)
            return await cursor.fetchall()

    async def lock(self, names: Sequence[str]) -> None:
        keys = sorted({lock_key(self.namespace, name) for name in names})
        if keys:
            # unnest yields the array's elements in order, so the locks are taken in key order.
            await self.fetchall("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k", (keys,))

    async def try_lock_session(self, name: str) -> bool:
        rows = await self.fetchall("SELECT pg_try_advisory_lock(%s)", (lock_key(self.namespace, name),))
        return bool(rows[0][0])

    async def unlock_session(self, name: str) -> None:
        await self.fetchall("SELECT pg_advisory_unlock(%s)", (lock_key(self.namespace, name),))

    async def close(self) -> None:
        await self.connection.close()


async def open_postgres(url: str) -> SqlStore:
    """The store in the PostgreSQL database at `url` (a libpq URL; tables created if missing).

    The schema the tables live in is the connection's search_path; pass
    `?options=-csearch_path%3Dname` in the URL to choose another than `public`.
    """
    try:
        import psycopg
    except ImportError as missing:
        raise RuntimeError("a postgresql:// store needs psycopg: pip install 'ddfl-adapter[postgres]'") from missing
    # libpq keepalives: a connection to a vanished peer is given up within about 20 s.
    connection = await psycopg.AsyncConnection.connect(
        url, autocommit=False, keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=2
    )
    try:
        # The server's side of the keepalives: a vanished client's session, and its leadership,
        # end within about 20 s (ignored on a Unix socket, where the kernel tells at once).
        for setting, value in (
            ("tcp_keepalives_idle", 10),
            ("tcp_keepalives_interval", 5),
            ("tcp_keepalives_count", 2),
        ):
            await connection.execute(f"SET {setting} = {value}")
        cursor = await connection.execute("SELECT current_schema()")
        row = await cursor.fetchone()
        await connection.commit()
    except BaseException:
        await connection.close()
        raise
    namespace = str(row[0]) if row and row[0] is not None else "public"
    return await SqlStore.open(PostgresBackend(connection, namespace))
