"""What goes on the portal's queue: one event per message, as the contract publishes it.

`PortalEvent` is the domain's one event union (`adapter.domain.events.Event`) as a model of its
own, so the JSON Schema and the AsyncAPI document are generated from the very type the engine
returns; it lives here, below both the runtime and `adapter.contracts`, so neither imports the other.
"""

from __future__ import annotations

from pydantic import RootModel

from ..domain.events import Event
from ..store.base import OutboxMessage


class PortalEvent(RootModel[Event]):
    """One message on the portal's queue."""


def portal_message(event: Event, portal_queue: str) -> OutboxMessage:
    """A portal event as published: JSON, AMQP message id = event_id (stable across crashes)."""
    return OutboxMessage(
        routing_key=portal_queue,
        message_id=event.event_id,
        body=event.model_dump_json(by_alias=True).encode(),
        headers={"type": event.type},
        content_type="application/json",
    )
