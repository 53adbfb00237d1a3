"""A SQLite file store's durable commit of a batch runs in a thread (issue 14): it waits for the
WAL's fsync (and now and then a checkpoint), which held the event loop, and with it every delivery
and confirm, once per batch. Reads, the relay's marks (no fsync of their own) and a small commit (a
batch of a message or a few, `IN_PLACE_ROWS`: the hop cost more than the commit) commit in place;
a task cancelled while its commit is under way lets the commit end first (no rollback beside it)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapter.store import OutboxMessage, Store, open_store
from adapter.store.sql import SqlStore
from adapter.store.sqlite import IN_PLACE_ROWS


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    yield store
    await store.close()


class Commits:
    """Sees each COMMIT as it starts, on whichever thread; can hold one until released."""

    def __init__(self, store: Store) -> None:
        assert isinstance(store, SqlStore)
        self.connection = store._db.connection  # type: ignore[attr-defined]
        self.threads: list[int] = []
        self.hold = False
        self.started = threading.Event()
        self.release = threading.Event()
        self.connection.set_trace_callback(self._statement)

    def _statement(self, sql: str) -> None:
        if sql == "COMMIT":
            self.threads.append(threading.get_ident())
            if self.hold:
                self.started.set()
                self.release.wait(10)


async def write(store: Store, message_id: str, rows: int = IN_PLACE_ROWS + 1) -> None:
    """`message_id` and `rows - 1` more rows: a batch's commit (more than a small one's rows)."""
    async with store.transaction() as tx:
        await tx.outbox_add(
            OutboxMessage("portal.availability", message_id, b"{}"),
            *(OutboxMessage("elsewhere", f"{message_id}-{i}", b"{}") for i in range(1, rows)),
        )


async def pending(store: Store) -> list[str]:
    return [row.message_id for row in await store.outbox_pending(1000) if row.routing_key == "portal.availability"]


async def test_a_writing_commit_runs_off_the_event_loop_and_the_loop_goes_on(store: Store) -> None:
    commits = Commits(store)
    commits.hold = True
    writing = asyncio.create_task(write(store, "m1"))
    assert await asyncio.to_thread(commits.started.wait, 10)
    ticks = 0
    for _ in range(5):  # the loop runs other work while the commit waits in its thread
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 5 and not writing.done()
    commits.release.set()
    await asyncio.wait_for(writing, 10)
    assert commits.threads[-1] != threading.get_ident()
    assert await pending(store) == ["m1"]


async def test_reads_marks_and_small_commits_commit_in_place(store: Store) -> None:
    await write(store, "m1")
    commits = Commits(store)
    assert await store.timeline(1, "1", 10) == []  # a read: BEGIN IMMEDIATE … COMMIT, nothing written
    rows = await store.outbox_pending(1000)  # read beside the writer: no transaction of its own
    await store.outbox_mark_sent([row.id for row in rows], rows[0].created_at)  # no fsync of its own
    await write(store, "m2", rows=IN_PLACE_ROWS)  # as many rows as a small commit may change
    assert commits.threads == [threading.get_ident()] * 3
    await write(store, "m3")  # one row more: in its thread
    assert commits.threads[-1] != threading.get_ident()
    assert await pending(store) == ["m2", "m3"]


async def test_a_task_cancelled_during_its_commit_leaves_it_committed_and_the_store_usable(store: Store) -> None:
    commits = Commits(store)
    commits.hold = True
    writing = asyncio.create_task(write(store, "m1"))
    assert await asyncio.to_thread(commits.started.wait, 10)
    writing.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not writing.done(), "the cancelled task waits for its commit to end"
    commits.release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(writing, 10)
    commits.hold = False
    assert await pending(store) == ["m1"], "committed, not rolled back"
    await write(store, "m2")
    assert await pending(store) == ["m1", "m2"]
