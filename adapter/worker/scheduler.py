"""The clock's side of R11: wakes at the next due midnight and feeds ticks into the pipeline.

Each round ticks every pair due at the earliest pending instant up to that instant only, so after
a restart that slept through several midnights the changes are published in time order, once.
"""

from __future__ import annotations

import logging

from ..service.processor import Work
from ..store.base import PairKey, Store
from .background import BackgroundLoop
from .clock import Clock
from .pipeline import Pipeline

log = logging.getLogger("ddfl.clock")


class Scheduler(BackgroundLoop):
    name = "ddfl-clock"

    def __init__(self, store: Store, pipeline: Pipeline, clock: Clock, batch: int = 512, interval: float = 30.0):
        super().__init__()
        self._store = store
        self._pipeline = pipeline
        self._clock = clock
        self._batch = batch
        self._interval = interval

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                ticked = await self.catch_up()
            except Exception as error:
                log.error(
                    "clock round failed; will retry",
                    extra={"event": "DDFL-CLOCK-FAILED", "error": type(error).__name__},
                )
                ticked = 0
            if ticked:
                continue
            deadline = await self._store.next_due()
            await self._clock.wait(deadline, self._wake, self._interval)

    async def catch_up(self) -> int:
        """Tick every pair due by now, earliest instant first; returns how many pairs were ticked."""
        ticked = 0
        previous: tuple[object, list[PairKey]] | None = None
        while not self._stopping:
            due_at = await self._store.next_due()
            if due_at is None or due_at > self._clock.now():
                break
            keys = await self._store.due_pairs(due_at, self._batch)
            if not keys or (due_at, keys) == previous:
                break  # nothing moved (a tick keeps failing): wait, rather than spin
            previous = (due_at, keys)
            await self._pipeline.submit_many([Work(kind="tick", key=key, until=due_at) for key in keys])
            ticked += len(keys)
        return ticked
