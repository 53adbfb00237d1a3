"""The clock works a midnight's ticks out in the minute before it (`Scheduler.AHEAD`, issue 14's
midnight burst), ticks them at the midnight from that work (R11), and lets it go once ticked.
No broker: the real processor, pipeline and SQLite store; waits are on conditions, with timeouts."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from adapter.bootstrap import default_settings, processor
from adapter.service.commands import Tick
from adapter.service.processor import Done, Processor, Work
from adapter.store import open_store
from adapter.store.base import OutboxMessage, PairKey, Store
from adapter.worker.clock import ManualClock
from adapter.worker.pipeline import Pipeline
from adapter.worker.scheduler import Scheduler

from ..api.support import scenario, write_steps

OSLO = dt.timezone(dt.timedelta(hours=1))
LAST_STEP = dt.datetime(2023, 12, 20, 15, 5, tzinfo=OSLO)
ABSENCE_BEGINS = dt.datetime(2023, 12, 22, 0, 0, tzinfo=OSLO)


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@asynccontextmanager
async def clock_running(
    tmp_path: Path, encode_ahead: Callable[[list[OutboxMessage]], Awaitable[int]]
) -> AsyncIterator[tuple[Store, ManualClock, Processor, Scheduler, list[PairKey]]]:
    """The scenario's store to the day before the absence begins, its clock running (waiting for
    its first deadline), and the pairs due when the absence begins."""
    store = await open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        clock = await write_steps(store, scenario(), until=LAST_STEP)
        due = await store.due_pairs(ABSENCE_BEGINS, 512)
        service = processor(store, default_settings(http_port=None), clock)
        pipeline = Pipeline(service, 256)
        pipeline.start()
        # rounds of one pair: the prepared instant's are ticked in one round all the same
        scheduler = Scheduler(store, pipeline, clock, batch=1, interval=3600, ahead=service, encode_ahead=encode_ahead)
        scheduler.LET_GO_AFTER = 0.2
        scheduler.start()
        try:
            # its first round done, it waits on the clock: the midnight is a day and a half away
            await wait_until(lambda: scheduler.leading and bool(clock._moved))
            yield store, clock, service, scheduler, due
        finally:
            await scheduler.stop()
            await pipeline.stop()
    finally:
        await store.close()


async def test_a_round_with_nothing_due_reads_the_next_due_instant_once(tmp_path: Path, monkeypatch) -> None:
    """The clock is woken after every commit; with nothing due it read the next due instant twice a
    round (in `catch_up`, then for its deadline), one read more per message at a low rate."""
    store = await open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        clock = await write_steps(store, scenario(), until=LAST_STEP)
        pipeline = Pipeline(processor(store, default_settings(http_port=None), clock), 256)
        next_due = store.next_due
        reads: list[dt.datetime | None] = []

        async def counted() -> dt.datetime | None:
            reads.append(await next_due())
            return reads[-1]

        monkeypatch.setattr(store, "next_due", counted)
        waits: list[dt.datetime | None] = []
        wait = clock.wait

        async def recorded(deadline: dt.datetime | None, wake: asyncio.Event, max_seconds: float) -> None:
            waits.append(deadline)
            await wait(deadline, wake, max_seconds)

        monkeypatch.setattr(clock, "wait", recorded)
        scheduler = Scheduler(store, pipeline, clock, interval=3600)
        scheduler.start()
        try:
            for round_ in (1, 2, 3):
                await wait_until(lambda: len(waits) == round_)  # noqa: B023 (awaited here)
                if round_ < 3:
                    scheduler.wake()  # as a commit does
        finally:
            await scheduler.stop()
        assert len(waits) == 3 and len(reads) == 3, "one read a round"
        assert reads[0] is not None and reads[0] > LAST_STEP, "a change is due after the scenario's end"
        assert waits[:3] == reads[:3], "each round waits for the instant it read"
    finally:
        await store.close()


async def test_r11_the_clock_prepares_a_midnight_in_the_minute_before_it_and_ticks_it_from_that(tmp_path: Path):
    encoded: list[list[OutboxMessage]] = []

    async def encode_ahead(messages: list[OutboxMessage]) -> int:
        encoded.append(messages)
        return len(messages)

    async with clock_running(tmp_path, encode_ahead) as (store, clock, service, scheduler, due):
        assert scheduler.prepared_for is None and len(service.prepared) == 0
        staged = await store.outbox_backlog()  # the scenario's own AppRecs and events (no relay here)

        clock.set(ABSENCE_BEGINS - Scheduler.AHEAD + dt.timedelta(seconds=1))  # within the minute
        await wait_until(lambda: scheduler.prepared_for == ABSENCE_BEGINS)
        await wait_until(lambda: len(service.prepared) == len(due))
        assert await store.outbox_backlog() == staged  # worked out, nothing staged before the midnight
        assert len(encoded) == 1  # their messages handed on to be encoded ahead, before the minute's end
        assert encoded[0] and encoded[0] == service.prepared_messages()

        submitted: list[list[Work]] = []
        submit_many = scheduler._pipeline.submit_many

        async def submit(works: list[Work]) -> list[Done]:
            submitted.append(works)
            return await submit_many(works)

        scheduler._pipeline.submit_many = submit  # type: ignore[method-assign]
        prepared_works = dict(scheduler._works_ahead)
        clock.set(ABSENCE_BEGINS)
        await wait_until(lambda: len(service.prepared) == 0)  # ticked, and forgotten
        (round_,) = submitted  # of the items made ahead
        assert [work.key for work in round_] == due and all(work is prepared_works[work.key] for work in round_)
        assert all(work.parsed == Tick(work.key, ABSENCE_BEGINS) for work in round_)
        await wait_until(lambda: encoded[-1:] == [[]])  # after LET_GO_AFTER, the encoded ones too
        assert len(encoded) == 2
        assert (await store.next_due() or ABSENCE_BEGINS) > ABSENCE_BEGINS
        bodies = [row.body for row in await store.outbox_pending(100)][staged:]
        assert any(b'"availability.changed"' in body for body in bodies)  # the absence closed the services


async def test_r11_messages_that_cannot_be_encoded_ahead_leave_the_ticks_prepared_and_are_encoded_when_published(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    async def encode_ahead(messages: list[OutboxMessage]) -> int:
        raise ConnectionError("no broker connection")

    async with clock_running(tmp_path, encode_ahead) as (store, clock, service, scheduler, due):
        clock.set(ABSENCE_BEGINS - Scheduler.AHEAD + dt.timedelta(seconds=1))
        await wait_until(lambda: scheduler.prepared_for == ABSENCE_BEGINS)
        assert len(service.prepared) == len(due)  # the ticks stay worked out
        (failed,) = [r for r in caplog.records if getattr(r, "event", None) == "DDFL-CLOCK-PREPARE-FAILED"]
        assert (getattr(failed, "stage", None), getattr(failed, "error", None)) == ("encode", "ConnectionError")

        clock.set(ABSENCE_BEGINS)
        await wait_until(lambda: len(service.prepared) == 0)
        assert (await store.next_due() or ABSENCE_BEGINS) > ABSENCE_BEGINS  # ticked all the same


class DueStore:
    """The store as the clock reads it: `due` pairs at one instant until they are ticked."""

    def __init__(self, at: dt.datetime, due: list[PairKey]) -> None:
        self.at, self.due, self.limits = at, due, []

    async def try_lead(self, role: str) -> bool:
        return True

    async def next_due(self) -> dt.datetime | None:
        return self.at if self.due else None

    async def due_pairs(self, at: dt.datetime, limit: int) -> list[PairKey]:
        self.limits.append(limit)
        return self.due[:limit] if at >= self.at else []


class Ahead:
    """Where the ticks are worked out ahead: only counted."""

    def __init__(self) -> None:
        self.prepared: list[PairKey] = []

    async def prepare_ticks(self, at: dt.datetime, keys: list[PairKey]) -> int:
        self.prepared = keys
        return len(keys)

    def prepared_messages(self) -> list[OutboxMessage]:
        return []

    def forget_prepared(self) -> Iterator[None]:
        self.prepared = []
        return iter(())


class Ticking:
    """The pipeline: takes each round's items and ticks them (their pairs no longer due)."""

    def __init__(self, store: DueStore) -> None:
        self.store, self.rounds = store, []

    async def submit_many(self, works: list[Work]) -> list[Done]:
        self.rounds.append(works)
        self.store.due = [key for key in self.store.due if key not in {work.key for work in works}]
        return [Done(ok=True)] * len(works)


async def test_r11_the_prepared_instant_is_ticked_in_one_round_of_the_items_made_ahead_another_in_rounds_of_batch():
    due = [(1, f"{hpr:09}") for hpr in range(5)]
    store = DueStore(ABSENCE_BEGINS, due)
    clock = ManualClock(ABSENCE_BEGINS - Scheduler.AHEAD + dt.timedelta(seconds=1))
    ticking = Ticking(store)
    ahead = Ahead()
    scheduler = Scheduler(store, ticking, clock, batch=2, interval=3600, ahead=ahead)  # type: ignore[arg-type]
    await scheduler._prepare_ticks(ABSENCE_BEGINS)
    assert ahead.prepared == due and store.limits == [Scheduler.PREPARE_LIMIT]
    made = dict(scheduler._works_ahead)

    clock.set(ABSENCE_BEGINS)
    assert await scheduler.catch_up() == 5
    (round_,) = ticking.rounds  # one round: the due index read once
    assert store.limits[1:] == [5]
    assert [work.key for work in round_] == [key for key, _ in made.items()] and all(
        work is made[work.key] and work.parsed == Tick(work.key, ABSENCE_BEGINS) for work in round_
    )
    assert scheduler._works_ahead == {}  # let go with the rest

    store.due = due  # due again, its preparation forgotten: rounds of `batch`, made when due
    ticking.rounds.clear()
    assert await scheduler.catch_up() == 5
    assert [len(r) for r in ticking.rounds] == [2, 2, 1] and store.limits[2:] == [2, 2, 2]
    assert all(work.parsed == Tick(work.key, ABSENCE_BEGINS) for r in ticking.rounds for work in r)


async def test_r11_items_made_for_one_instant_are_never_handed_out_for_another():
    """Prepared for a midnight, then an earlier instant came due (a new absence) and preparing it
    failed: its pairs are ticked to their own instant, not with the other midnight's items."""
    later = ABSENCE_BEGINS + dt.timedelta(days=1)
    due = [(1, f"{hpr:09}") for hpr in range(3)]
    store = DueStore(later, due)
    clock = ManualClock(ABSENCE_BEGINS - dt.timedelta(days=1))
    ticking = Ticking(store)
    scheduler = Scheduler(store, ticking, clock, batch=2, interval=3600, ahead=Ahead())  # type: ignore[arg-type]
    await scheduler._prepare_ticks(later)
    assert {work.until for work in scheduler._works_ahead.values()} == {later}

    store.at = ABSENCE_BEGINS

    async def failing(at: dt.datetime, limit: int) -> list[PairKey]:
        raise ConnectionError("the store is away")

    store.due_pairs, reading = failing, store.due_pairs  # type: ignore[method-assign]
    await scheduler._prepare_ticks(ABSENCE_BEGINS)
    assert scheduler.prepared_for == ABSENCE_BEGINS and scheduler._works_ahead == {}
    store.due_pairs = reading  # type: ignore[method-assign]
    clock.set(ABSENCE_BEGINS)
    assert await scheduler.catch_up() == 3
    assert all(work.until == ABSENCE_BEGINS for r in ticking.rounds for work in r)
