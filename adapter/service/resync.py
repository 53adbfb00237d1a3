"""A resync, run by the single writer between batches: chunks of pairs, then of offices, each in a transaction.

The portal asks (`resync.requested`, on `DDFL_RESYNC_QUEUE`); the processor runs this between
two batches, never inside one, so nothing else writes meanwhile in this process. Per chunk of
`CHUNK` pairs, in key order and in one transaction: each pair's due time-driven changes first (as
the clock would publish them), then its `availability.snapshot` (`domain.resync`), all to the
outbox. A pair with nothing due (the store's `next_change_at`) is snapshotted from its published
part alone, without parsing its facts: most pairs, most of the time. Then, per chunk of
`OFFICE_CHUNK` offices (the one asked for, or every office with a stored state), each office's
booking list: its due change first, then its `office.practitioners.snapshot`. The position
reached is kept in `meta`, so a resync interrupted by a crash resumes after its last committed
chunk when the request is redelivered (the snapshots already sent are not sent again: the outbox
knows their ids). The last chunk adds `resync.completed` and the inbox row (sender `resync`, the
request id): a request id seen before changes nothing.

The relay publishes the outbox in id order on the portal's queue, so every snapshot precedes any
later change of its pair or list, and the live stream simply goes on after `resync.completed`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..domain import resync
from ..domain.engine import next_change, stored_at
from ..domain.events import Availability
from ..domain.persisted import load_published
from ..domain.state import OfficeState, PairState
from ..messages.portal import portal_message
from ..store.base import DuplicateMessage, OutboxMessage, PairKey, Store, StoreContention, Transaction
from ..store.retry import retry_on_contention
from .commands import ResyncRequest
from .handlers import RESYNC_SENDER, Done, Receipt

log = logging.getLogger("ddfl.resync")

#: Pairs per transaction: large enough that the commits are few, small enough that a chunk holds
#: the writer (and the messages waiting behind it) for a fraction of a second.
CHUNK = 1000
#: Offices per transaction: each reads its practitioners' pairs (about ten), so about as many rows
#: as a chunk of pairs.
OFFICE_CHUNK = 100


@dataclass(frozen=True)
class _Progress:
    """How far a resync got (kept in `meta`): the last pair snapshotted and how many so far, whether
    every pair is done, then the last office whose list was snapshotted and how many so far. A
    position kept by a release before the lists were sent reads as still walking the pairs."""

    after: PairKey | None = None
    pairs: int = 0
    pairs_done: bool = False
    office_after: int | None = None
    offices: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {
                "after": list(self.after) if self.after else None,
                "pairs": self.pairs,
                "pairs_done": self.pairs_done,
                "office_after": self.office_after,
                "offices": self.offices,
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> _Progress:
        if text is None:
            return cls()
        data = json.loads(text)
        after = data["after"]
        return cls(
            (int(after[0]), str(after[1])) if after else None,
            int(data["pairs"]),
            bool(data.get("pairs_done", False)),
            data.get("office_after"),
            int(data.get("offices", 0)),
        )


def progress_key(request_id: str) -> str:
    return f"resync.{request_id}"


async def run(
    store: Store,
    request: ResyncRequest,
    now: Callable[[], dt.datetime],
    portal_queue: str,
    *,
    chunk: int = CHUNK,
    office_chunk: int = OFFICE_CHUNK,
    on_chunk: Callable[[], None] = lambda: None,
    on_contention: Callable[[StoreContention], None] = lambda error: None,
) -> Done:
    """Snapshot every pair the request names, chunk by chunk, then every office's booking list;
    `on_chunk` after each commit (the relay starts publishing while the rest is read)."""
    request_id = request.request_id
    log.info(
        "resync requested",
        extra={"event": "DDFL-RESYNC-STARTED", "request_id": request_id, "office_her_id": request.office_her_id},
    )
    while True:
        finished = await retry_on_contention(
            lambda: _chunk(store, request, now(), portal_queue, chunk, office_chunk), on_retry=on_contention
        )
        on_chunk()
        if finished is not None:
            return finished


async def _chunk(
    store: Store, request: ResyncRequest, now: dt.datetime, portal_queue: str, chunk: int, office_chunk: int
) -> Done | None:
    """One transaction: the next chunk's snapshots; the Done of the whole resync after the last."""
    request_id, office = request.request_id, request.office_her_id
    async with store.transaction() as tx:
        if (entry := await tx.inbox_entry(RESYNC_SENDER, request_id)) is not None:
            log.info("duplicate resync request", extra={"event": "DDFL-DUPLICATE", "msg_id": request_id})
            first = json.loads(entry.outcome)["receipt"]
            return Done(ok=True, receipt=Receipt("resync", request_id, "DUPLICATE", first["codes"]))
        progress = _Progress.from_json(await tx.get_meta(progress_key(request_id)))
        if not progress.pairs_done:
            progress, outbox = await _pairs(tx, request, progress, now, portal_queue, chunk)
            last = False
        else:
            progress, outbox, last = await _offices(tx, request, progress, now, portal_queue, office_chunk)
        if last:
            completed = resync.completed(request_id, office, progress.pairs, progress.offices, now)
            outbox.append(portal_message(completed, portal_queue))
            receipt = Receipt("resync", request_id, "OK")
            outcome = json.dumps(
                {"receipt": receipt.to_json(), "reply": None, "pairs": progress.pairs, "offices": progress.offices}
            )
            try:
                await tx.inbox_put(RESYNC_SENDER, request_id, outcome, now)
            except DuplicateMessage as raced:  # another replica completed it meanwhile: run again
                raise StoreContention(f"resync {request_id} completed by another transaction") from raced
            await tx.delete_meta(progress_key(request_id))
        else:
            await tx.put_meta(progress_key(request_id), progress.to_json())
        if outbox:
            await tx.outbox_add(*outbox)
    if not last:
        return None
    log.info(
        "resync completed",
        extra={
            "event": "DDFL-RESYNC-COMPLETED",
            "request_id": request_id,
            "pairs": progress.pairs,
            "offices": progress.offices,
        },
    )
    return Done(ok=True, receipt=receipt, events=progress.pairs + progress.offices)


async def _pairs(
    tx: Transaction, request: ResyncRequest, progress: _Progress, now: dt.datetime, portal_queue: str, chunk: int
) -> tuple[_Progress, list[OutboxMessage]]:
    """The next chunk of pairs: a pair with a change due is parsed, ticked and saved, its changes
    then its snapshot sent; any other is snapshotted from its published part alone."""
    keys = await tx.pair_keys_after(progress.after, chunk, request.office_her_id)
    await tx.lock_offices({key[0] for key in keys})  # before reading their states (replicas)
    rows = await tx.get_pair_rows(keys)
    outbox: list[OutboxMessage] = []
    changed: list[tuple[int, str, str, dt.datetime | None]] = []
    sent = 0
    for key in keys:
        if (row := rows.get(key)) is None:
            continue  # gone since the keys were read
        text, due = row
        if due is not None and due <= now:  # the clock's change, published here first
            current, events = resync.snapshot(PairState.from_json(text), request.request_id, now)
            changed.append((*current.key, current.to_json(), next_change(current)))
        else:
            published, sequence = load_published(text)
            events = [resync.snapshot_of(*key, published, sequence, request.request_id, now)]
        outbox += [portal_message(event, portal_queue) for event in events]
        sent += 1
    await tx.put_pairs(changed)
    walked = replace(
        progress,
        after=keys[-1] if keys else progress.after,
        pairs=progress.pairs + sent,
        pairs_done=len(keys) < chunk,
    )
    return walked, outbox


async def _offices(
    tx: Transaction, request: ResyncRequest, progress: _Progress, now: dt.datetime, portal_queue: str, chunk: int
) -> tuple[_Progress, list[OutboxMessage], bool]:
    """The next chunk of offices (the one asked for, or the next of every office with a stored
    state): each one's booking list at `now`, from its practitioners' pairs as they are then
    (R11, read as cheaply as the pairs'). Returns the progress, the messages and whether it was
    the last chunk."""
    if request.office_her_id is not None:
        her_ids, last = [request.office_her_id], True
    else:
        her_ids = await tx.office_ids_after(progress.office_after, chunk)
        last = len(her_ids) < chunk
    await tx.lock_offices(her_ids)
    offices = {her_id: OfficeState.from_json(text) for her_id in her_ids if (text := await tx.get_office(her_id))}
    rows = await tx.get_pair_rows((her_id, hpr) for her_id, office in offices.items() for hpr in office.roster or {})
    outbox: list[OutboxMessage] = []
    for her_id, office in offices.items():
        availabilities: dict[str, Availability] = {
            hpr: stored_at(*rows[(her_id, hpr)], now)[0] for hpr in office.roster or {} if (her_id, hpr) in rows
        }
        current, events = resync.booking_snapshot(office, availabilities, request.request_id, now)
        if current.booking_sequence != office.booking_sequence:
            await tx.put_office(her_id, current.to_json())
        outbox += [portal_message(event, portal_queue) for event in events]
    walked = replace(
        progress,
        office_after=her_ids[-1] if her_ids else progress.office_after,
        offices=progress.offices + len(offices),
    )
    return walked, outbox, last
