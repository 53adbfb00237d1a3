"""Retention at the store: rows past their window are deleted in bounded batches, an unsent outbox
row never is, a duplicate inside the deduplication window is still answered with the very same
AppRec, and the counts the metrics report are right. Run against every backend."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from adapter.store import OutboxMessage, RetainedRows, Store
from adapter.store.base import TimelineEntry
from adapter.store.sql import PRUNE_BATCH

T0 = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
APPREC = b"<AppRec xmlns='http://www.kith.no/xmlstds/apprec/2004-11-21'><Status V='1'/>" + b"x" * 2000 + b"</AppRec>"


def day(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def event(message_id: str) -> OutboxMessage:
    return OutboxMessage("portal.availability", message_id, b"{}", created_at=T0)


async def add_events(store: Store, ids: list[str]) -> dict[str, int]:
    async with store.transaction() as tx:
        await tx.outbox_add(*(event(i) for i in ids))
    return {row.message_id: row.id for row in await store.outbox_pending(len(ids) + 10) if row.message_id in ids}


async def held(store: Store) -> RetainedRows:
    return await store.retained_rows()


async def test_sent_outbox_rows_older_than_the_window_go_and_unsent_ones_never(store: Store) -> None:
    ids = await add_events(store, ["old-sent", "new-sent", "old-unsent"])
    await store.outbox_mark_sent([ids["old-sent"]], day(1))
    await store.outbox_mark_sent([ids["new-sent"]], day(8))
    assert await held(store) == RetainedRows(
        outbox_unsent=1, outbox_sent=2, inbox=0, closed_conversations=0, pairs=0, offices=0
    )
    assert await store.prune_outbox(day(7)) == 1
    assert await store.prune_outbox(day(10_000)) == 1  # whatever the cutoff, the unsent row stays
    assert [row.message_id for row in await store.outbox_pending(10)] == ["old-unsent"]
    assert (await held(store)).outbox_unsent == 1
    assert (await held(store)).outbox_sent == 0
    assert await store.outbox_backlog() == 1


async def test_pruning_goes_in_bounded_batches_each_its_own_transaction(store: Store) -> None:
    ids = await add_events(store, [f"ev-{n}" for n in range(1234)])
    await store.outbox_mark_sent(ids.values(), day(1))
    statements: list[int] = []
    db = store._db  # type: ignore[attr-defined]
    execute = db.execute

    async def counted(sql: str, params: object = ()) -> int:
        changed = await execute(sql, params)
        if sql.startswith("DELETE"):
            statements.append(changed)
        return changed

    db.execute = counted
    try:
        assert await store.prune_outbox(day(2), batch=100) == 1234
    finally:
        db.execute = execute
    assert statements == [100] * 12 + [34]
    assert await held(store) == RetainedRows(0, 0, 0, 0, 0, 0)


async def test_a_writer_gets_in_between_two_batches(store: Store) -> None:
    ids = await add_events(store, [f"ev-{n}" for n in range(50)])
    await store.outbox_mark_sent(ids.values(), day(1))
    order: list[str] = []
    db = store._db  # type: ignore[attr-defined]
    execute = db.execute
    writer_done = asyncio.Event()

    async def watched(sql: str, params: object = ()) -> int:
        changed = await execute(sql, params)
        if sql.startswith("DELETE"):
            order.append("prune")
            if len(order) == 1:  # a writer arrives while the first batch runs
                asyncio.get_running_loop().create_task(writer())
                await asyncio.sleep(0)
        return changed

    async def writer() -> None:
        async with store.transaction() as tx:
            order.append("writer")
            await tx.put_meta("k", "v")
        writer_done.set()

    db.execute = watched
    try:
        assert await store.prune_outbox(day(2), batch=10) == 50
    finally:
        db.execute = execute
    await asyncio.wait_for(writer_done.wait(), timeout=5)
    assert order[:3] == ["prune", "writer", "prune"]


async def test_a_duplicate_inside_the_window_is_answered_with_the_same_apprec(store: Store) -> None:
    outcome = json.dumps({"receipt": {"outcome": "OK"}, "reply": {"routing_key": "8141333_async"}})
    async with store.transaction() as tx:
        await tx.inbox_put("8141333", "old", '{"receipt":{}}', day(0))
        await tx.inbox_put_many(
            [
                ("8141333", "kept", outcome, day(25), APPREC),
                ("tilpass-helsenorge", "digest", '{"receipt":{}}', day(29)),
            ]
        )
        await tx.outbox_add(OutboxMessage("8141333_async", "apprec-kept", APPREC, content_type="application/xml"))
    (apprec_row,) = await store.outbox_pending(10)
    await store.outbox_mark_sent([apprec_row.id], day(25))
    # 30 days of deduplication, 7 of sent outbox rows, on day 33
    assert await store.prune_inbox(day(33) - dt.timedelta(days=30)) == 1
    assert await store.prune_outbox(day(33) - dt.timedelta(days=7)) == 1
    async with store.transaction() as tx:
        assert await tx.inbox_get("8141333", "old") is None
        assert await tx.inbox_get("8141333", "kept") == outcome
        entry = await tx.inbox_entry("8141333", "kept")
        assert entry is not None and (entry.outcome, entry.reply_body) == (outcome, APPREC)
        assert await tx.inbox_get("tilpass-helsenorge", "digest") == '{"receipt":{}}'
    assert (await held(store)).inbox == 2
    assert await store.outbox_pending(10) == []
    # After its window, the message is forgotten: the inbox accepts it as new.
    assert await store.prune_inbox(day(56)) == 2
    async with store.transaction() as tx:
        assert await tx.inbox_entry("8141333", "kept") is None
        await tx.inbox_put("8141333", "kept", outcome, day(56))


async def test_closed_conversations_older_than_the_window_are_forgotten(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.close_conversation(1, "old", day(0))
        await tx.close_conversation(1, "new", day(300))
    assert (await held(store)).closed_conversations == 2
    assert await store.prune_closed_conversations(day(100)) == 1
    async with store.transaction() as tx:
        assert not await tx.conversation_closed(1, "old")
        assert await tx.conversation_closed(1, "new")
        assert await tx.close_conversation(1, "old", day(301))  # closing it again is news again
    assert (await held(store)).closed_conversations == 2


async def test_retained_rows_counts_every_table(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.put_office(1, "{}")
        await tx.put_pairs([(1, "a", "{}", None), (1, "b", "{}", None)])
        await tx.inbox_put("1", "m", "{}", day(0))
        await tx.close_conversation(1, "c", day(0))
        await tx.outbox_add(event("a"), event("b"), event("c"))
        await tx.timeline_add([TimelineEntry(1, "a", day(0), "clock", {}), TimelineEntry(1, "b", day(0), "clock", {})])
    rows = await store.outbox_pending(1)
    await store.outbox_mark_sent([rows[0].id], day(0))
    assert await held(store) == RetainedRows(
        outbox_unsent=2, outbox_sent=1, inbox=1, closed_conversations=1, pairs=2, offices=1, timeline=2
    )


async def test_timeline_entries_older_than_the_horizon_go_newest_stay(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.timeline_add([TimelineEntry(1, "a", day(n), "message", {"msg_id": f"m-{n}"}) for n in (0, 10, 40, 41)])
    assert await store.prune_timeline(day(30), batch=1) == 2  # in batches of one row
    assert [e.detail["msg_id"] for e in await store.timeline(1, "a", 10)] == ["m-41", "m-40"]
    assert (await held(store)).timeline == 2


async def test_a_batch_must_hold_at_least_one_row(store: Store) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await store.prune_inbox(day(1), batch=0)
    assert PRUNE_BATCH == 500
