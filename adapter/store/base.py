"""The store's interface: what the worker needs to keep, and nothing about how it is kept.

One transaction holds everything one batch of messages changes: the inbox rows (so a duplicate
is recognised and answered with the same receipt), the state of offices and (office,
practitioner) pairs, closed conversations, and the outbox rows to publish. Either all of it is
committed or none of it is. A relay later publishes the outbox in id order and marks rows sent.

State is opaque here: JSON text that the domain layer writes and reads. Instants are
timezone-aware datetimes; a naive datetime is refused with ValueError.

Replicas (PostgreSQL): a unit of work first locks the offices it will touch (lock_offices); what
another transaction got in the way of is raised as StoreContention, to be run again
(adapter.store.retry); one process at a time holds a role such as the relay's (try_lead). SQLite
serves one process and refuses a second (StoreInUse). Retention: the prune_* verbs delete what is
past its window in small batches, each in a short transaction of its own.

Every backend (SQLite, PostgreSQL) satisfies these protocols and passes the one contract suite in
tests/store/test_store_contract.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

PairKey = tuple[int, str]
"""(office HER-id, practitioner HPR)."""


class StoreError(Exception):
    """Something the store refuses, as opposed to a failure of the database itself."""


class StoreContention(StoreError):
    """Another transaction got in the way: a lock conflict, a deadlock or a serialization failure.

    Nothing of the transaction was committed, and nothing is wrong with the work itself: running
    the same unit of work again (see adapter.store.retry) is the answer, and it must not count
    against any message's delivery limit.
    """


class StoreInUse(StoreError):
    """The store is already opened by another process and can have only one (SQLite)."""


class DuplicateMessage(StoreError):
    """inbox_put for a (sender, msg_id) the inbox already holds.

    Raised inside the transaction; letting it propagate out of `async with` rolls back
    everything the transaction did, which is what a worker that raced another one wants.
    """

    def __init__(self, sender: str, msg_id: str) -> None:
        super().__init__(f"inbox already holds ({sender!r}, {msg_id!r})")
        self.sender = sender
        self.msg_id = msg_id


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message to publish once the transaction that adds it commits.

    (routing_key, message_id) identifies it: adding the same pair again, in the same or any later
    transaction, is a no-op. That is what makes a replay after a crash harmless when message ids
    are derived from the change (stable event ids).
    """

    routing_key: str
    message_id: str
    body: bytes
    headers: Mapping[str, Any] = field(default_factory=dict)
    content_type: str = "application/json"
    #: When it was produced; the wall clock at outbox_add when not given.
    created_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """What the inbox remembers of a processed message: the outcome (opaque JSON) and, when it was
    answered, the reply's body (kept here once, compressed; the outbox's copy is pruned early)."""

    outcome: str
    reply_body: bytes | None = None


@dataclass(frozen=True, slots=True)
class RetainedRows:
    """How many rows each table holds: the retention metrics."""

    outbox_unsent: int
    outbox_sent: int
    inbox: int
    closed_conversations: int
    pairs: int
    offices: int
    timeline: int = 0


TimelineKind = Literal["message", "absence", "clock", "event"]


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of a pair's timeline (issue 13): an input that touched the pair — an XML message,
    an absence command, the clock — or an event published about it.

    Metadata only, never a message body or personal data: `detail` holds identifiers, dates,
    codes and statuses (see docs/timeline.md for its fields per kind). `at` is when it happened
    on the adapter's clock (an event's `effective_at`); `id` is its place in the store's order,
    set once it is stored.
    """

    office_her_id: int
    practitioner_hpr: str
    at: dt.datetime
    kind: TimelineKind
    detail: Mapping[str, Any]
    id: int | None = None


InboxRow = tuple[str, str, str, dt.datetime] | tuple[str, str, str, dt.datetime, bytes | None]
"""(sender, msg_id, outcome, received_at[, reply_body]) for inbox_put_many."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An outbox message as stored: `id` is its place in the publish order."""

    id: int
    routing_key: str
    message_id: str
    body: bytes
    headers: dict[str, Any]
    content_type: str
    created_at: dt.datetime


class Transaction(Protocol):
    """What one unit of work may read and write. Valid only inside its `async with` block."""

    async def lock_offices(self, office_her_ids: Iterable[int]) -> None:
        """Take, until the transaction ends, the lock of each office (one global order, so two
        transactions never wait on each other in a cycle), also for offices and pairs that have no
        row yet. Call it once, before reading anything of those offices: a second call may
        deadlock with another transaction and raise StoreContention. A no-op where only one
        writer exists (SQLite)."""
        ...

    async def get_office(self, office_her_id: int) -> str | None: ...

    async def put_office(self, office_her_id: int, state: str) -> None: ...

    async def get_pair(self, office_her_id: int, practitioner_hpr: str) -> str | None: ...

    async def get_pairs(self, keys: Iterable[PairKey]) -> dict[PairKey, str]:
        """The states of those of `keys` that exist (one query per few hundred keys)."""
        ...

    async def get_pair_rows(self, keys: Iterable[PairKey]) -> dict[PairKey, tuple[str, dt.datetime | None]]:
        """get_pairs with each pair's `next_change_at`: a reader that finds nothing due needs only
        the pair's published part (a resync)."""
        ...

    async def put_pair(
        self,
        office_her_id: int,
        practitioner_hpr: str,
        state: str,
        next_change_at: dt.datetime | None,
    ) -> None:
        """Insert or replace; `next_change_at` is when the clock must look at the pair again."""
        ...

    async def put_pairs(self, rows: Iterable[tuple[int, str, str, dt.datetime | None]]) -> None:
        """put_pair for many (office, hpr, state, next_change_at) rows in one round trip."""
        ...

    async def pairs_of_office(self, office_her_id: int) -> list[str]:
        """The practitioners' HPR numbers with a stored pair at that office, sorted."""
        ...

    async def pair_keys_after(
        self, after: PairKey | None, limit: int, office_her_id: int | None = None
    ) -> list[PairKey]:
        """Up to `limit` stored pairs' keys in key order, strictly after `after` (from the first
        when None), of one office or of all: a resync walks every pair in chunks this way."""
        ...

    async def office_ids_after(self, after: int | None, limit: int) -> list[int]:
        """Up to `limit` HER-ids of the offices with a stored state, ascending, strictly after
        `after` (from the first when None): a resync walks the offices in chunks this way."""
        ...

    async def inbox_get(self, sender: str, msg_id: str) -> str | None:
        """The outcome recorded for that message, or None when it was never processed."""
        ...

    async def inbox_entry(self, sender: str, msg_id: str) -> InboxEntry | None:
        """The outcome and the reply's body recorded for that message, or None."""
        ...

    async def inbox_put(
        self, sender: str, msg_id: str, outcome: str, received_at: dt.datetime, reply_body: bytes | None = None
    ) -> None:
        """Record a processed message (with the body of the reply it was given, if any);
        DuplicateMessage when it is already recorded."""
        ...

    async def inbox_put_many(self, rows: Iterable[InboxRow]) -> None:
        """inbox_put for many (sender, msg_id, outcome, received_at[, reply_body]) rows;
        DuplicateMessage when any is recorded already (raised inside the transaction, so none of
        them stays)."""
        ...

    async def conversation_closed(self, office_her_id: int, conversation_ref: str) -> bool: ...

    async def close_conversation(self, office_her_id: int, conversation_ref: str, closed_at: dt.datetime) -> bool:
        """Mark the conversation closed; True when it was not closed before."""
        ...

    async def outbox_add(self, *messages: OutboxMessage) -> int:
        """Queue messages for publishing, in argument order; returns how many were new."""
        ...

    async def get_meta(self, key: str) -> str | None: ...

    async def put_meta(self, key: str, value: str) -> None: ...

    async def delete_meta(self, key: str) -> None:
        """Forget `key` (a resync's progress, once it completed); harmless when it is not there."""
        ...

    async def timeline_add(self, entries: Iterable[TimelineEntry]) -> None:
        """Append entries to their pairs' timelines, in argument order."""
        ...


class Store(Protocol):
    """A durable store. Open one with `adapter.store.open_store(url)`."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A unit of work: commits on normal exit, rolls back on any exception.

        Transactions of one store never interleave: a second one waits for the first. Opening
        one while the same task is inside another raises RuntimeError (it would wait forever).
        """
        ...

    async def due_pairs(self, now: dt.datetime, limit: int) -> list[PairKey]:
        """Pairs whose next_change_at <= now, earliest first (ties by key)."""
        ...

    async def next_due(self) -> dt.datetime | None:
        """The earliest next_change_at of any pair, or None: how long the clock may sleep."""
        ...

    async def outbox_pending(self, limit: int, after: int = 0) -> list[OutboxRow]:
        """Unsent outbox rows in publish (id) order, those with an id above `after` only (the
        relay reads on past rows it is still publishing)."""
        ...

    async def outbox_mark_sent(self, ids: Iterable[int], sent_at: dt.datetime) -> int:
        """Mark rows sent; returns how many were unsent before."""
        ...

    async def outbox_backlog(self) -> int:
        """How many outbox rows are unsent."""
        ...

    async def outbox_prune(self, sent_before: dt.datetime) -> int:
        """Delete rows sent before that instant; returns how many. Same as prune_outbox.

        A message re-added after its row was pruned is published again (with the same
        message_id, so consumers that deduplicate by id are unaffected).
        """
        ...

    # -- retention: each verb deletes in batches of at most `batch` rows, one short transaction
    # -- per batch, so a writer waiting for the store never waits for more than one batch.

    async def prune_outbox(self, sent_before: dt.datetime, batch: int = 500) -> int:
        """Delete outbox rows sent before that instant (never an unsent one); returns how many."""
        ...

    async def prune_inbox(self, received_before: dt.datetime, batch: int = 500) -> int:
        """Forget messages received before that instant (the end of the deduplication window)."""
        ...

    async def prune_closed_conversations(self, closed_before: dt.datetime, batch: int = 500) -> int:
        """Forget conversations closed before that instant."""
        ...

    async def prune_timeline(self, before: dt.datetime, batch: int = 500) -> int:
        """Forget timeline entries that happened before that instant."""
        ...

    async def timeline(
        self, office_her_id: int, practitioner_hpr: str, limit: int, before_id: int | None = None
    ) -> list[TimelineEntry]:
        """The pair's latest `limit` timeline entries, newest first; with `before_id`, the ones
        stored before that entry (the next page)."""
        ...

    async def retained_rows(self) -> RetainedRows:
        """How many rows each table holds now."""
        ...

    # -- leadership: one holder of a role at a time across every process on the store -----------

    async def try_lead(self, role: str) -> bool:
        """True when this store (process) holds `role` now, taking it if nobody does. The holder
        keeps it until resign() or until its connection ends (a process that dies loses it at
        once), so a standby that keeps asking takes over. Always True where only one process can
        open the store (SQLite)."""
        ...

    async def resign(self, role: str) -> None:
        """Give `role` up (at shutdown, so a standby takes over without waiting)."""
        ...

    async def close(self) -> None: ...


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def to_micros(instant: dt.datetime) -> int:
    """UTC microseconds since the epoch: how an instant is stored (it sorts the same everywhere)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, got naive {instant!r}")
    return (instant - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> dt.datetime:
    """The UTC datetime of a stored instant."""
    return _EPOCH + dt.timedelta(microseconds=micros)
