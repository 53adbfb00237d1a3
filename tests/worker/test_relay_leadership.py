"""The relay across replicas: only the leader publishes, each row once and in order; when the
leader dies (its store connection ends) or stops, a standby takes over and publishes the rest.
On SQLite (one process) the relay always leads. No broker needed: the publisher is a list."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import psycopg
import pytest

from adapter.store import OutboxMessage, OutboxRow, Store, open_store
from adapter.store.postgres import lock_key
from adapter.worker.relay import ROLE, Relay

NOW = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)


class Sink:
    """A publisher that confirms everything and remembers what it published."""

    def __init__(self) -> None:
        self.published: list[str] = []

    async def publish(self, rows: list[OutboxRow]) -> list[BaseException | None]:
        self.published.extend(row.message_id for row in rows)
        return [None] * len(rows)


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


async def add(store: Store, ids: list[str]) -> None:
    async with store.transaction() as tx:
        await tx.outbox_add(*(OutboxMessage("portal.availability", i, b"{}") for i in ids))


def relay(store: Store, sink: Sink, changes: list[bool]) -> Relay:
    return Relay(store, sink, lambda: NOW, batch=7, on_leadership=changes.append, poll=0.05)


@pytest.fixture
async def two_stores(postgres_schema_url: str) -> AsyncIterator[tuple[Store, Store]]:
    a, b = await open_store(postgres_schema_url), await open_store(postgres_schema_url)
    yield a, b
    for store in (a, b):
        with contextlib.suppress(Exception):
            await store.close()


@pytest.mark.postgres
async def test_one_relay_publishes_and_a_standby_takes_over_when_the_leader_dies(
    two_stores: tuple[Store, Store], postgres_url: str
) -> None:
    store_a, store_b = two_stores
    sink_a, sink_b = Sink(), Sink()
    changes_a: list[bool] = []
    changes_b: list[bool] = []
    relay_a, relay_b = relay(store_a, sink_a, changes_a), relay(store_b, sink_b, changes_b)
    assert await relay_a.lead()  # a leads from the start; b stands by
    relay_a.start()
    relay_b.start()
    first = [f"ev-{n:03}" for n in range(40)]
    await add(store_a, first)
    await wait_until(lambda: relay_a.published_to("portal.availability") == 40, "the leader to publish everything")
    assert sink_a.published == first
    assert await store_b.outbox_backlog() == 0
    assert sink_b.published == [] and not relay_b.leading and relay_a.leading
    assert changes_a == [True] and changes_b == []

    # The leader's process dies: its database session ends.
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
        key = lock_key(store_a._db.namespace, f"lead:{ROLE}")  # type: ignore[attr-defined]
        cursor = await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objid = (%s::bigint & 4294967295)::oid AND classid = ((%s::bigint >> 32) & 4294967295)::oid",
            (key, key),
        )
        assert await cursor.fetchall() == [(True,)]
    second = [f"ev-{n:03}" for n in range(40, 100)]
    await add(store_b, second)
    await wait_until(lambda: relay_b.published_to("portal.availability") == 60, "the standby to take over")
    assert sink_b.published == second  # in order, each once
    assert changes_b == [True] and relay_b.leading
    assert sink_a.published == first
    with contextlib.suppress(Exception):  # its connection is gone: its last flush fails
        await relay_a.stop()
    await relay_b.stop()
    assert await store_b.outbox_backlog() == 0


@pytest.mark.postgres
async def test_a_leader_that_stops_hands_over_at_once(two_stores: tuple[Store, Store]) -> None:
    store_a, store_b = two_stores
    sink_a, sink_b = Sink(), Sink()
    changes_a: list[bool] = []
    changes_b: list[bool] = []
    relay_a, relay_b = relay(store_a, sink_a, changes_a), relay(store_b, sink_b, changes_b)
    assert await relay_a.lead()
    relay_a.start()
    relay_b.start()
    await add(store_a, ["one"])
    await wait_until(lambda: sink_a.published == ["one"], "the leader to publish")
    await add(store_a, ["two"])
    await relay_a.stop()  # publishes what is left, then resigns
    assert sink_a.published == ["one", "two"] and changes_a == [True, False]
    await add(store_b, ["three"])
    await wait_until(lambda: sink_b.published == ["three"], "the standby to take over")
    await add(store_a, ["four"])
    assert await relay_a.flush() == 0  # no longer the leader: publishes nothing
    await relay_b.stop()
    assert sink_b.published == ["three", "four"] and changes_b == [True, False]
    assert sink_a.published == ["one", "two"]


async def test_on_sqlite_the_relay_always_leads(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'relay.sqlite3'}")
    try:
        sink, changes = Sink(), []
        only = relay(store, sink, changes)
        await add(store, ["a", "b"])
        assert await only.flush() == 2
        assert sink.published == ["a", "b"] and only.leading and changes == [True]
    finally:
        await store.close()
