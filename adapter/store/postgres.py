"""PostgreSQL backend: psycopg 3, one AsyncConnection, the same schema and statements as SQLite.

psycopg opens a transaction implicitly at the first statement after a commit or rollback, so
begin() has nothing to send. Reads of state a transaction will rewrite take row locks
(SELECT ... FOR UPDATE), so two workers on one database serialise per office and pair; a
duplicate message raced by two workers is caught by the inbox's primary key (DuplicateMessage)
and its transaction rolled back.

psycopg is an optional dependency (the `postgres` extra); it is imported only when a
postgresql:// URL is opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from adapter.store.sql import POSTGRESQL, SqlStore

if TYPE_CHECKING:
    import psycopg


class PostgresBackend:
    dialect = POSTGRESQL

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self.connection = connection

    async def begin(self) -> None:
        pass

    async def commit(self) -> None:
        await self.connection.commit()

    async def rollback(self) -> None:
        await self.connection.rollback()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self.connection.execute(sql, params)
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        async with self.connection.cursor() as cursor:
            await cursor.executemany(sql, rows)
            return cursor.rowcount

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = await self.connection.execute(sql, params)
        return await cursor.fetchall()

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
    connection = await psycopg.AsyncConnection.connect(url, autocommit=False)
    return await SqlStore.open(PostgresBackend(connection))
