"""Several processes on one PostgreSQL store: each test opens two stores (two connections, as two
replicas have) on the same schema and makes their transactions meet.

What is pinned: a transaction that locked its offices excludes another on the same office even
when no row exists yet (the second sees the first's row); without the lock, a row the first
created is never overwritten (StoreContention, then the retry sees it); crossing batches do not
deadlock, and a deadlock of row locks surfaces as StoreContention and is retried; leadership is
held by one store at a time and passes on when its holder's connection ends.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import psycopg
import pytest

from adapter.store import OutboxMessage, Store, StoreContention, Transaction, open_store, retry_on_contention

pytestmark = pytest.mark.postgres

OFFICE, HPR = 8141333, "9144900"


@pytest.fixture
async def two(postgres_schema_url: str) -> AsyncIterator[tuple[Store, Store]]:
    first = await open_store(postgres_schema_url)
    second = await open_store(postgres_schema_url)
    yield first, second
    await first.close()
    await second.close()


async def wait_for(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


def waiting_on_advisory_lock(url: str) -> Callable[[], Awaitable[bool]]:
    """True once some session waits for an advisory lock of the test's database."""

    async def check() -> bool:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
            cursor = await admin.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            row = await cursor.fetchone()
            return bool(row and row[0])

    return check


async def first_message(tx: Transaction, note: str, lock: bool = True) -> int:
    """What the service does for a status message: lock, read, decide the next sequence, stage the
    pair, its office and the event; returns the sequence it minted."""
    if lock:
        await tx.lock_offices([OFFICE])
    office = await tx.get_office(OFFICE)
    pair = await tx.get_pair(OFFICE, HPR)
    sequence = (json.loads(pair)["seq"] if pair else 0) + 1
    notes = (json.loads(pair)["notes"] if pair else []) + [note]
    await tx.put_pair(OFFICE, HPR, json.dumps({"seq": sequence, "notes": notes}), None)
    await tx.put_office(OFFICE, office or json.dumps({"roster": None}))
    body = json.dumps({"seq": sequence, "notes": notes}).encode()
    await tx.outbox_add(OutboxMessage("portal.availability", f"{OFFICE}-{HPR}-{sequence}", body))
    return sequence


async def events(store: Store) -> list[tuple[str, dict[str, object]]]:
    return [(row.message_id, json.loads(row.body)) for row in await store.outbox_pending(100)]


async def test_the_first_message_of_a_new_pair_and_office_on_two_connections_runs_one_at_a_time(
    two: tuple[Store, Store], postgres_schema_url: str
) -> None:
    a, b = two
    a_decided = asyncio.Event()
    a_may_commit = asyncio.Event()

    async def first() -> int:
        async with a.transaction() as tx:
            sequence = await first_message(tx, "a")
            a_decided.set()
            await a_may_commit.wait()
            return sequence

    async def second() -> int:
        await a_decided.wait()
        async with b.transaction() as tx:
            return await first_message(tx, "b")

    first_task, second_task = asyncio.create_task(first()), asyncio.create_task(second())
    try:
        await wait_for(waiting_on_advisory_lock(postgres_schema_url), "the second transaction to wait for the office")
        assert not second_task.done()
    finally:
        a_may_commit.set()  # also when the test fails: never leave a transaction hanging
    assert (await first_task, await second_task) == (1, 2)
    async with a.transaction() as tx:
        assert json.loads(await tx.get_pair(OFFICE, HPR) or "") == {"seq": 2, "notes": ["a", "b"]}
        assert await tx.get_office(OFFICE) == json.dumps({"roster": None})
    # Two events, each minted once, the second carrying the first's change too.
    assert await events(a) == [
        (f"{OFFICE}-{HPR}-1", {"seq": 1, "notes": ["a"]}),
        (f"{OFFICE}-{HPR}-2", {"seq": 2, "notes": ["a", "b"]}),
    ]


async def test_without_the_lock_a_row_created_meanwhile_is_never_overwritten(two: tuple[Store, Store]) -> None:
    a, b = two
    both_read = asyncio.Event()
    a_committed = asyncio.Event()
    attempts = 0

    async def first() -> None:
        async with a.transaction() as tx:
            assert await tx.get_pair(OFFICE, HPR) is None
            await both_read.wait()
            await first_message(tx, "a", lock=False)
        a_committed.set()

    async def second() -> int:
        async def attempt() -> int:
            nonlocal attempts
            attempts += 1
            async with b.transaction() as tx:
                if attempts == 1:
                    assert await tx.get_pair(OFFICE, HPR) is None
                    assert await tx.get_office(OFFICE) is None
                    both_read.set()
                    await a_committed.wait()  # `first` creates the rows this one read as missing
                return await first_message(tx, "b", lock=False)

        retried: list[StoreContention] = []
        return await retry_on_contention(attempt, on_retry=retried.append)

    _, sequence = await asyncio.gather(first(), second())
    assert (sequence, attempts) == (2, 2)
    async with a.transaction() as tx:
        assert json.loads(await tx.get_pair(OFFICE, HPR) or "") == {"seq": 2, "notes": ["a", "b"]}
    assert [message_id for message_id, _ in await events(a)] == [f"{OFFICE}-{HPR}-1", f"{OFFICE}-{HPR}-2"]


async def test_a_new_office_created_meanwhile_is_a_contention_not_an_overwrite(two: tuple[Store, Store]) -> None:
    a, b = two
    async with b.transaction() as tx_b:
        assert await tx_b.get_office(1) is None
        async with a.transaction() as tx_a:
            await tx_a.put_office(1, '{"by":"a"}')
        with pytest.raises(StoreContention, match="office 1"):
            await tx_b.put_office(1, '{"by":"b"}')
    async with b.transaction() as tx:
        assert await tx.get_office(1) == '{"by":"a"}'


async def test_crossing_batches_lock_in_one_order_and_both_finish(two: tuple[Store, Store]) -> None:
    a, b = two
    offices = list(range(1000, 1200))
    rounds = 10

    async def batch(store: Store, order: list[int]) -> None:
        async with store.transaction() as tx:
            await tx.lock_offices(order)
            for office in order[:5]:
                state = await tx.get_office(office)
                count = json.loads(state)["n"] if state else 0
                await tx.put_office(office, json.dumps({"n": count + 1}))

    for _ in range(rounds):  # both at once, in opposite orders: a deadlock would end one of them
        await asyncio.wait_for(asyncio.gather(batch(a, offices), batch(b, list(reversed(offices)))), timeout=20)
    async with a.transaction() as tx:
        counts = [json.loads(await tx.get_office(o) or "")["n"] for o in offices[:5] + offices[-5:]]
    assert counts == [rounds] * 10


async def test_a_deadlock_surfaces_as_contention_and_the_retry_completes_both(two: tuple[Store, Store]) -> None:
    a, b = two
    async with a.transaction() as tx:
        await tx.put_pairs([(1, "x", '{"n":0}', None), (2, "y", '{"n":0}', None)])
    holding = {"a": asyncio.Event(), "b": asyncio.Event()}
    contentions: list[StoreContention] = []

    async def crossing(store: Store, name: str, mine: tuple[int, str], theirs: tuple[int, str]) -> None:
        first_attempt = True

        async def attempt() -> None:
            nonlocal first_attempt
            async with store.transaction() as tx:
                # Row locks in message order, without lock_offices: the old way, which deadlocks.
                state = json.loads(await tx.get_pair(*mine) or "")
                if first_attempt:
                    first_attempt = False
                    holding[name].set()
                    await holding["b" if name == "a" else "a"].wait()
                other = json.loads(await tx.get_pair(*theirs) or "")
                await tx.put_pair(*mine, json.dumps({"n": state["n"] + 1}), None)
                await tx.put_pair(*theirs, json.dumps({"n": other["n"] + 1}), None)

        await retry_on_contention(attempt, on_retry=contentions.append)

    await asyncio.wait_for(
        asyncio.gather(crossing(a, "a", (1, "x"), (2, "y")), crossing(b, "b", (2, "y"), (1, "x"))), timeout=30
    )
    assert len(contentions) == 1 and "deadlock" in str(contentions[0])
    async with a.transaction() as tx:
        assert await tx.get_pairs([(1, "x"), (2, "y")]) == {(1, "x"): '{"n": 2}', (2, "y"): '{"n": 2}'}


async def test_one_leader_per_role_and_the_role_passes_on_when_its_holder_goes(two: tuple[Store, Store]) -> None:
    a, b = two
    assert await a.try_lead("relay")
    assert await a.try_lead("relay")  # asking again keeps it
    assert not await b.try_lead("relay")
    assert await b.try_lead("retention")  # another role, another lock
    assert not await a.try_lead("retention")
    await a.resign("relay")
    assert await b.try_lead("relay")
    assert not await a.try_lead("relay")
    await b.close()  # as when its process dies: the connection ends, so do its locks
    await wait_for(lambda: a.try_lead("relay"), "the role to pass on")
    assert await a.try_lead("retention")


async def test_a_killed_holders_role_passes_on(two: tuple[Store, Store], postgres_url: str) -> None:
    a, b = two
    assert await a.try_lead("relay")
    async with a.transaction() as tx:
        await tx.put_meta("who", "a")
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
        # Ends a's session from outside, as when its process is killed.
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND pid <> pg_backend_pid() AND objid = (%s::bigint & 4294967295)::oid"
            " AND classid = ((%s::bigint >> 32) & 4294967295)::oid",
            (lock_key_of(a, "lead:relay"), lock_key_of(a, "lead:relay")),
        )
    await wait_for(lambda: b.try_lead("relay"), "the standby to take the role over")


def lock_key_of(store: Store, name: str) -> int:
    from adapter.store.postgres import lock_key

    return lock_key(store._db.namespace, name)  # type: ignore[attr-defined]


async def test_stores_in_other_schemas_do_not_share_locks_or_roles(two: tuple[Store, Store], postgres_url: str) -> None:
    a, _ = two
    schema = f"ddfl_store_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in postgres_url else "?"
    other = await open_store(f"{postgres_url}{separator}options=-csearch_path%3D{schema}")
    try:
        assert await a.try_lead("relay")
        assert await other.try_lead("relay")
        async with a.transaction() as tx:
            await tx.lock_offices([OFFICE])
            async with other.transaction() as tx_other:
                await asyncio.wait_for(tx_other.lock_offices([OFFICE]), timeout=5)
    finally:
        await other.close()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
