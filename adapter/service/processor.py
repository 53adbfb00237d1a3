"""Processes a batch of work items in one store transaction, each item isolated from the others."""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..domain.model import Practitioner
from ..store.base import PairKey, Store
from .handlers import Receipt, Routing, handle_absence, handle_tick, handle_xml
from .unit_of_work import BatchUnitOfWork

log = logging.getLogger("ddfl.processor")


@dataclass(frozen=True)
class Work:
    """One thing to do: an inbound message, or the clock passing an instant for one pair."""

    kind: Literal["xml", "absence", "tick"]
    body: bytes = b""
    headers: Mapping[str, Any] | None = None
    key: PairKey | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True)
class Done:
    """How an item ended: `ok` items are acknowledged; the others are handed back for redelivery."""

    ok: bool
    receipt: Receipt | None = None
    events: int = 0
    error_id: str | None = None


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
    ):
        self.store = store
        self.routing = routing
        self.now = now
        self.directory = directory
        #: Test seam: called before each item; raising simulates a bug in handling that item.
        self.fault = fault
        self.stats = Stats()
        #: Called after each commit with every item of the batch and how it ended (replay, metrics).
        self.listeners: list[Callable[[Work, Done], None]] = []

    async def process(self, batch: list[Work]) -> list[Done]:
        now = self.now()
        results: list[Done] = []
        async with self.store.transaction() as tx:
            uow = BatchUnitOfWork(tx, self.directory, now)
            for work in batch:
                uow.begin_item()
                try:
                    if self.fault is not None:
                        self.fault(work)
                    done = await self._handle(uow, work, now)
                except Exception as error:  # a bug, not bad input: isolate it, hand the item back
                    uow.discard_item()
                    done = Done(ok=False, error_id=_error_id(error))
                    log.error(
                        "unexpected failure handling an item; it will be redelivered",
                        extra={"event": "DDFL-UNEXPECTED", "error_id": done.error_id, "kind": work.kind},
                    )
                else:
                    uow.commit_item()
                results.append(done)
            new_rows = await uow.flush()
        self.stats.batches += 1
        self.stats.items += len(batch)
        self.stats.outbox_rows += new_rows
        for listener in self.listeners:
            for work, done in zip(batch, results, strict=True):
                listener(work, done)
        return results

    async def _handle(self, uow: BatchUnitOfWork, work: Work, now: dt.datetime) -> Done:
        if work.kind == "xml":
            return Done(ok=True, receipt=await handle_xml(uow, work.body, work.headers, now, self.routing))
        if work.kind == "absence":
            return Done(ok=True, receipt=await handle_absence(uow, work.body, now, self.routing))
        assert work.key is not None and work.until is not None
        return Done(ok=True, events=await handle_tick(uow, work.key, work.until, self.routing))


def _error_id(error: BaseException) -> str:
    """Type and place of an unexpected error: enough to find it, and no message text (which could
    quote personal data from the input)."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
    return f"{type(error).__name__}@{where}"
