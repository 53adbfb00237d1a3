"""The outbox relay: publishes committed outbox rows in order, with publisher confirms, and marks
them sent. A crash between publishing and marking publishes a row again with the same message id;
consumers deduplicate on it (stable event ids).

Across replicas on one store, only the leader publishes (the store's "relay" role): one publisher
keeps the outbox's order (hence every pair's) and publishes each row once in steady state. The
others ask again every second, so when the leader dies (its store connection ends) one of them
takes over within about a second and publishes what the leader left, in order; a row the leader
published but had not marked sent goes out again under the same message id."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import Counter, deque
from collections.abc import Callable
from typing import Protocol

from ..store.base import OutboxRow, Store
from .background import BackgroundLoop, wait_at_most

log = logging.getLogger("ddfl.relay")

ROLE = "relay"


class Unroutable(Exception):
    """The broker had no queue for the routing key (a sender's receipt queue that does not exist)."""


class Publisher(Protocol):
    async def publish(self, rows: list[OutboxRow]) -> list[BaseException | None]:
        """Publish rows (in order), returning per row None when confirmed, else the exception."""
        ...


class Relay(BackgroundLoop):
    name = "ddfl-relay"

    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        now: Callable[[], dt.datetime],
        batch: int = 512,
        depth: int = 1,
        on_published: Callable[[list[OutboxRow], list[OutboxRow]], None] = lambda rows, undeliverable: None,
        on_backlog: Callable[[int], None] = lambda backlog: None,
        on_leadership: Callable[[bool], None] = lambda leading: None,
        poll: float = 1.0,
    ):
        super().__init__()
        self._store = store
        self._publisher = publisher
        self._now = now
        self._batch = batch
        #: Batches published at once, their confirms awaited together (see `flush`). 1 by default:
        #: with 4 on a loaded machine, the later batches' confirms outlived the publish timeout
        #: and were published again (docs/throughput.md).
        self._depth = depth
        self._on_published = on_published
        self._on_backlog = on_backlog
        self._on_leadership = on_leadership
        self._poll = poll
        self.undeliverable = 0
        #: Whether this relay publishes (holds the store's "relay" role); False until it asked.
        self.leading = False
        self._sent: Counter[str] = Counter()

    async def stop(self) -> None:
        """Publish what is left (when leading), then end and hand the role over at once."""
        await super().stop()
        try:
            await self.flush()
        finally:
            if self.leading:
                await self._store.resign(ROLE)
                self._lead_changed(False)

    async def lead(self) -> bool:
        """Whether this relay may publish now: asks the store for the role (taking it when free)."""
        leading = await self._store.try_lead(ROLE)
        if leading != self.leading:
            self._lead_changed(leading)
        return leading

    def _lead_changed(self, leading: bool) -> None:
        self.leading = leading
        log.info(
            "relay leadership " + ("taken" if leading else "given up"),
            extra={"event": "DDFL-RELAY-LEADER" if leading else "DDFL-RELAY-STANDBY"},
        )
        self._on_leadership(leading)

    async def _run(self) -> None:
        counted = -self._poll  # the loop's time of the last backlog count
        loop = asyncio.get_running_loop()
        while not self._stopping:
            await wait_at_most(self._wake, self._poll)
            self._wake.clear()
            try:
                await self.flush()
                # The gauge at most once per poll: a count per flush was a read per message at a
                # low rate, where each message is a flush (issue 14).
                if loop.time() - counted >= self._poll:
                    counted = loop.time()
                    self._on_backlog(await self._store.outbox_backlog())
            except Exception as error:  # the broker is away; the rows stay and are retried
                log.warning(
                    "outbox publish failed; will retry",
                    extra={"event": "DDFL-RELAY-RETRY", "error": type(error).__name__},
                )
                await asyncio.sleep(0.5)

    def published_to(self, routing_key: str) -> int:
        """How many rows this relay has published to `routing_key` (replay waits on it)."""
        return self._sent[routing_key]

    async def flush(self) -> int:
        """Publish every pending row (only while leading); returns how many were marked sent.

        Up to `depth` batches of `batch` rows are in flight at once. While the broker confirms
        the rows in flight, rows committed meanwhile (`wake`) are read and published at once, as
        long as there is room: a message's event does not wait for the confirms of the rows ahead
        of it, which a slow broker stretches (issue 14's latency tail). Confirmed rows are marked
        sent in the background, in order, while the next rows are read and published: a mark
        waits for the store (the batch in its transaction), and the rows committed meanwhile
        should not wait with it. In a burst the room is full and this is the batch-by-batch relay
        it was. Rows are published, and marked sent, in id order; at the first row that fails,
        nothing after it is marked sent (what was already published of it goes out again under
        the same message id, as after a crash). Returns once every mark is written."""
        if not await self.lead():
            return 0
        in_flight: deque[tuple[list[OutboxRow], asyncio.Future[list[BaseException | None]]]] = deque()
        room, after = self._depth * self._batch, 0
        waking: asyncio.Task[bool] | None = None
        #: The latest mark; each one waits for the one before it, so its result is the total.
        marking: asyncio.Future[int] | None = None
        #: The last read returned fewer rows than asked: nothing more is pending until a commit
        #: wakes this relay (every commit of this process does), so it is not read again before.
        drained = False
        try:
            while True:
                if self._wake.is_set():
                    drained = False
                    self._wake.clear()  # a commit from here on wakes the wait below
                if marking is not None and marking.done():
                    marking.result()  # a mark that failed (the store) ends this flush
                while room > 0 and not drained:
                    limit = min(self._batch, room)
                    rows = await self._store.outbox_pending(limit, after)
                    drained = len(rows) < limit
                    if rows:
                        after, room = rows[-1].id, room - len(rows)
                        in_flight.append((rows, asyncio.ensure_future(self._publisher.publish(rows))))
                if not in_flight:
                    if marking is None or marking.done():
                        return 0 if marking is None else marking.result()
                    # The last marks are being written: a commit meanwhile is published at once.
                    waking = waking or asyncio.ensure_future(self._wake.wait())
                    await asyncio.wait((marking, waking), return_when=asyncio.FIRST_COMPLETED)
                    if waking.done():
                        waking = None
                    continue
                if room > 0:  # the first batch's confirms, or a commit with more rows to publish
                    waking = waking or asyncio.ensure_future(self._wake.wait())
                    await asyncio.wait((in_flight[0][1], waking), return_when=asyncio.FIRST_COMPLETED)
                    if waking.done():
                        waking = None
                else:
                    await asyncio.wait((in_flight[0][1],))
                settled: list[OutboxRow] = []
                outcomes: list[BaseException | None] = []
                failed: BaseException | None = None
                while in_flight and in_flight[0][1].done():  # every batch confirmed so far, marked at once
                    rows, publishing = in_flight.popleft()
                    try:
                        outcomes += publishing.result()
                    except Exception as error:  # the publisher itself failed (no connection)
                        failed = error
                        break
                    settled += rows
                if settled:
                    room += len(settled)
                    done, undeliverable = self._confirmed(settled, outcomes)
                    if done:
                        marking = asyncio.ensure_future(self._mark(marking, done, undeliverable))
                    if len(done) < len(settled):
                        failed = ConnectionError("publishing stopped part way; will retry")
                if failed is not None:
                    raise failed
        finally:
            if waking is not None:
                waking.cancel()
            for _, publishing in in_flight:  # after a failure: let them end, mark none of them sent
                with contextlib.suppress(Exception):
                    await publishing
            if marking is not None:
                with contextlib.suppress(Exception):  # what was confirmed is marked before the retry
                    await marking

    def _confirmed(
        self, rows: list[OutboxRow], outcomes: list[BaseException | None]
    ) -> tuple[list[OutboxRow], list[OutboxRow]]:
        """The rows to mark sent, up to the first failed one, and which of them were undeliverable."""
        done: list[OutboxRow] = []
        undeliverable: list[OutboxRow] = []
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome is None:
                done.append(row)
            elif isinstance(outcome, Unroutable):
                undeliverable.append(row)
                done.append(row)  # the contract: logged, counted, and the adapter carries on
                log.warning(
                    "message undeliverable: no such queue",
                    extra={
                        "event": "DDFL-UNDELIVERABLE",
                        "routing_key": row.routing_key,
                        "message_id": row.message_id,
                    },
                )
            else:
                break  # keep order: what failed, and everything after it, is retried
        return done, undeliverable

    async def _mark(
        self, before: asyncio.Future[int] | None, done: list[OutboxRow], undeliverable: list[OutboxRow]
    ) -> int:
        """Mark `done` sent once the mark before it is written; returns how many were marked in all."""
        marked = 0 if before is None else await before
        await self._store.outbox_mark_sent([r.id for r in done], self._now())
        self.undeliverable += len(undeliverable)
        self._sent.update(r.routing_key for r in done)
        self._on_published(done, undeliverable)
        return marked + len(done)
