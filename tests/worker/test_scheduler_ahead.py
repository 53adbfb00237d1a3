"""The clock works a midnight's ticks out in the minute before it (`Scheduler.AHEAD`, issue 14's
midnight burst), ticks them at the midnight from that work (R11), and lets it go once ticked.
No broker: the real processor, pipeline and SQLite store; waits are on conditions, with timeouts."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from adapter.bootstrap import default_settings, processor
from adapter.service.processor import Processor
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
        scheduler = Scheduler(store, pipeline, clock, interval=3600, ahead=service, encode_ahead=encode_ahead)
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

        clock.set(ABSENCE_BEGINS)
        await wait_until(lambda: len(service.prepared) == 0)  # ticked, and forgotten
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
