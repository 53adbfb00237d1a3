"""The clock works a midnight's ticks out in the minute before it (`Scheduler.AHEAD`, issue 14's
midnight burst), ticks them at the midnight from that work (R11), and lets it go once ticked.
No broker: the real processor, pipeline and SQLite store; waits are on conditions, with timeouts."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

from adapter.bootstrap import default_settings, processor
from adapter.store import open_store
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


async def test_r11_the_clock_prepares_a_midnight_in_the_minute_before_it_and_ticks_it_from_that(tmp_path: Path):
    store = await open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        clock = await write_steps(store, scenario(), until=LAST_STEP)
        due = await store.due_pairs(ABSENCE_BEGINS, 512)
        service = processor(store, default_settings(http_port=None), clock)
        pipeline = Pipeline(service, 256)
        pipeline.start()
        scheduler = Scheduler(store, pipeline, clock, interval=3600, ahead=service)
        scheduler.start()
        try:
            # its first round done, it waits on the clock: the midnight is a day and a half away
            await wait_until(lambda: scheduler.leading and bool(clock._moved))
            assert scheduler.prepared_for is None and len(service.prepared) == 0
            staged = await store.outbox_backlog()  # the scenario's own AppRecs and events (no relay here)

            clock.set(ABSENCE_BEGINS - Scheduler.AHEAD + dt.timedelta(seconds=1))  # within the minute
            await wait_until(lambda: scheduler.prepared_for == ABSENCE_BEGINS)
            await wait_until(lambda: len(service.prepared) == len(due))
            assert await store.outbox_backlog() == staged  # worked out, nothing staged before the midnight

            clock.set(ABSENCE_BEGINS)
            await wait_until(lambda: len(service.prepared) == 0)  # ticked, and let go
            assert (await store.next_due() or ABSENCE_BEGINS) > ABSENCE_BEGINS
            bodies = [row.body for row in await store.outbox_pending(100)][staged:]
            assert any(b'"availability.changed"' in body for body in bodies)  # the absence closed the services
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
