"""The relay with several batches in flight: rows go out in id order, and a publish that fails
leaves its row (and every row after it) unsent, to be published again, in order, on the next
flush. No broker needed: the publisher is a list that can refuse one message id."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapter.store import OutboxMessage, OutboxRow, Store, open_store
from adapter.worker.relay import Relay

NOW = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)


class Publisher:
    """Confirms every row but `refuse`'s, after a loop round (as confirms come later)."""

    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.published: list[str] = []
        self.at_once = 0  # the most batches that were being published at the same time
        self._busy = 0

    async def publish(self, rows: list[OutboxRow]) -> list[BaseException | None]:
        self.published.extend(row.message_id for row in rows)
        self._busy += 1
        self.at_once = max(self.at_once, self._busy)
        await asyncio.sleep(0)
        self._busy -= 1
        return [ConnectionError("nacked") if row.message_id == self.refuse else None for row in rows]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path / 'relay.sqlite3'}")
    yield store
    await store.close()


async def unsent(store: Store) -> list[str]:
    return [row.message_id for row in await store.outbox_pending(1000)]


async def fill(store: Store, n: int) -> list[str]:
    ids = [f"m{i:03}" for i in range(n)]
    async with store.transaction() as tx:
        await tx.outbox_add(*(OutboxMessage("portal.availability", i, b"{}") for i in ids))
    return ids


async def test_batches_are_published_several_at_once_in_id_order(store: Store) -> None:
    ids = await fill(store, 50)
    publisher = Publisher()
    relay = Relay(store, publisher, lambda: NOW, batch=7, depth=3)
    assert await relay.flush() == 50
    assert publisher.published == ids
    assert publisher.at_once == 3, "the next batches are published before the first is confirmed"
    assert await unsent(store) == []


async def test_a_batch_with_one_failing_publish_leaves_that_row_and_the_later_ones_unsent(store: Store) -> None:
    ids = await fill(store, 30)
    publisher = Publisher(refuse="m010")  # in the second batch of 7
    relay = Relay(store, publisher, lambda: NOW, batch=7, depth=3)
    with pytest.raises(ConnectionError):
        await relay.flush()
    assert await unsent(store) == ids[10:], "sent: the rows before the refused one; unsent: it and all after"
    assert relay.published_to("portal.availability") == 10

    publisher.refuse = None  # the broker is back: the rest goes out, in order, from the refused row on
    assert await relay.flush() == 20
    assert publisher.published[-20:] == ids[10:]
    assert await unsent(store) == []
