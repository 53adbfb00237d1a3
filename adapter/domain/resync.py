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
- Each office covered then gets its booking list (`domain/booking.py`) as an
  `office.practitioners.snapshot`, brought to the same instant the same way: when the list due now
  (every pair as it is then, R11) differs from the one last published, that change is published
  first (`office.practitioners.changed`, caused by the clock) and the snapshot carries its
  sequence. This also publishes a list a pair's due change altered while the resync ticked it
  (the clock will not look at that pair again for that change). Its id is
  `{office}-practitioners-{sequence}-s-{request_id}`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from . import booking
from .engine import tick
from .events import CLOCK, Availability, AvailabilitySnapshot, Event, PractitionersSnapshot, ResyncCompleted
from .state import OfficeState, PairState


def snapshot_event_id(office_her_id: int, practitioner_hpr: str, sequence: int, request_id: str) -> str:
    return f"{office_her_id}-{practitioner_hpr}-{sequence}-s-{request_id}"


def snapshot(pair: PairState, request_id: str, now: dt.datetime) -> tuple[PairState, list[Event]]:
    """The pair at `now`: its due time-driven changes (R11, in time order), then its snapshot.
    Returns the state to save (changed only when something was due) and the events to publish."""
    current, events = tick(pair, now)
    return current, [*events, snapshot_of(*current.key, current.published, current.sequence, request_id, now)]


def snapshot_of(
    office_her_id: int,
    practitioner_hpr: str,
    published: Availability,
    sequence: int,
    request_id: str,
    now: dt.datetime,
) -> AvailabilitySnapshot:
    """The snapshot of a pair with nothing due: what was last published, with its sequence (the
    caller need not read the pair's facts at all)."""
    return AvailabilitySnapshot(
        event_id=snapshot_event_id(office_her_id, practitioner_hpr, sequence, request_id),
        request_id=request_id,
        office_her_id=office_her_id,
        practitioner_hpr=practitioner_hpr,
        sequence=sequence,
        as_of=now,
        services=published.services,
        panel_info_visible=published.panel_info_visible,
        substitute=published.substitute,
    )


def booking_snapshot(
    office: OfficeState, availabilities: Mapping[str, Availability], request_id: str, now: dt.datetime
) -> tuple[OfficeState, list[Event]]:
    """The office's booking list at `now` (`availabilities`: what each practitioner's pair shows at
    `now`, by HPR, R11): the change due first, if the list differs from the one last published,
    then the snapshot. Returns the office to save (changed only when its list did) and the events
    to publish."""
    listed = booking.booking_list(office, availabilities)
    current, change = booking.publish(office, listed, now, CLOCK)
    sequence = current.booking_sequence
    return current, [
        *([change] if change is not None else []),
        PractitionersSnapshot(
            event_id=f"{office.her_id}-practitioners-{sequence}-s-{request_id}",
            request_id=request_id,
            office_her_id=office.her_id,
            sequence=sequence,
            as_of=now,
            practitioners=list(current.booking),
        ),
    ]


def completed(
    request_id: str, office_her_id: int | None, pairs: int, offices: int, now: dt.datetime
) -> ResyncCompleted:
    """The last event of a resync: every snapshot of it was published before."""
    return ResyncCompleted(
        event_id=f"resync-{request_id}",
        request_id=request_id,
        office_her_id=office_her_id,
        pairs=pairs,
        offices=offices,
        completed_at=now,
    )
