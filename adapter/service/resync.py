"""A resync, run by the single writer between batches: chunks of pairs, each in a transaction.

The portal asks (`resync.requested`, on `DDFL_RESYNC_QUEUE`); the processor runs this between
two batches, never inside one, so nothing else writes meanwhile in this process. Per chunk of
`CHUNK` pairs, in key order and in one transaction: each pair's due time-driven changes first (as
the clock would publish them), then its `availability.snapshot` (`domain.resync`), all to the
outbox; the position reached is kept in `meta`, so a resync interrupted by a crash resumes after
its last committed chunk when the request is redelivered (the snapshots already sent are not
sent again: the outbox knows their ids). The last chunk adds `resync.completed` and the inbox row
(sender `resync`, the request id): a request id seen before changes nothing.

The relay publishes the outbox in id order on the portal's queue, so every snapshot precedes any
later change of its pair, and the live stream simply goes on after `resync.completed`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..domain import resync
from ..domain.engine import next_change
from ..domain.state import PairState
from ..messages.portal import portal_message
from ..store.base import DuplicateMessage, OutboxMessage, PairKey, Store, StoreContention
from ..store.retry import retry_on_contention
from .commands import ResyncRequest
from .handlers import RESYNC_SENDER, Done, Receipt

log = logging.getLogger("ddfl.resync")

#: Pairs per transaction: large enough that the commits are few, small enough that a chunk holds
#: the writer (and the messages waiting behind it) for a fraction of a second.
CHUNK = 1000


@dataclass(frozen=True)
class _Progress:
    """How far a resync got: the last pair snapshotted and how many so far (kept in `meta`)."""

    after: PairKey | None = None
    pairs: int = 0

    def to_json(self) -> str:
        return json.dumps({"after": list(self.after) if self.after else None, "pairs": self.pairs})

    @classmethod
    def from_json(cls, text: str | None) -> _Progress:
        if text is None:
            return cls()
        data = json.loads(text)
        after = data["after"]
        return cls((int(after[0]), str(after[1])) if after else None, int(data["pairs"]))


def progress_key(request_id: str) -> str:
    return f"resync.{request_id}"


async def run(
    store: Store,
    request: ResyncRequest,
    now: Callable[[], dt.datetime],
    portal_queue: str,
    *,
    chunk: int = CHUNK,
    on_chunk: Callable[[], None] = lambda: None,
    on_contention: Callable[[StoreContention], None] = lambda error: None,
) -> Done:
    """Snapshot every pair the request names, chunk by chunk; `on_chunk` after each commit (the
    relay starts publishing while the rest is read)."""
    request_id = request.request_id
    log.info(
        "resync requested",
        extra={"event": "DDFL-RESYNC-STARTED", "request_id": request_id, "office_her_id": request.office_her_id},
    )
    while True:
        finished = await retry_on_contention(
            lambda: _chunk(store, request, now(), portal_queue, chunk), on_retry=on_contention
        )
        on_chunk()
        if finished is not None:
            return finished


async def _chunk(store: Store, request: ResyncRequest, now: dt.datetime, portal_queue: str, chunk: int) -> Done | None:
    """One transaction: the next chunk's snapshots; the Done of the whole resync after the last."""
    request_id, office = request.request_id, request.office_her_id
    async with store.transaction() as tx:
        if (entry := await tx.inbox_entry(RESYNC_SENDER, request_id)) is not None:
            log.info("duplicate resync request", extra={"event": "DDFL-DUPLICATE", "msg_id": request_id})
            first = json.loads(entry.outcome)["receipt"]
            return Done(ok=True, receipt=Receipt("resync", request_id, "DUPLICATE", first["codes"]))
        progress = _Progress.from_json(await tx.get_meta(progress_key(request_id)))
        keys = await tx.pair_keys_after(progress.after, chunk, office)
        await tx.lock_offices({key[0] for key in keys})  # before reading their states (replicas)
        states = await tx.get_pairs(keys)
        outbox: list[OutboxMessage] = []
        changed: list[tuple[int, str, str, dt.datetime | None]] = []
        sent = 0
        for key in keys:
            text = states.get(key)
            if text is None:
                continue  # gone since the keys were read
            pair = PairState.from_json(text)
            due = next_change(pair)
            current, events = resync.snapshot(pair, request_id, now)
            if due is not None and due <= now:  # the clock's change, published here first
                changed.append((*current.key, current.to_json(), next_change(current)))
            outbox += [portal_message(event, portal_queue) for event in events]
            sent += 1
        progress = _Progress(keys[-1] if keys else progress.after, progress.pairs + sent)
        last = len(keys) < chunk
        if last:
            completed = resync.completed(request_id, office, progress.pairs, now)
            outbox.append(portal_message(completed, portal_queue))
            receipt = Receipt("resync", request_id, "OK")
            outcome = json.dumps({"receipt": receipt.to_json(), "reply": None, "pairs": progress.pairs})
            try:
                await tx.inbox_put(RESYNC_SENDER, request_id, outcome, now)
            except DuplicateMessage as raced:  # another replica completed it meanwhile: run again
                raise StoreContention(f"resync {request_id} completed by another transaction") from raced
            await tx.delete_meta(progress_key(request_id))
        else:
            await tx.put_meta(progress_key(request_id), progress.to_json())
        await tx.put_pairs(changed)
        if outbox:
            await tx.outbox_add(*outbox)
    if not last:
        return None
    log.info(
        "resync completed",
        extra={"event": "DDFL-RESYNC-COMPLETED", "request_id": request_id, "pairs": progress.pairs},
    )
    return Done(ok=True, receipt=receipt, events=progress.pairs)
