"""Small builders of valid inbound messages for tests that need many of them: shorthands over the
project's one set of message builders (`adapter.messages.builders`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from adapter.domain.model import Process
from adapter.messages.builders import Office, Person, RosterEntry, behandleroversikt, tjenestestatus


def _office(her_id: int) -> Office:
    return Office(her_id=her_id, name=f"Legekontor {her_id}")


def roster_xml(office: int, hprs: Iterable[str], *, msg_id: str, gen_date: dt.datetime, ack: str = "N") -> bytes:
    entries = [RosterEntry(Person(hpr=hpr, given_name="Lege", family_name=hpr)) for hpr in hprs]
    return behandleroversikt(office=_office(office), entries=entries, gen_date=gen_date, msg_id=msg_id, ack=ack == "J")


def status_xml(
    office: int,
    hpr: str,
    statuses: Mapping[str, bool],
    *,
    msg_id: str,
    gen_date: dt.datetime,
    complete: bool = True,
    source: Literal["EPJ", "AR"] = "EPJ",
    ack: str = "N",
) -> bytes:
    return tjenestestatus(
        office=_office(office),
        gp=Person(hpr=hpr, given_name="Test", family_name="Lege"),
        gen_date=gen_date,
        msg_id=msg_id,
        statuses={Process(name): on for name, on in statuses.items()},
        complete=complete,
        source=source,
        ack=ack == "J",
    )


#: The booking list's event type: how many an office passes through depends on the order its
#: practitioners' messages are taken in (each GP made bookable changes it once); its last does not.
BOOKING_LISTS = "office.practitioners.changed"


def last_booking_lists(events: Iterable[Mapping[str, Any] | bytes]) -> dict[int, list[Any]]:
    """Each office's last booking list (the one with the highest sequence), from events or their bodies."""
    last: dict[int, Mapping[str, Any]] = {}
    for event in (json.loads(e) if isinstance(e, bytes) else e for e in events):
        office = event.get("office_her_id")
        if event["type"] == BOOKING_LISTS and event["sequence"] > last.get(office, {}).get("sequence", 0):
            last[office] = event
    return {office: list(event["practitioners"]) for office, event in last.items()}
