"""The durable store: inbox, state, closed conversations, outbox and meta in one transaction.

    store = await open_store("sqlite:///ddfl-adapter.sqlite3")
    async with store.transaction() as tx:
        if await tx.inbox_get(sender, msg_id) is None:
            ...
            await tx.put_pair(office, hpr, state_json, next_change_at)
            await tx.outbox_add(OutboxMessage(routing_key, event_id, body))
            await tx.inbox_put(sender, msg_id, outcome_json, received_at)

URLs: `sqlite:///relative/path.sqlite3`, `sqlite:////absolute/path.sqlite3`, `sqlite:///:memory:`
(a private in-memory database, gone at close: for replay and tests), and
`postgresql://user@host:port/db` (also `postgres://`).
"""

from __future__ import annotations

from adapter.store.base import (
    DuplicateMessage,
    InboxEntry,
    OutboxMessage,
    OutboxRow,
    PairKey,
    RetainedRows,
    Store,
    StoreContention,
    StoreError,
    StoreInUse,
    Transaction,
)
from adapter.store.retry import retry_on_contention

__all__ = [
    "DuplicateMessage",
    "InboxEntry",
    "OutboxMessage",
    "OutboxRow",
    "PairKey",
    "RetainedRows",
    "Store",
    "StoreContention",
    "StoreError",
    "StoreInUse",
    "Transaction",
    "open_store",
    "retry_on_contention",
]

_SQLITE_PREFIX = "sqlite:///"


async def open_store(url: str) -> Store:
    """Open (and create if missing) the store named by `url`."""
    scheme = url.partition("://")[0].lower()
    if scheme == "sqlite":
        if not url.startswith(_SQLITE_PREFIX) or len(url) == len(_SQLITE_PREFIX):
            raise ValueError(
                f"bad SQLite store URL {url!r}: use sqlite:///relative/path,"
                " sqlite:////absolute/path or sqlite:///:memory:"
            )
        from adapter.store.sqlite import open_sqlite

        return await open_sqlite(url[len(_SQLITE_PREFIX) :])
    if scheme in ("postgresql", "postgres"):
        from adapter.store.postgres import open_postgres

        return await open_postgres(url)
    raise ValueError(f"unsupported store URL {url!r}: expected sqlite:/// or postgresql://")
