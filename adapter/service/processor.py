"""Processes a batch of work items in one store transaction, each item isolated from the others.

Items come parsed (`prepare`, in the delivery's coroutine) or are parsed here before the
transaction begins; inside it, each item is only loaded, decided, staged, and the batch committed.
A resync request is the exception: it runs between the items before and after it, in transactions
of its own (`resync`), so a snapshot is never taken inside a batch.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from ..domain.model import Practitioner
from ..store.base import DuplicateMessage, OutboxMessage, PairKey, Store, StoreContention
from ..store.retry import retry_on_contention
from . import resync
from .commands import Command, ResyncRequested, Work, office_of, parse
from .decoded import DecodedStates
from .handlers import Done, Receipt, Routing, handle
from .prepared import PreparedTicks
from .unit_of_work import BatchUnitOfWork

__all__ = ["Done", "Processor", "Receipt", "Stats", "Work"]

log = logging.getLogger("ddfl.processor")


@dataclass
class Stats:
    batches: int = 0
    items: int = 0
    outbox_rows: int = 0


class Processor:
    """Applies batches: one transaction each; a failing item is isolated and reported, not fatal."""

    def __init__(
        self,
        store: Store,
        routing: Routing,
        now: Callable[[], dt.datetime],
        directory: dict[int, dict[str, Practitioner]] | None = None,
        fault: Callable[[Work], None] | None = None,
        on_contention: Callable[[StoreContention], None] = lambda error: None,
    ):
        self.store = store
        self.routing = routing
        self.now = now
        self.directory = directory
        #: Test seam: called before each item; raising simulates a bug in handling that item.
        self.fault = fault
        self.stats = Stats()
        #: Told of each attempt that another transaction got in the way of (the lock-retry metric).
        self.on_contention = on_contention
        #: Called after each commit with every item of the batch and how it ended (replay, metrics).
        self.listeners: list[Callable[[Work, Done], None]] = []
        #: Whether the pairs' timelines are written (issue 13): not where nobody can read them (a
        #: replay's private store, thrown away at its end).
        self.keeps_timeline = True
        #: Called after each committed chunk of a resync (the relay publishes while it goes on).
        self.on_resync_chunk: Callable[[], None] = lambda: None
        #: Clock ticks worked out ahead of their midnight (`prepare_ticks`).
        self.prepared = PreparedTicks()
        #: Stored states decoded, kept from batch to batch by the text each was read as (the
        #: booking list reads every pair of an office: issue 14)
        self.decoded = DecodedStates()

    #: Pairs prepared between two turns of the event loop (about 10 ms of CPU: deliveries and
    #: the relay go on while a midnight is prepared).
    PREPARE_CHUNK = 32

    async def prepare_ticks(self, at: dt.datetime, keys: list[PairKey]) -> int:
        """Work out ahead the ticks of these pairs to `at` (`prepared`: the midnight burst's CPU
        spent before the midnight); returns how many were prepared. Reads the stored states in a
        transaction of their own; changes nothing."""
        queue = self.routing.portal_queue
        async with self.store.transaction() as tx:
            rows = await tx.get_pair_rows(keys)
            offices = [await tx.get_office(her_id) for her_id in sorted({key[0] for key in rows})]
        for text in offices:
            if text is not None:
                self.prepared.add_office(at, text, queue)
        for start in range(0, len(keys), self.PREPARE_CHUNK):
            for key in keys[start : start + self.PREPARE_CHUNK]:
                if (row := rows.get(key)) is not None:
                    self.prepared.add(at, row[0], queue)
            await asyncio.sleep(0)
        return len(self.prepared)

    def prepared_messages(self) -> list[OutboxMessage]:
        """The outbox messages of the ticks worked out ahead (`PreparedTicks.messages`)."""
        return self.prepared.messages()

    def forget_prepared(self) -> Iterator[None]:
        """The prepared ticks' instant has been ticked: forget them at once, and return the steps
        that let their memory go (`PreparedTicks.forget`)."""
        return self.prepared.forget()

    def prepare(self, work: Work) -> Work:
        """The edge: read the bytes into a typed command or refusal, outside any transaction.

        A bug in a parser is not bad input: the item stays unparsed, and `process` hands it
        back for redelivery (its delivery limit then dead-letters it).
        """
        if work.parsed is not None:
            return work
        try:
            return replace(work, parsed=parse(work, work.at or self.now(), self.routing))
        except Exception as error:
            _unexpected(work, error)
            return work

    async def process(self, batch: list[Work]) -> list[Done]:
        """Commit the batch; a resync request in it runs between the items before and after it
        (its chunks are transactions of their own), so a snapshot is never taken inside a batch."""
        parsed: list[Command | None] = [self.prepare(work).parsed for work in batch]
        results: list[Done] = []
        start = 0
        for at, command in enumerate(parsed):
            if isinstance(command, ResyncRequested):
                if start < at:
                    results += await self._process(batch[start:at], parsed[start:at])
                results += [await self._resync(batch[at], command)]
                start = at + 1
        if start < len(batch) or not batch:
            results += await self._process(batch[start:], parsed[start:])
        return results

    async def _resync(self, work: Work, command: ResyncRequested) -> Done:
        try:
            done = await resync.run(
                self.store,
                command.request,
                self.now,
                self.routing.portal_queue,
                on_chunk=self.on_resync_chunk,
                on_contention=self.on_contention,
            )
        except Exception as error:  # the store failed: what was committed stays, the rest resumes
            log.error(
                "resync failed; the request will be redelivered and resume",
                extra={"event": "DDFL-RESYNC-FAILED", "error": type(error).__name__},
            )
            done = Done(ok=False, error_id=type(error).__name__)
        self.stats.batches += 1
        self.stats.items += 1
        for listener in self.listeners:
            listener(work, done)
        return done

    async def _process(self, batch: list[Work], parsed: list[Command | None]) -> list[Done]:
        # Contention (another replica's transaction in the way) runs the attempt again here: the
        # items are never handed back, so it costs no delivery of any message, and a rolled-back
        # attempt left nothing behind, so nothing happens twice.
        results, new_rows = await retry_on_contention(lambda: self._decide(batch, parsed), on_retry=self.on_contention)
        self.stats.batches += 1
        self.stats.items += len(batch)
        self.stats.outbox_rows += new_rows
        for listener in self.listeners:
            for work, done in zip(batch, results, strict=True):
                listener(work, done)
        return results

    async def _decide(self, batch: list[Work], parsed: list[Command | None]) -> tuple[list[Done], int]:
        """One attempt at the batch's transaction: load → decide → stage, then commit once.

        Self-contained (a fresh unit of work each time), so a store that reports contention can
        have the whole attempt run again. The offices it touches are known before it begins
        (`offices`), so a shared store can lock them first, in one order.
        """
        now = self.now()
        results: list[Done] = []
        async with self.store.transaction() as tx:
            await tx.lock_offices(offices(parsed))  # once, before any read: one global order
            uow = BatchUnitOfWork(
                tx,
                self.directory,
                now,
                self.routing.portal_queue,
                self.keeps_timeline,
                self.prepared,
                decoded=self.decoded,
            )
            for work, command in zip(batch, parsed, strict=True):
                at = work.at or now
                uow.begin_item(at)
                try:
                    if self.fault is not None:
                        self.fault(work)
                    done = (
                        await handle(uow, command, at, self.routing)
                        if command is not None
                        else Done(ok=False, error_id="unparsed")  # logged by `prepare`
                    )
                except Exception as error:  # a bug, not bad input: isolate it, hand the item back
                    uow.discard_item()
                    done = Done(ok=False, error_id=_unexpected(work, error))
                else:
                    events, replies = uow.commit_item()
                    done = replace(done, events=events, replies=replies)
                results.append(done)
            try:
                new_rows = await uow.flush()
            except DuplicateMessage as raced:
                # Another replica recorded the same message (the same absence, say, sent twice)
                # after this attempt read the inbox: run again, and it is answered as a duplicate.
                raise StoreContention(f"inbox row recorded meanwhile by another transaction: {raced}") from raced
        return results, new_rows


def offices(parsed: list[Command | None]) -> list[int]:
    """Every office a batch may touch, in one global order (ascending HER-id)."""
    return sorted({office for command in parsed if command is not None and (office := office_of(command)) is not None})


def _unexpected(work: Work, error: BaseException) -> str:
    error_id = _error_id(error)
    log.error(
        "unexpected failure handling an item; it will be redelivered",
        extra={"event": "DDFL-UNEXPECTED", "error_id": error_id, "kind": work.kind},
    )
    return error_id


def _error_id(error: BaseException) -> str:
    """Type and place of an unexpected error: enough to find it, and no message text (which could
    quote personal data from the input)."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
    return f"{type(error).__name__}@{where}"
