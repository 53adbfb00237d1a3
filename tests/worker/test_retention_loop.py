"""The retention loop: prunes at start and then every interval of the adapter's clock, with
windows settable down to seconds; reports what it pruned and what the tables hold; one process
prunes across replicas. A manual clock drives it; no broker needed."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from adapter.store import OutboxMessage, RetainedRows, Store, open_store
from adapter.store.base import TimelineEntry
from adapter.worker.clock import ManualClock
from adapter.worker.retention import Pruned, Retention, RetentionWindows

T0 = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
SHORT = RetentionWindows(
    outbox_sent=dt.timedelta(seconds=5),
    inbox=dt.timedelta(seconds=20),
    closed_conversations=dt.timedelta(seconds=60),
    timeline=dt.timedelta(seconds=40),
)


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


def seconds(n: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=n)


async def fill(store: Store) -> None:
    """At 0 s: a sent and an unsent event, a message answered with an AppRec, a closed conversation,
    the message's line in its pair's timeline."""
    async with store.transaction() as tx:
        await tx.outbox_add(
            OutboxMessage("portal.availability", "sent", b"{}"), OutboxMessage("portal.availability", "unsent", b"{}")
        )
        await tx.inbox_put("8141333", "m1", '{"receipt":{}}', seconds(0), reply_body=b"<AppRec/>")
        await tx.close_conversation(8141333, "conv", seconds(0))
        await tx.timeline_add([TimelineEntry(8141333, "9144900", seconds(0), "message", {"msg_id": "m1"})])
    sent, _ = await store.outbox_pending(10)
    await store.outbox_mark_sent([sent.id], seconds(0))


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path / 'retention.sqlite3'}")
    yield store
    await store.close()


async def test_the_loop_prunes_each_table_after_its_window_and_reports_numbers(sqlite_store: Store) -> None:
    store, clock = sqlite_store, ManualClock(T0)
    await fill(store)
    rounds: list[Pruned] = []
    held: list[RetainedRows] = []
    retention = Retention(store, clock, SHORT, interval=10, batch=2, on_pruned=rounds.append, on_retained=held.append)
    retention.start()
    try:
        await wait_until(lambda: len(held) == 1, "the first round, at start")
        assert rounds == [Pruned()]
        assert held[0] == RetainedRows(
            outbox_unsent=1, outbox_sent=1, inbox=1, closed_conversations=1, pairs=0, offices=0, timeline=1
        )
        clock.set(seconds(10))
        await wait_until(lambda: len(held) == 2, "the round at 10 s")
        assert rounds[1] == Pruned(outbox=1)
        async with store.transaction() as tx:
            entry = await tx.inbox_entry("8141333", "m1")  # inside its 20 s: still answered the same
            assert entry is not None and entry.reply_body == b"<AppRec/>"
        clock.set(seconds(20))
        await wait_until(lambda: len(held) == 3, "the round at 20 s")
        assert rounds[2] == Pruned()  # the window is "older than 20 s"
        clock.set(seconds(61))
        await wait_until(lambda: len(held) == 4, "the round at 61 s")
        assert rounds[3] == Pruned(inbox=1, closed_conversations=1, timeline=1)
        assert held[3] == RetainedRows(
            outbox_unsent=1, outbox_sent=0, inbox=0, closed_conversations=0, pairs=0, offices=0
        )
        assert retention.pruned == Pruned(outbox=1, inbox=1, closed_conversations=1, timeline=1)
        clock.set(seconds(100_000))  # the unsent row is never pruned
        await wait_until(lambda: len(held) == 5, "the round at 100,000 s")
        assert held[4].outbox_unsent == 1
        assert [row.message_id for row in await store.outbox_pending(10)] == ["unsent"]
    finally:
        await retention.stop()
    assert not retention.alive


async def test_windows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="inbox"):
        RetentionWindows(inbox=dt.timedelta(0))


def test_the_default_windows_keep_the_deduplication_window_longest_of_the_per_message_rows() -> None:
    windows = RetentionWindows()
    assert windows.outbox_sent == dt.timedelta(days=1)
    assert windows.inbox == dt.timedelta(days=30)
    assert windows.closed_conversations == dt.timedelta(days=400)
    assert windows.timeline == windows.inbox  # the console's timeline goes back as far as deduplication


@pytest.mark.postgres
async def test_one_replica_prunes_the_other_stands_by(postgres_schema_url: str) -> None:
    a, b = await open_store(postgres_schema_url), await open_store(postgres_schema_url)
    try:
        await fill(a)
        clock = ManualClock(seconds(1000))
        first, second = Retention(a, clock, SHORT), Retention(b, clock, SHORT)
        assert await first.prune_once() == Pruned(outbox=1, inbox=1, closed_conversations=1, timeline=1)
        assert await second.prune_once() is None
        await first.stop()  # gives the role up
        assert await second.prune_once() == Pruned()
    finally:
        await a.close()
        await b.close()
