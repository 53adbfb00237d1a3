"""The outbox relay: publishes committed outbox rows in order, with publisher confirms, and marks
them sent. A crash between publishing and marking publishes a row again with the same message id;
consumers deduplicate on it (stable event ids)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from ..store.base import OutboxRow, Store
from .background import BackgroundLoop

log = logging.getLogger("ddfl.relay")


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
        on_published: Callable[[list[OutboxRow], list[OutboxRow]], None] = lambda rows, undeliverable: None,
        on_backlog: Callable[[int], None] = lambda backlog: None,
    ):
        super().__init__()
        self._store = store
        self._publisher = publisher
        self._now = now
        self._batch = batch
        self._on_published = on_published
        self._on_backlog = on_backlog
        self.undeliverable = 0
        self._sent: Counter[str] = Counter()

    async def stop(self) -> None:
        """Publish what is left, then end."""
        await super().stop()
        await self.flush()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
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
        """Publish every pending row; returns how many were marked sent."""
        total = 0
        while rows := await self._store.outbox_pending(self._batch):
            outcomes = await self._publisher.publish(rows)
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
            if done:
                await self._store.outbox_mark_sent([r.id for r in done], self._now())
                total += len(done)
                self.undeliverable += len(undeliverable)
                self._sent.update(r.routing_key for r in done)
                self._on_published(done, undeliverable)
            if len(done) < len(rows):
                raise ConnectionError("publishing stopped part way; will retry")
        return total
