"""The adapter's identity and its queues: the one home of the HER-id and every queue name.

The contract fixes the defaults (Helsenorge.no's HER-id 8093244, `{HER-id}_async` in,
`portal.availability` out); `Settings` may rename them for a deployment, and replay and the tests
take a `Topology.isolated` one, so nothing they do can reach the queues of a running adapter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Settings

#: Helsenorge.no in Adresseregisteret: the receiver of inbound XML and the sender of AppRecs.
HELSENORGE_HER_ID = 8093244
PORTAL_QUEUE = "portal.availability"
ABSENCE_QUEUE = "tilpass-helsenorge.absences"
ABSENCE_INVALID_QUEUE = "tilpass-helsenorge.absences.invalid"
#: The portal's requests for a resync (`resync.requested`, JSON) and where malformed ones go.
RESYNC_QUEUE = "portal.resync"
RESYNC_INVALID_QUEUE = "portal.resync.invalid"


def receipts_queue(her_id: int) -> str:
    """Where an office (or the adapter) receives asynchronous messages and AppRecs."""
    return f"{her_id}_async"


def errors_queue(her_id: int) -> str:
    """Where an office is told of messages that could not be read or trusted."""
    return f"{her_id}_error"


def dead_letter_queue(her_id: int) -> str:
    return f"{her_id}_dl"


@dataclass(frozen=True)
class Topology:
    """Every queue the adapter consumes from, declares or publishes to (senders' queues aside)."""

    own_her_id: int = HELSENORGE_HER_ID
    inbound_queue: str = receipts_queue(HELSENORGE_HER_ID)
    absence_queue: str = ABSENCE_QUEUE
    absence_invalid_queue: str = ABSENCE_INVALID_QUEUE
    portal_queue: str = PORTAL_QUEUE
    dead_letter_queue: str = dead_letter_queue(HELSENORGE_HER_ID)
    resync_queue: str = RESYNC_QUEUE
    resync_invalid_queue: str = RESYNC_INVALID_QUEUE
    #: Where every AppRec and error report goes instead of the senders' own `{HER-id}_async` /
    #: `{HER-id}_error` queues; None (the contract) in production, a queue of its own in replay.
    replies_queue: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> Topology:
        return cls(
            own_her_id=settings.her_id,
            inbound_queue=settings.inbound_queue,
            absence_queue=settings.absence_queue,
            absence_invalid_queue=settings.absence_invalid_queue,
            portal_queue=settings.portal_queue,
            dead_letter_queue=settings.dead_letter_queue,
            resync_queue=settings.resync_queue,
            resync_invalid_queue=settings.resync_invalid_queue,
            replies_queue=settings.replies_queue,
        )

    @classmethod
    def isolated(cls, prefix: str, own_her_id: int = HELSENORGE_HER_ID, *, own_replies: bool = False) -> Topology:
        """Queue names of one's own (replay, tests, benchmarks), whatever the environment says;
        with `own_replies`, the AppRecs and error reports too (replay on a real broker)."""
        return cls(
            own_her_id=own_her_id,
            inbound_queue=f"{prefix}-{receipts_queue(own_her_id)}",
            absence_queue=f"{prefix}-absences",
            absence_invalid_queue=f"{prefix}-absences-invalid",
            portal_queue=f"{prefix}-portal",
            dead_letter_queue=f"{prefix}-dl",
            resync_queue=f"{prefix}-resync",
            resync_invalid_queue=f"{prefix}-resync-invalid",
            replies_queue=f"{prefix}-replies" if own_replies else None,
        )

    def settings(self) -> dict[str, object]:
        """As `Settings` fields (`her_id`, `inbound_queue`, …)."""
        fields: dict[str, object] = asdict(self)
        fields["her_id"] = fields.pop("own_her_id")
        return fields

    def environment(self) -> dict[str, str]:
        """As `DDFL_*` variables, for a process started with this topology (what is None is left out)."""
        return {f"DDFL_{name.upper()}": str(value) for name, value in self.settings().items() if value is not None}

    def queues(self) -> tuple[str, ...]:
        """The queues this topology declares (to delete an isolated one afterwards)."""
        own = (
            self.inbound_queue,
            self.absence_queue,
            self.absence_invalid_queue,
            self.portal_queue,
            self.dead_letter_queue,
            self.resync_queue,
            self.resync_invalid_queue,
        )
        return own if self.replies_queue is None else (*own, self.replies_queue)
