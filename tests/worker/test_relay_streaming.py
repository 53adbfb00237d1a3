"""The relay publishes rows committed while earlier rows await their confirms (issue 14: the
latency tail). A slow confirm delayed every message committed behind it by a whole publish round;
now only a full room (a burst: `depth` × `batch` rows in flight) waits. Order and the crash
guarantee stay: rows are published and marked sent in id order, and nothing after a failed row is
marked. No broker needed: the publisher holds each publish until the test confirms it."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from adapter.store import OutboxMessage, OutboxRow, Store, open_store
from adapter.worker.relay import Relay

from .test_relay_leadership import Sink

NOW = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)


class HeldPublisher:
    """Publishes at once; each publish's confirms come when the test calls `confirm`."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self._held: list[tuple[list[OutboxRow], asyncio.Future[None]]] = []
        self.refuse: set[str] = set()
        self.changed = asyncio.Event()

    async def publish(self, rows: list[OutboxRow]) -> list[BaseException | None]:
        self.published.extend(row.message_id for row in rows)
        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._held.append((rows, confirmed))
        self.changed.set()
        await confirmed
        return [ConnectionError("nacked") if row.message_id in self.refuse else None for row in rows]

    def confirm(self) -> None:
        """Confirm everything published so far."""
        for _, confirmed in self._held:
            if not confirmed.done():
                confirmed.set_result(None)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path / 'relay.sqlite3'}")
    yield store
    await store.close()


async def commit(store: Store, *ids: str) -> None:
    async with store.transaction() as tx:
        await tx.outbox_add(*(OutboxMessage("portal.availability", i, b"{}") for i in ids))


async def unsent(store: Store) -> list[str]:
    return [row.message_id for row in await store.outbox_pending(1000)]


async def until(publisher: HeldPublisher, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (on the publisher's own signal, with a timeout) until `condition` holds."""

    async def wait() -> None:
        while not condition():
            publisher.changed.clear()
            await publisher.changed.wait()

    await asyncio.wait_for(wait(), timeout)


async def test_a_row_committed_while_earlier_rows_await_their_confirms_is_published_at_once(store: Store) -> None:
    publisher = HeldPublisher()
    relay = Relay(store, publisher, lambda: NOW, batch=512)
    await commit(store, "m0", "m1")
    flushing = asyncio.create_task(relay.flush())
    await until(publisher, lambda: publisher.published == ["m0", "m1"])

    await commit(store, "m2")  # the pipeline's commit wakes the relay
    relay.wake()
    await until(publisher, lambda: publisher.published == ["m0", "m1", "m2"])
    assert await unsent(store) == ["m0", "m1", "m2"], "published before the first rows were confirmed"

    publisher.confirm()
    assert await flushing == 3
    assert await unsent(store) == []
    assert relay.published_to("portal.availability") == 3


async def test_a_full_room_waits_for_confirms_as_a_burst_did(store: Store) -> None:
    publisher = HeldPublisher()
    relay = Relay(store, publisher, lambda: NOW, batch=5)  # depth 1: at most 5 rows in flight
    await commit(store, *(f"m{i:02}" for i in range(12)))
    flushing = asyncio.create_task(relay.flush())
    await until(publisher, lambda: len(publisher.published) == 5)
    relay.wake()
    for _ in range(50):  # loop rounds for the relay to act on the wake, were it to
        await asyncio.sleep(0)
    assert publisher.published == [f"m{i:02}" for i in range(5)], "no room: the rest waits for the confirms"

    publisher.confirm()
    await until(publisher, lambda: len(publisher.published) == 10)
    publisher.confirm()
    await until(publisher, lambda: len(publisher.published) == 12)
    publisher.confirm()
    assert await flushing == 12
    assert publisher.published == [f"m{i:02}" for i in range(12)]


async def test_a_refused_row_leaves_it_and_every_later_row_unsent_though_they_were_confirmed(store: Store) -> None:
    publisher = HeldPublisher()
    publisher.refuse = {"m1"}
    relay = Relay(store, publisher, lambda: NOW, batch=3)
    await commit(store, "m0", "m1")
    flushing = asyncio.create_task(relay.flush())
    await until(publisher, lambda: len(publisher.published) == 2)
    await commit(store, "m2")
    relay.wake()
    await until(publisher, lambda: len(publisher.published) == 3)

    publisher.confirm()  # m0 and m2 confirmed, m1 refused
    with pytest.raises(ConnectionError):
        await flushing
    assert await unsent(store) == ["m1", "m2"], "order kept: m2 goes out again after m1"
    assert relay.published_to("portal.availability") == 1

    publisher.refuse = set()
    flushing = asyncio.create_task(relay.flush())
    await until(publisher, lambda: len(publisher.published) == 5)
    publisher.confirm()
    assert await flushing == 2
    assert publisher.published[-2:] == ["m1", "m2"]


async def test_rows_committed_while_a_mark_waits_for_the_store_are_published_without_waiting_for_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mark waits for the store's lock, which the next batch holds through its fsync; the rows
    that batch commits are read beside it and go out meanwhile, and the marks are written in order."""
    publisher = HeldPublisher()
    relay = Relay(store, publisher, lambda: NOW, batch=512)
    mark_sent = store.outbox_mark_sent
    store_free = asyncio.Event()
    marked: list[list[int]] = []

    async def held_mark(ids: list[int], sent_at: dt.datetime) -> int:
        await store_free.wait()
        marked.append(list(ids))
        return await mark_sent(ids, sent_at)

    monkeypatch.setattr(store, "outbox_mark_sent", held_mark)
    await commit(store, "m0")
    flushing = asyncio.create_task(relay.flush())
    await until(publisher, lambda: publisher.published == ["m0"])
    publisher.confirm()  # m0's mark now waits for the store
    for _ in range(20):
        await asyncio.sleep(0)
    await commit(store, "m1")
    relay.wake()
    await until(publisher, lambda: publisher.published == ["m0", "m1"])
    assert marked == [], "m1 went out while m0's mark was still waiting"

    publisher.confirm()
    store_free.set()
    assert await flushing == 2, "the flush ends once every mark is written"
    assert [len(ids) for ids in marked] == [1, 1] and marked[0] < marked[1], "marked in id order"
    assert await unsent(store) == []


async def test_a_mark_that_fails_ends_the_flush_and_its_rows_go_out_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = HeldPublisher()
    relay = Relay(store, publisher, lambda: NOW, batch=512)
    mark_sent = store.outbox_mark_sent

    async def store_away(ids: list[int], sent_at: dt.datetime) -> int:
        raise ConnectionError("store away")

    monkeypatch.setattr(store, "outbox_mark_sent", store_away)
    await commit(store, "m0")
    flushing = asyncio.create_task(relay.flush())
    await until(publisher, lambda: publisher.published == ["m0"])
    publisher.confirm()
    with pytest.raises(ConnectionError, match="store away"):
        await flushing
    assert await unsent(store) == ["m0"] and relay.published_to("portal.availability") == 0

    monkeypatch.setattr(store, "outbox_mark_sent", mark_sent)
    flushing = asyncio.create_task(relay.flush())
    await until(publisher, lambda: publisher.published == ["m0", "m0"])  # the same message id again
    publisher.confirm()
    assert await flushing == 1
    assert await unsent(store) == []


async def test_a_flush_at_a_low_rate_reads_the_pending_rows_once_unless_a_commit_comes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a steady low rate every message is a flush of its own: a read that found fewer rows than
    asked is not repeated before a commit wakes the relay (it was three or four reads a flush)."""
    publisher = Sink()
    relay = Relay(store, publisher, lambda: NOW, batch=512)
    pending = store.outbox_pending
    reads: list[list[str]] = []

    async def counted(limit: int, after: int = 0) -> list[OutboxRow]:
        rows = await pending(limit, after)
        reads.append([row.message_id for row in rows])
        if reads[-1] == ["m1"]:
            await commit(store, "m2")  # committed while this flush goes on: it wakes the relay
            relay.wake()
        return rows

    monkeypatch.setattr(store, "outbox_pending", counted)
    await commit(store, "m0")
    assert await relay.flush() == 1
    assert reads == [["m0"]], "one read for one row"

    reads.clear()
    await commit(store, "m1")
    assert await relay.flush() == 2
    assert publisher.published == ["m0", "m1", "m2"], "the row committed during the flush went out in it"
    assert reads == [["m1"], ["m2"]]


async def test_a_read_as_long_as_asked_is_followed_by_another(store: Store) -> None:
    publisher = Sink()
    relay = Relay(store, publisher, lambda: NOW, batch=2)
    await commit(store, "m0", "m1", "m2", "m3", "m4")
    assert await relay.flush() == 5
    assert publisher.published == ["m0", "m1", "m2", "m3", "m4"]
    assert await unsent(store) == []


async def test_the_backlog_is_counted_at_most_once_a_poll_however_many_flushes(store: Store) -> None:
    publisher = Sink()
    counted: list[int] = []
    relay = Relay(store, publisher, lambda: NOW, batch=512, on_backlog=counted.append, poll=3600.0)
    relay.start()
    try:
        for i in range(5):
            await commit(store, f"m{i}")
            relay.wake()
            for _ in range(200):  # until the relay's flush has ended (no timer: loop rounds)
                if len(publisher.published) > i and not await unsent(store):
                    break
                await asyncio.sleep(0)
            for _ in range(20):  # and the relay has gone back to its wait
                await asyncio.sleep(0)
        assert publisher.published == [f"m{i}" for i in range(5)], "each commit was published"
    finally:
        await relay.stop()
    assert counted == [0], "one count in the poll interval, not one a flush"
