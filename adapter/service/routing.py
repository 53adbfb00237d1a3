"""Where the service layer sends what it produces, and the limits of what it reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..messages.xmlsafe import Limits
from ..topology import (
    ABSENCE_INVALID_QUEUE,
    HELSENORGE_HER_ID,
    PORTAL_QUEUE,
    RESYNC_INVALID_QUEUE,
    Topology,
    errors_queue,
    receipts_queue,
)


@dataclass(frozen=True)
class Routing:
    """The adapter's own HER-id and the queues handlers publish to; built from a `Topology`."""

    own_her_id: int = HELSENORGE_HER_ID
    portal_queue: str = PORTAL_QUEUE
    absence_invalid_queue: str = ABSENCE_INVALID_QUEUE
    resync_invalid_queue: str = RESYNC_INVALID_QUEUE
    limits: Limits = field(default_factory=Limits)
    #: See `Topology.replies_queue`: replay keeps its receipts to itself.
    replies_queue: str | None = None

    @classmethod
    def of(cls, topology: Topology, limits: Limits | None = None) -> Routing:
        return cls(
            own_her_id=topology.own_her_id,
            portal_queue=topology.portal_queue,
            absence_invalid_queue=topology.absence_invalid_queue,
            resync_invalid_queue=topology.resync_invalid_queue,
            limits=limits or Limits(),
            replies_queue=topology.replies_queue,
        )

    def receipts_queue(self, her_id: int) -> str:
        """Where the AppRec for a message from `her_id` goes."""
        return self.replies_queue or receipts_queue(her_id)

    def errors_queue(self, her_id: int) -> str:
        """Where an error report about a message from `her_id` goes."""
        return self.replies_queue or errors_queue(her_id)
