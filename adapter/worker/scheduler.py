"""The clock's side of R11: wakes at the next due midnight and feeds ticks into the pipeline.

Each round ticks every pair due at the earliest pending instant up to that instant only, so after
a restart that slept through several midnights the changes are published in time order, once.
Across replicas on one store only the holder of the "clock" role catches up (the others stand by
and take over when it dies): one process ticks, so ticks do not contend with each other.

`AHEAD` before a due instant, the leader wakes and works out the ticks due then (`prepare`,
`service.prepared`), and has their events' messages encoded for the broker (`encode_ahead`, the
relay's publisher): at a midnight where thousands of absences begin, what is left after it is
writing and publishing (issue 14). Once they are ticked, that work is forgotten at once and its
memory let go `LET_GO_AFTER` later, in steps, while the relay publishes the last of the burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol

from ..service.commands import Tick
from ..service.prepared import PreparedTicks
from ..service.processor import Work
from ..store.base import OutboxMessage, PairKey, Store
from .background import BackgroundLoop
from .clock import Clock
from .pipeline import Pipeline

log = logging.getLogger("ddfl.clock")

ROLE = "clock"


class TicksAhead(Protocol):
    """Where ticks are worked out ahead (`Processor`)."""

    async def prepare_ticks(self, at: dt.datetime, keys: list[PairKey]) -> int: ...

    def prepared_messages(self) -> list[OutboxMessage]: ...

    def forget_prepared(self) -> Iterator[None]:
        """Forget them at once; the steps returned let their memory go."""
        ...


class Scheduler(BackgroundLoop):
    name = "ddfl-clock"

    #: How long before a due instant its ticks are worked out (`prepare`): long enough for a
    #: national midnight's (a few seconds of CPU on a loaded machine), short enough that few
    #: pairs change in between (a changed one is ticked as usual).
    AHEAD = dt.timedelta(seconds=60)
    #: At most this many pairs read to be prepared for one instant: as many as are kept.
    PREPARE_LIMIT = PreparedTicks.LIMIT
    #: Seconds after an instant's ticks are done before the memory of their preparation is let
    #: go (in steps, between turns of the event loop): meanwhile the relay publishes the last
    #: of their rows, which freeing some 60 MB of objects at once held up (docs/throughput.md).
    LET_GO_AFTER = 2.0

    def __init__(
        self,
        store: Store,
        pipeline: Pipeline,
        clock: Clock,
        batch: int = 512,
        interval: float = 30.0,
        ahead: TicksAhead | None = None,
        encode_ahead: Callable[[list[OutboxMessage]], Awaitable[int]] | None = None,
    ):
        super().__init__()
        self._store = store
        self._pipeline = pipeline
        self._clock = clock
        self._batch = batch
        self._interval = interval
        #: None: nothing is worked out ahead (every tick when due)
        self._ahead = ahead
        #: Where the prepared ticks' messages are encoded for publishing, ahead too (the relay's
        #: publisher; an empty list forgets them). None: they are encoded when published.
        self._encode_ahead = encode_ahead
        #: Whether this process's clock ticks (holds the store's "clock" role); False until it asked.
        self.leading = False
        #: The due instant whose ticks were last worked out ahead (None: none yet).
        self.prepared_for: dt.datetime | None = None
        #: The earliest due instant as `catch_up` last read it (None: nothing due).
        self._due: dt.datetime | None = None
        #: The instant whose preparation was last forgotten (its ticks done), and the task letting
        #: that memory go (`LET_GO_AFTER`).
        self._forgotten: dt.datetime | None = None
        self._letting_go: asyncio.Task[None] | None = None
        #: The prepared instant's tick items, made ahead, by pair.
        self._works_ahead: dict[PairKey, Work] = {}

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
            # after `interval`, rather than spinning on a due instant it may not tick. The
            # leader's is what `catch_up` has just read (a commit since then wakes this loop
            # again): a second read was one more per message at a low rate (issue 14).
            deadline = self._due if self.leading else None
            if deadline is not None and self._ahead is not None and deadline != self.prepared_for:
                if deadline - self._clock.now() > self.AHEAD:
                    deadline -= self.AHEAD  # wake early, to prepare
                else:
                    await self._prepare_ticks(deadline)
            await self._clock.wait(deadline, self._wake, self._interval)

    async def _prepare_ticks(self, at: dt.datetime) -> None:
        """Work out ahead the ticks due at `at`: a failure here only leaves them to be worked out
        at `at`, as without preparing."""
        assert self._ahead is not None
        self._works_ahead = {}  # another instant's (until: `at`'s are made)
        try:
            try:
                keys = await self._store.due_pairs(at, self.PREPARE_LIMIT)
                prepared = await self._ahead.prepare_ticks(at, keys)
                self._works_ahead = {key: _tick(key, at) for key in keys}
            except Exception as error:
                log.warning(
                    "working out a midnight's ticks ahead failed; they will be worked out when due",
                    extra={"event": "DDFL-CLOCK-PREPARE-FAILED", "error": type(error).__name__},
                )
                return
            encoded = await self._encoded_ahead(self._ahead.prepared_messages())
        finally:
            self.prepared_for = at  # once, done or not: a failure is not tried again in a loop
        log.info(
            "ticks worked out ahead",
            extra={"event": "DDFL-CLOCK-PREPARED", "due_at": at.isoformat(), "pairs": prepared, "encoded": encoded},
        )

    async def _encoded_ahead(self, messages: list[OutboxMessage]) -> int:
        """Hand the messages to `encode_ahead` (none: forget what it holds); a failure there (no
        broker just now) leaves them to be encoded when published, as without it."""
        if self._encode_ahead is None:
            return 0
        try:
            return await self._encode_ahead(messages)
        except Exception as error:
            log.warning(  # a part of working its ticks out ahead: the catalogue's entry says it
                "encoding a midnight's messages ahead failed; they will be encoded when published",
                extra={"event": "DDFL-CLOCK-PREPARE-FAILED", "error": type(error).__name__, "stage": "encode"},
            )
            return 0

    async def catch_up(self) -> int:
        """Tick every pair due by now, earliest instant first; returns how many pairs were ticked."""
        self.leading = await self._store.try_lead(ROLE)
        if not self.leading:
            return 0  # another replica's clock ticks; ask again next round
        ticked = 0
        previous: tuple[object, list[PairKey]] | None = None
        while not self._stopping:
            due_at = self._due = await self._store.next_due()
            if due_at is None or due_at > self._clock.now():
                break
            # The prepared instant's pairs in one round (the store's due index is read once, not
            # once per `batch`: each read sorted every pair still due), their Works made ahead.
            ahead = self._works_ahead if due_at == self.prepared_for else {}
            keys = await self._store.due_pairs(due_at, max(self._batch, len(ahead)))
            if not keys or (due_at, keys) == previous:
                break  # nothing moved (a tick keeps failing): wait, rather than spin
            previous = (due_at, keys)
            await self._pipeline.submit_many([ahead.get(key) or _tick(key, due_at) for key in keys])
            ticked += len(keys)
        if (
            self._ahead is not None
            and self.prepared_for is not None
            and self.prepared_for != self._forgotten
            and self.prepared_for <= self._clock.now()
        ):
            # that instant's ticks are done (or failing: worked out when due)
            self._forgotten, self._works_ahead = self.prepared_for, {}
            steps = self._ahead.forget_prepared()
            if self._letting_go is None or self._letting_go.done():
                self._letting_go = asyncio.create_task(self._let_go(steps), name="ddfl-clock-let-go")
            # else (a second instant done within LET_GO_AFTER) these are let go here, at once
        return ticked

    async def _let_go(self, steps: Iterator[None]) -> None:
        await asyncio.sleep(self.LET_GO_AFTER)
        await self._encoded_ahead([])
        for _ in steps:
            await asyncio.sleep(0)

    async def stop(self) -> None:
        """End, and hand the role over at once (a standby's clock takes over on its next round)."""
        await super().stop()
        if self._letting_go is not None:
            self._letting_go.cancel()  # what is left is let go with it
            with contextlib.suppress(asyncio.CancelledError):
                await self._letting_go
            self._letting_go = None
        if self.leading:
            await self._store.resign(ROLE)
            self.leading = False


def _tick(key: PairKey, at: dt.datetime) -> Work:
    """The clock's item for a pair due at `at`, parsed here (a tick is its key and instant:
    nothing to read, nothing copied later)."""
    return Work(kind="tick", key=key, until=at, parsed=Tick(key, at))
