"""Retention: what nothing will read again is deleted in the background, so the store of month
thirteen is the size of the store of month two.

Four windows, measured on the adapter's clock:
- `outbox_sent`: a published outbox row is kept this long after it was sent, to look into what
  went out; nothing re-reads it (a committed change is never staged again: event ids derive from
  each pair's sequence, and a duplicate message is answered from the inbox, which keeps the
  AppRec), so a day is plenty. An unsent row is never deleted, however old.
- `inbox`: the deduplication window (30 days: far beyond the broker's redeliveries, which come
  within minutes, and any sender's retransmission of a message it got no AppRec for). A message
  whose (sender, MsgId) comes again inside it changes nothing and is answered with the first
  AppRec (kept in the inbox row). After it, the message is processed as new: its GenDate is old,
  so R1 makes it a late status report (or an older behandleroversikt) that changes no answer
  (R12: nothing published), and it gets a fresh AppRec with the same verdict; an absence command
  sent again is the same registration, a no-op (R14).
- `closed_conversations`: how long a closed conversation is remembered (400 days: rows are small,
  and R7's "told once" should hold for any note a journal system would plausibly send again). A
  closing note inside the window changes nothing; after it, the portal is told again under the
  same event id (`{office}-{conversation}`), which it already has.
- `timeline`: how far back a pair's timeline goes (issue 13: the inputs that touched it and the
  events published, metadata only). 30 days, like the deduplication window: the support console
  shows what the adapter still remembers of the messages; one row per message and pair, so a
  longer horizon costs about as much as a longer inbox window. Explanations do not need it (they
  come from the state), only the console's list does.

Each round deletes in batches of `batch` rows, one short transaction each (see
Store.prune_outbox), and reports what it deleted and what the tables hold (metrics hooks).
Across replicas one process prunes (the "retention" role), the others stand by.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..store.base import RetainedRows, Store
from .background import BackgroundLoop
from .clock import Clock

log = logging.getLogger("ddfl.retention")

ROLE = "retention"


@dataclass(frozen=True)
class RetentionWindows:
    """How long each kind of row is kept (defaults: see the module's docstring and the README)."""

    outbox_sent: dt.timedelta = dt.timedelta(days=1)
    inbox: dt.timedelta = dt.timedelta(days=30)
    closed_conversations: dt.timedelta = dt.timedelta(days=400)
    timeline: dt.timedelta = dt.timedelta(days=30)

    def __post_init__(self) -> None:
        for name in ("outbox_sent", "inbox", "closed_conversations", "timeline"):
            if getattr(self, name) <= dt.timedelta(0):
                raise ValueError(f"retention window {name} must be positive")


@dataclass(frozen=True)
class Pruned:
    """Rows deleted in one round, per table."""

    outbox: int = 0
    inbox: int = 0
    closed_conversations: int = 0
    timeline: int = 0

    @property
    def total(self) -> int:
        return self.outbox + self.inbox + self.closed_conversations + self.timeline


class Retention(BackgroundLoop):
    """Prunes every `interval` seconds of the clock (at once after start), while it holds the role."""

    name = "ddfl-retention"

    def __init__(
        self,
        store: Store,
        clock: Clock,
        windows: RetentionWindows | None = None,
        interval: float = 600.0,
        batch: int = 500,
        on_pruned: Callable[[Pruned], None] = lambda pruned: None,
        on_retained: Callable[[RetainedRows], None] = lambda held: None,
    ):
        super().__init__()
        if interval <= 0 or batch < 1:
            raise ValueError("retention needs a positive interval and a batch of at least one row")
        self._store = store
        self._clock = clock
        self.windows = windows or RetentionWindows()
        self._interval = dt.timedelta(seconds=interval)
        self._batch = batch
        self._on_pruned = on_pruned
        self._on_retained = on_retained
        #: Everything deleted since start (tests, the soak benchmark).
        self.pruned = Pruned()

    async def _run(self) -> None:
        next_round = self._clock.now()
        while not self._stopping:
            self._wake.clear()
            if self._clock.now() >= next_round:
                try:
                    await self.prune_once()
                except Exception as error:  # the store is away: try again next round
                    log.warning(
                        "retention round failed; will retry",
                        extra={"event": "DDFL-RETENTION-FAILED", "error": type(error).__name__},
                    )
                next_round = self._clock.now() + self._interval
            await self._clock.wait(next_round, self._wake, self._interval.total_seconds())

    async def prune_once(self) -> Pruned | None:
        """One round: prune every table by its window; None when another process holds the role."""
        if not await self._store.try_lead(ROLE):
            return None
        now, windows, batch = self._clock.now(), self.windows, self._batch
        pruned = Pruned(
            outbox=await self._store.prune_outbox(now - windows.outbox_sent, batch),
            inbox=await self._store.prune_inbox(now - windows.inbox, batch),
            closed_conversations=await self._store.prune_closed_conversations(
                now - windows.closed_conversations, batch
            ),
            timeline=await self._store.prune_timeline(now - windows.timeline, batch),
        )
        self.pruned = Pruned(
            outbox=self.pruned.outbox + pruned.outbox,
            inbox=self.pruned.inbox + pruned.inbox,
            closed_conversations=self.pruned.closed_conversations + pruned.closed_conversations,
            timeline=self.pruned.timeline + pruned.timeline,
        )
        self._on_pruned(pruned)
        self._on_retained(await self._store.retained_rows())
        if pruned.total:
            log.info(
                "retention pruned rows",
                extra={
                    "event": "DDFL-RETENTION-PRUNED",
                    "outbox": pruned.outbox,
                    "inbox": pruned.inbox,
                    "closed_conversations": pruned.closed_conversations,
                    "timeline": pruned.timeline,
                },
            )
        return pruned

    async def stop(self) -> None:
        await super().stop()
        await self._store.resign(ROLE)
