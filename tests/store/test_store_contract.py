"""The store's contract: one suite, run against every backend (see conftest.BACKENDS).

A backend that joins must pass all of it unchanged; that is what lets the handlers stay as they
are when the store behind them changes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3

import pytest

from adapter.store import DuplicateMessage, InboxEntry, OutboxMessage, Store, open_store
from adapter.store.base import TimelineEntry

UTC = dt.UTC
T0 = dt.datetime(2024, 1, 2, 0, 0, tzinfo=UTC)
OSLO_WINTER = dt.timezone(dt.timedelta(hours=1))


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def event(message_id: str, routing_key: str = "portal.availability", **kw: object) -> OutboxMessage:
    return OutboxMessage(routing_key, message_id, f'{{"event_id":"{message_id}"}}'.encode(), **kw)


async def pending(store: Store, limit: int = 10) -> list[str]:
    """The message ids of the unsent outbox rows, in publish order."""
    return [row.message_id for row in await store.outbox_pending(limit)]


async def write_everything(store: Store) -> None:
    """One unit of work that touches every table."""
    async with store.transaction() as tx:
        await tx.put_office(8141333, '{"roster":["1234567"]}')
        await tx.put_pair(8141333, "1234567", '{"seq":1}', at(60))
        await tx.inbox_put("8141333", "msg-1", '{"status":"OK"}', at(0))
        assert await tx.close_conversation(8141333, "conv-1", at(0))
        assert await tx.outbox_add(event("ev-1")) == 1
        await tx.put_meta("clock.watermark", at(0).isoformat())


async def assert_everything_written(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.get_office(8141333) == '{"roster":["1234567"]}'
        assert await tx.get_pair(8141333, "1234567") == '{"seq":1}'
        assert await tx.inbox_get("8141333", "msg-1") == '{"status":"OK"}'
        assert await tx.conversation_closed(8141333, "conv-1")
        assert await tx.get_meta("clock.watermark") == at(0).isoformat()
    assert await pending(store) == ["ev-1"]
    assert await store.due_pairs(at(60), 10) == [(8141333, "1234567")]


async def assert_nothing_written(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.get_office(8141333) is None
        assert await tx.get_pair(8141333, "1234567") is None
        assert await tx.pairs_of_office(8141333) == []
        assert await tx.inbox_get("8141333", "msg-1") is None
        assert not await tx.conversation_closed(8141333, "conv-1")
        assert await tx.get_meta("clock.watermark") is None
    assert await store.outbox_pending(10) == []
    assert await store.outbox_backlog() == 0
    assert await store.due_pairs(at(10_000), 10) == []
    assert await store.next_due() is None


# --- round trips ------------------------------------------------------------------------------


async def test_a_new_store_is_empty(store: Store) -> None:
    await assert_nothing_written(store)


async def test_committed_unit_of_work_is_visible_to_the_next(store: Store) -> None:
    await write_everything(store)
    await assert_everything_written(store)


async def test_office_state_round_trip_and_overwrite(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.put_office(1, '{"v":1}')
        await tx.put_office(2, '{"v":"two"}')
        assert await tx.get_office(1) == '{"v":1}'
    async with store.transaction() as tx:
        await tx.put_office(1, '{"v":"æøå"}')
    async with store.transaction() as tx:
        assert await tx.get_office(1) == '{"v":"æøå"}'
        assert await tx.get_office(2) == '{"v":"two"}'
        assert await tx.get_office(3) is None


async def test_pair_state_round_trip_per_office(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.put_pair(1, "200", '{"p":"1/200"}', None)
        await tx.put_pair(1, "100", '{"p":"1/100"}', at(5))
        await tx.put_pair(2, "100", '{"p":"2/100"}', None)
        await tx.put_pair(1, "200", '{"p":"1/200 v2"}', None)
    async with store.transaction() as tx:
        assert await tx.get_pair(1, "100") == '{"p":"1/100"}'
        assert await tx.get_pair(1, "200") == '{"p":"1/200 v2"}'
        assert await tx.get_pair(2, "100") == '{"p":"2/100"}'
        assert await tx.get_pair(2, "200") is None
        assert await tx.pairs_of_office(1) == ["100", "200"]
        assert await tx.pairs_of_office(2) == ["100"]
        assert await tx.pairs_of_office(3) == []


async def test_put_pairs_writes_many_in_one_call_like_put_pair(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.put_pair(3, "100", '{"old":true}', None)
        await tx.put_pairs([(3, "100", '{"new":true}', at(7)), (3, "200", '{"p":2}', None)])
        await tx.put_pairs([])
    async with store.transaction() as tx:
        assert await tx.get_pairs([(3, "100"), (3, "200")]) == {(3, "100"): '{"new":true}', (3, "200"): '{"p":2}'}
    assert await store.due_pairs(at(7), 10) == [(3, "100")]


async def test_get_pairs_returns_the_existing_ones_across_query_chunks(store: Store) -> None:
    async with store.transaction() as tx:
        for n in range(0, 1200, 2):
            await tx.put_pair(7, str(n), f'{{"n":{n}}}', None)
        wanted = [(7, str(n)) for n in range(1200)] + [(8, "0"), (7, "0")]
        found = await tx.get_pairs(wanted)
    assert found == {(7, str(n)): f'{{"n":{n}}}' for n in range(0, 1200, 2)}
    async with store.transaction() as tx:
        assert await tx.get_pairs([]) == {}


async def test_meta_round_trip_and_overwrite(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.get_meta("clock.watermark") is None
        await tx.put_meta("clock.watermark", "a")
        await tx.put_meta("clock.watermark", "b")
        await tx.put_meta("other", "c")
    async with store.transaction() as tx:
        assert await tx.get_meta("clock.watermark") == "b"
        assert await tx.get_meta("other") == "c"


async def test_meta_is_forgotten_on_delete(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.put_meta("resync.r1", "x")
        await tx.put_meta("resync.r2", "y")
    async with store.transaction() as tx:
        await tx.delete_meta("resync.r1")
        await tx.delete_meta("never-there")
    async with store.transaction() as tx:
        assert await tx.get_meta("resync.r1") is None and await tx.get_meta("resync.r2") == "y"


async def test_pair_keys_are_walked_in_key_order_a_chunk_at_a_time_of_all_or_one_office(store: Store) -> None:
    """A resync's walk: keyset paging by (office, hpr); HPRs compare as text, as stored."""
    keys = [(2, "300000"), (1, "200000"), (1, "1000000"), (3, "100000"), (2, "100000")]
    async with store.transaction() as tx:
        await tx.put_pairs((office, hpr, "{}", None) for office, hpr in keys)
    async with store.transaction() as tx:
        walked: list[tuple[int, str]] = []
        after = None
        while chunk := await tx.pair_keys_after(after, 2):
            assert len(chunk) <= 2
            walked += chunk
            after = chunk[-1]
        assert walked == sorted(keys)
        assert await tx.pair_keys_after((2, "100000"), 10, 2) == [(2, "300000")]
        assert await tx.pair_keys_after(None, 10, 2) == [(2, "100000"), (2, "300000")]
        assert await tx.pair_keys_after((1, "999"), 10, 2) == [(2, "100000"), (2, "300000")]
        assert await tx.pair_keys_after((3, "0"), 10, 2) == []
        assert await tx.pair_keys_after(None, 10, 9) == []


async def test_offices_are_walked_in_her_id_order_and_pair_rows_carry_when_a_change_is_due(store: Store) -> None:
    """A resync's walk of the booking lists: the offices with a stored state, a chunk at a time; and
    each pair's row with its `next_change_at`, so a pair with nothing due need not be parsed whole."""
    due = dt.datetime(2024, 3, 2, 0, tzinfo=dt.UTC)
    async with store.transaction() as tx:
        for office in (30, 10, 20):
            await tx.put_office(office, f'{{"her_id": {office}}}')
        await tx.put_pairs([(10, "1", "a", due), (10, "2", "b", None)])
    async with store.transaction() as tx:
        walked: list[int] = []
        after = None
        while chunk := await tx.office_ids_after(after, 2):
            assert len(chunk) <= 2
            walked += chunk
            after = chunk[-1]
        assert walked == [10, 20, 30]
        assert await tx.office_ids_after(30, 5) == []
        assert await tx.get_pair_rows([(10, "1"), (10, "2"), (10, "9")]) == {
            (10, "1"): ("a", due),
            (10, "2"): ("b", None),
        }
        assert await tx.get_pairs([(10, "1"), (10, "9")]) == {(10, "1"): "a"}


async def test_conversation_is_closed_once_per_office(store: Store) -> None:
    async with store.transaction() as tx:
        assert not await tx.conversation_closed(1, "conv")
        assert await tx.close_conversation(1, "conv", at(0)) is True
        assert await tx.close_conversation(1, "conv", at(1)) is False
        assert await tx.conversation_closed(1, "conv")
    async with store.transaction() as tx:
        assert await tx.close_conversation(1, "conv", at(2)) is False
        assert not await tx.conversation_closed(2, "conv")
        assert await tx.close_conversation(2, "conv", at(2)) is True


# --- exactly once: inbox and rollback ---------------------------------------------------------


async def test_inbox_recognises_a_duplicate_with_its_first_outcome(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.inbox_put("8141333", "m1", '{"receipt":"first"}', at(0))
    async with store.transaction() as tx:
        assert await tx.inbox_get("8141333", "m1") == '{"receipt":"first"}'
        # The same MsgId from another sender, or in another namespace, is another message.
        assert await tx.inbox_get("8141334", "m1") is None
        assert await tx.inbox_get("tilpass", "m1") is None
        await tx.inbox_put("tilpass", "m1", '{"receipt":"absence"}', at(1))
    async with store.transaction() as tx:
        assert await tx.inbox_get("tilpass", "m1") == '{"receipt":"absence"}'
        assert await tx.inbox_get("8141333", "m1") == '{"receipt":"first"}'


async def test_inbox_put_many_records_all_or_names_a_duplicate_and_keeps_none(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.inbox_put_many([("1", "a", '{"r":"a"}', at(0)), ("1", "b", '{"r":"b"}', at(0))])
    with pytest.raises(DuplicateMessage) as raised:
        async with store.transaction() as tx:
            await tx.inbox_put_many([("1", "c", '{"r":"c"}', at(1)), ("1", "b", '{"r":"b2"}', at(1))])
    assert (raised.value.sender, raised.value.msg_id) == ("1", "b")
    async with store.transaction() as tx:
        assert await tx.inbox_get("1", "a") == '{"r":"a"}'
        assert await tx.inbox_get("1", "b") == '{"r":"b"}'
        assert await tx.inbox_get("1", "c") is None


async def test_recording_a_duplicate_raises_and_rolls_back_its_unit_of_work(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.inbox_put("8141333", "m1", '{"receipt":"first"}', at(0))
    with pytest.raises(DuplicateMessage) as raised:
        async with store.transaction() as tx:
            await tx.put_pair(8141333, "1234567", '{"changed":true}', None)
            await tx.outbox_add(event("ev-from-duplicate"))
            await tx.inbox_put("8141333", "m1", '{"receipt":"second"}', at(1))
    assert (raised.value.sender, raised.value.msg_id) == ("8141333", "m1")
    async with store.transaction() as tx:
        assert await tx.inbox_get("8141333", "m1") == '{"receipt":"first"}'
        assert await tx.get_pair(8141333, "1234567") is None
    assert await store.outbox_backlog() == 0


async def test_a_caught_duplicate_leaves_the_transaction_usable(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.inbox_put("s", "m1", "{}", at(0))
        with pytest.raises(DuplicateMessage):
            await tx.inbox_put("s", "m1", "{}", at(0))
        await tx.put_meta("after", "ok")
    async with store.transaction() as tx:
        assert await tx.get_meta("after") == "ok"


async def test_an_exception_rolls_back_inbox_state_and_outbox_together(store: Store) -> None:
    class Crash(Exception):
        pass

    with pytest.raises(Crash):
        async with store.transaction() as tx:
            await tx.put_office(8141333, '{"roster":["1234567"]}')
            await tx.put_pair(8141333, "1234567", '{"seq":1}', at(60))
            await tx.inbox_put("8141333", "msg-1", '{"status":"OK"}', at(0))
            await tx.close_conversation(8141333, "conv-1", at(0))
            await tx.outbox_add(event("ev-1"))
            await tx.put_meta("clock.watermark", at(0).isoformat())
            raise Crash
    await assert_nothing_written(store)
    # The message is then processed again, as after a redelivery, and goes through once.
    await write_everything(store)
    await assert_everything_written(store)


async def test_cancellation_inside_a_transaction_rolls_it_back(store: Store) -> None:
    inside = asyncio.Event()
    never = asyncio.Event()

    async def handler() -> None:
        async with store.transaction() as tx:
            await tx.inbox_put("8141333", "msg-1", "{}", at(0))
            await tx.outbox_add(event("ev-1"))
            inside.set()
            await never.wait()

    task = asyncio.create_task(handler())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_nothing_written(store)


# --- outbox -----------------------------------------------------------------------------------


async def test_outbox_keeps_publish_order_and_content(store: Store) -> None:
    headers = {"fromHerId": "8093244", "attempt": 1}
    async with store.transaction() as tx:
        assert await tx.outbox_add(event("ev-b"), event("ev-a")) == 2
        assert (
            await tx.outbox_add(
                OutboxMessage(
                    "8141333_async",
                    "receipt-1",
                    b"<AppRec>\x00\xff</AppRec>",
                    headers,
                    "application/xml",
                    created_at=at(3).astimezone(OSLO_WINTER),
                )
            )
            == 1
        )
    async with store.transaction() as tx:
        await tx.outbox_add(event("ev-c"))
    rows = await store.outbox_pending(10)
    assert [(row.routing_key, row.message_id) for row in rows] == [
        ("portal.availability", "ev-b"),
        ("portal.availability", "ev-a"),
        ("8141333_async", "receipt-1"),
        ("portal.availability", "ev-c"),
    ]
    assert [row.id for row in rows] == sorted({row.id for row in rows})
    receipt = rows[2]
    assert receipt.body == b"<AppRec>\x00\xff</AppRec>"
    assert receipt.headers == headers
    assert receipt.content_type == "application/xml"
    assert receipt.created_at == at(3)
    assert rows[0].body == b'{"event_id":"ev-b"}'
    assert rows[0].content_type == "application/json"
    assert rows[0].created_at.tzinfo is not None
    assert await pending(store, 2) == ["ev-b", "ev-a"]
    assert await store.outbox_backlog() == 4


async def test_adding_the_same_message_again_is_a_no_op(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.outbox_add(event("ev-1")) == 1
        assert await tx.outbox_add(event("ev-1")) == 0
    async with store.transaction() as tx:
        # As after a crash between publishing and committing: the same change, the same id.
        assert await tx.outbox_add(event("ev-2"), event("ev-1"), event("ev-3")) == 2
        # The same message id on another routing key is another message.
        assert await tx.outbox_add(event("ev-1", routing_key="8141333_async")) == 1
    rows = await store.outbox_pending(10)
    assert [(row.routing_key, row.message_id) for row in rows] == [
        ("portal.availability", "ev-1"),
        ("portal.availability", "ev-2"),
        ("portal.availability", "ev-3"),
        ("8141333_async", "ev-1"),
    ]


async def test_marking_sent_removes_from_pending_and_stays_idempotent(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.outbox_add(*(event(f"ev-{n}") for n in range(5)))
    first = await store.outbox_pending(2)
    assert await store.outbox_mark_sent([row.id for row in first], at(1)) == 2
    assert await pending(store) == ["ev-2", "ev-3", "ev-4"]
    assert await store.outbox_backlog() == 3
    assert await store.outbox_mark_sent([first[0].id], at(2)) == 0
    assert await store.outbox_mark_sent([], at(2)) == 0
    # A sent message that is added again is not published again.
    async with store.transaction() as tx:
        assert await tx.outbox_add(event("ev-0")) == 0
    assert await store.outbox_backlog() == 3


async def test_prune_deletes_only_rows_sent_before_the_instant(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.outbox_add(*(event(f"ev-{n}") for n in range(3)))
    rows = await store.outbox_pending(10)
    await store.outbox_mark_sent([rows[0].id], at(0))
    await store.outbox_mark_sent([rows[1].id], at(10))
    assert await store.outbox_prune(at(10)) == 1
    assert await store.outbox_prune(at(10)) == 0
    assert await pending(store) == ["ev-2"]
    async with store.transaction() as tx:
        # The pruned row is forgotten: re-adding it queues it again, after everything else.
        assert await tx.outbox_add(event("ev-0")) == 1
        assert await tx.outbox_add(event("ev-1")) == 0
    requeued = await store.outbox_pending(10)
    assert [row.message_id for row in requeued] == ["ev-2", "ev-0"]
    assert requeued[1].id > max(row.id for row in rows)


# --- the clock --------------------------------------------------------------------------------


async def test_due_pairs_are_the_earliest_first_and_limited(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.put_pair(1, "late", "{}", at(30))
        await tx.put_pair(2, "b", "{}", at(10))
        await tx.put_pair(2, "a", "{}", at(10))
        await tx.put_pair(1, "early", "{}", at(5).astimezone(OSLO_WINTER))
        await tx.put_pair(1, "never", "{}", None)
        await tx.put_pair(1, "future", "{}", at(31))
    assert await store.due_pairs(at(30), 10) == [(1, "early"), (2, "a"), (2, "b"), (1, "late")]
    assert await store.due_pairs(at(30), 2) == [(1, "early"), (2, "a")]
    assert await store.due_pairs(at(10) - dt.timedelta(microseconds=1), 10) == [(1, "early")]
    assert await store.due_pairs(at(4), 10) == []
    assert await store.next_due() == at(5)
    async with store.transaction() as tx:
        await tx.put_pair(1, "early", "{}", None)
        await tx.put_pair(1, "late", "{}", at(1))
    assert await store.due_pairs(at(10), 10) == [(1, "late"), (2, "a"), (2, "b")]
    assert await store.next_due() == at(1)


async def test_instants_before_the_epoch_and_far_ahead_keep_their_order(store: Store) -> None:
    old = dt.datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    far = dt.datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    async with store.transaction() as tx:
        await tx.put_pair(1, "far", "{}", far)
        await tx.put_pair(1, "old", "{}", old)
    assert await store.due_pairs(far, 10) == [(1, "old"), (1, "far")]
    assert await store.next_due() == old


async def test_naive_datetimes_are_refused(store: Store) -> None:
    naive = dt.datetime(2024, 1, 2, 0, 0)
    async with store.transaction() as tx:
        with pytest.raises(ValueError, match="timezone-aware"):
            await tx.put_pair(1, "a", "{}", naive)
        with pytest.raises(ValueError, match="timezone-aware"):
            await tx.inbox_put("s", "m", "{}", naive)
        with pytest.raises(ValueError, match="timezone-aware"):
            await tx.outbox_add(event("ev", created_at=naive))
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.due_pairs(naive, 10)
    await assert_nothing_written(store)


# --- transactions: one at a time, and only inside their block ---------------------------------


async def test_transactions_of_concurrent_tasks_do_not_interleave(store: Store) -> None:
    log: list[str] = []
    a_inside = asyncio.Event()
    b_waiting = asyncio.Event()

    async def first() -> None:
        async with store.transaction() as tx:
            log.append("first in")
            await tx.put_meta("counter", "1")
            a_inside.set()
            await b_waiting.wait()  # hands the loop to `second`, which must not get in
            value = await tx.get_meta("counter")
            await tx.put_meta("counter", str(int(value or "0") + 1))
            log.append("first out")

    async def second() -> None:
        await a_inside.wait()
        b_waiting.set()
        async with store.transaction() as tx:
            log.append("second in")
            value = await tx.get_meta("counter")
            await tx.put_meta("counter", str(int(value or "0") + 10))
            log.append("second out")

    await asyncio.gather(first(), second())
    assert log == ["first in", "first out", "second in", "second out"]
    async with store.transaction() as tx:
        assert await tx.get_meta("counter") == "12"


async def test_a_nested_transaction_fails_instead_of_waiting_forever(store: Store) -> None:
    async with store.transaction():
        with pytest.raises(RuntimeError, match="already open"):
            async with store.transaction():
                pass
        with pytest.raises(RuntimeError, match="already open"):
            await store.timeline(1, "1", 10)  # a read in a transaction of its own
    assert await store.outbox_backlog() == 0


async def test_a_transaction_cannot_be_used_after_its_block(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.put_meta("k", "v")
    with pytest.raises(RuntimeError, match="after its"):
        await tx.put_meta("k", "w")
    async with store.transaction() as tx2:
        assert await tx2.get_meta("k") == "v"


# --- durability across restarts ---------------------------------------------------------------


async def test_reopening_finds_everything_committed_and_nothing_else(store_url: str, open_fresh) -> None:
    if store_url == "sqlite:///:memory:":
        pytest.skip("an in-memory store is private to its connection and gone at close")
    first = await open_fresh()
    await write_everything(first)
    with pytest.raises(KeyError):
        async with first.transaction() as tx:
            await tx.inbox_put("8141333", "msg-2", "{}", at(1))
            await tx.outbox_add(event("ev-2"))
            raise KeyError("crash")
    await first.close()

    again = await open_fresh()
    await assert_everything_written(again)
    async with again.transaction() as tx:
        assert await tx.inbox_get("8141333", "msg-2") is None
        assert await tx.outbox_add(event("ev-1")) == 0
        assert await tx.outbox_add(event("ev-3")) == 1
    assert await pending(again) == ["ev-1", "ev-3"]


# --- backend specifics ------------------------------------------------------------------------


async def test_sqlite_file_is_in_wal_mode_with_full_sync(tmp_path) -> None:
    path = tmp_path / "wal.sqlite3"
    store = await open_store(f"sqlite:///{path}")
    try:
        await write_everything(store)
        assert store._db.connection.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert store._db.connection.execute("PRAGMA busy_timeout").fetchone()[0] > 0
        assert (tmp_path / "wal.sqlite3-wal").exists()
        other = sqlite3.connect(path)
        try:
            assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            other.close()
    finally:
        await store.close()


async def test_a_relative_sqlite_url_is_relative_to_the_working_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = await open_store("sqlite:///relative.sqlite3")
    await store.close()
    assert (tmp_path / "relative.sqlite3").exists()


@pytest.mark.parametrize("url", ["mysql://localhost/db", "sqlite://", "sqlite:///", "file.sqlite3", "sqlite:/x"])
async def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="store URL"):
        await open_store(url)


async def test_a_database_from_a_newer_schema_is_refused(store_url: str, open_fresh) -> None:
    if store_url == "sqlite:///:memory:":
        pytest.skip("an in-memory store cannot be reopened")
    store = await open_fresh()
    async with store.transaction() as tx:
        await tx.put_meta("store.schema_version", "999")
    await store.close()
    with pytest.raises(RuntimeError, match="newer"):
        await open_fresh()


# --- replicas and the inbox's reply ------------------------------------------------------------


async def test_locking_offices_first_is_allowed_everywhere_and_changes_nothing_else(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.lock_offices([3, 1, 2, 1])
        await tx.lock_offices([])
        assert await tx.get_office(1) is None
        await tx.put_office(1, "{}")
        assert await tx.get_pair(1, "a") is None
        await tx.put_pair(1, "a", "{}", None)
    async with store.transaction() as tx:
        assert await tx.get_office(1) == "{}"
        assert await tx.get_pair(1, "a") == "{}"


async def test_the_inbox_keeps_a_replys_body_beside_the_outcome(store: Store) -> None:
    apprec = "<AppRec>æøå</AppRec>".encode() * 50
    async with store.transaction() as tx:
        await tx.inbox_put("1", "a", '{"r":"a"}', at(0), reply_body=apprec)
        await tx.inbox_put_many([("1", "b", '{"r":"b"}', at(0), apprec), ("1", "c", '{"r":"c"}', at(0))])
    async with store.transaction() as tx:
        for msg_id in "ab":
            entry = await tx.inbox_entry("1", msg_id)
            assert entry is not None and (entry.outcome, entry.reply_body) == (f'{{"r":"{msg_id}"}}', apprec)
        assert await tx.inbox_entry("1", "c") == InboxEntry('{"r":"c"}', None)
        assert await tx.inbox_get("1", "b") == '{"r":"b"}'
        assert await tx.inbox_entry("1", "d") is None


async def test_leadership_on_one_store_is_its_own(store: Store) -> None:
    assert await store.try_lead("relay")
    assert await store.try_lead("relay")
    await store.resign("relay")
    assert await store.try_lead("relay")


# --- the timeline (issue 13) -------------------------------------------------------------------


def line(minutes: int, kind: str = "message", hpr: str = "9144900", **detail: object) -> TimelineEntry:
    return TimelineEntry(8141333, hpr, at(minutes), kind, detail)  # type: ignore[arg-type]


async def test_timeline_entries_come_back_per_pair_newest_first_in_pages(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.timeline_add([line(0, msg_id="m-1", gen_date=at(-5).isoformat()), line(1, "event", sequence=1)])
        await tx.timeline_add([line(2, "absence", hpr="5522113", absence_id="a-1"), line(3, "clock", events=2)])
        await tx.timeline_add([])
    entries = await store.timeline(8141333, "9144900", 10)
    assert [(e.kind, e.at, dict(e.detail)) for e in entries] == [
        ("clock", at(3), {"events": 2}),
        ("event", at(1), {"sequence": 1}),
        ("message", at(0), {"msg_id": "m-1", "gen_date": at(-5).isoformat()}),
    ]
    assert all(e.office_her_id == 8141333 and e.practitioner_hpr == "9144900" for e in entries)
    ids = [e.id for e in entries]
    assert None not in ids and ids == sorted(ids, reverse=True)  # type: ignore[type-var]
    newest, *older = entries
    assert await store.timeline(8141333, "9144900", 1) == [newest]
    assert await store.timeline(8141333, "9144900", 10, before_id=newest.id) == older
    assert [e.detail for e in await store.timeline(8141333, "5522113", 10)] == [{"absence_id": "a-1"}]
    assert await store.timeline(8141333, "1", 10) == []
    assert await store.timeline(1, "9144900", 10) == []


async def test_timeline_details_keep_their_text_and_structure(store: Store) -> None:
    detail = {"type": "availability.changed", "changed": ["TIMEBESTILLING"], "text": "åpner igjen", "n": None}
    async with store.transaction() as tx:
        await tx.timeline_add([TimelineEntry(1, "a", at(0).astimezone(OSLO_WINTER), "event", detail)])
    (entry,) = await store.timeline(1, "a", 5)
    assert (entry.detail, entry.at) == (detail, at(0))


async def test_timeline_rows_are_part_of_the_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with store.transaction() as tx:
            await tx.timeline_add([line(0)])
            raise RuntimeError("boom")
    assert await store.timeline(8141333, "9144900", 10) == []
    with pytest.raises(ValueError):
        async with store.transaction() as tx:
            await tx.timeline_add([TimelineEntry(1, "a", dt.datetime(2024, 1, 2), "clock", {})])
    assert (await store.retained_rows()).timeline == 0
