"""A resync, purely: what the portal is sent for one pair when it asks what is true now.

A portal that lost its queue (a restore, a new consumer) asks for a resync; for every pair it
gets the availability citizens see now as an `availability.snapshot`, then `resync.completed`.
Readings where the issue leaves room:
- A time-driven change that is due (R11) is published first, as the clock would have, so a
  snapshot is never stale and never carries a sequence the live stream has not used: its
  `sequence` is the pair's current one, and the change events precede it.
- A snapshot changes nothing else: the pair's sequence is not incremented (the snapshot repeats
  what the sequence already names), and no warning is sent again.
- The snapshot's event id is `{office}-{hpr}-{sequence}-s-{request_id}`: stable for one request
  (a resync resumed after a crash repeats the same ids) and distinct from the change events' ids.
"""

from __future__ import annotations

import datetime as dt

from .engine import tick
from .events import AvailabilitySnapshot, Event, ResyncCompleted
from .state import PairState


def snapshot_event_id(office_her_id: int, practitioner_hpr: str, sequence: int, request_id: str) -> str:
    return f"{office_her_id}-{practitioner_hpr}-{sequence}-s-{request_id}"


def snapshot(pair: PairState, request_id: str, now: dt.datetime) -> tuple[PairState, list[Event]]:
    """The pair at `now`: its due time-driven changes (R11, in time order), then its snapshot.
    Returns the state to save (changed only when something was due) and the events to publish."""
    current, events = tick(pair, now)
    office, hpr = current.key
    published = current.published
    return current, [
        *events,
        AvailabilitySnapshot(
            event_id=snapshot_event_id(office, hpr, current.sequence, request_id),
            request_id=request_id,
            office_her_id=office,
            practitioner_hpr=hpr,
            sequence=current.sequence,
            as_of=now,
            services=published.services,
            panel_info_visible=published.panel_info_visible,
            substitute=published.substitute,
        ),
    ]


def completed(request_id: str, office_her_id: int | None, pairs: int, now: dt.datetime) -> ResyncCompleted:
    """The last event of a resync: every snapshot of it was published before."""
    return ResyncCompleted(
        event_id=f"resync-{request_id}",
        request_id=request_id,
        office_her_id=office_her_id,
        pairs=pairs,
        completed_at=now,
    )
