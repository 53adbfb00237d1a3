"""The clock's side of R11: wakes at the next due midnight and feeds ticks into the pipeline.

Each round ticks every pair due at the earliest pending instant up to that instant only, so after
a restart that slept through several midnights the changes are published in time order, once.
Across replicas on one store only the holder of the "clock" role catches up (the others stand by
and take over when it dies): one process ticks, so ticks do not contend with each other.
"""

from __future__ import annotations

import logging

from ..service.processor import Work
from ..store.base import PairKey, Store
from .background import BackgroundLoop
from .clock import Clock
from .pipeline import Pipeline

log = logging.getLogger("ddfl.clock")

ROLE = "clock"


class Scheduler(BackgroundLoop):
    name = "ddfl-clock"

    def __init__(self, store: Store, pipeline: Pipeline, clock: Clock, batch: int = 512, interval: float = 30.0):
        super().__init__()
        self._store = store
        self._pipeline = pipeline
        self._clock = clock
        self._batch = batch
        self._interval = interval
        #: Whether this process's clock ticks (holds the store's "clock" role); False until it asked.
        self.leading = False

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
            # A standby has no deadline of its own (the leader ticks what is due): it asks again
            # after `interval`, rather than spinning on a due instant it may not tick.
            deadline = await self._store.next_due() if self.leading else None
            await self._clock.wait(deadline, self._wake, self._interval)

    async def catch_up(self) -> int:
        """Tick every pair due by now, earliest instant first; returns how many pairs were ticked."""
        self.leading = await self._store.try_lead(ROLE)
        if not self.leading:
            return 0  # another replica's clock ticks; ask again next round
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

    async def stop(self) -> None:
        """End, and hand the role over at once (a standby's clock takes over on its next round)."""
        await super().stop()
        if self.leading:
            await self._store.resign(ROLE)
            self.leading = False
