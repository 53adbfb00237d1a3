"""What a citizen sees on Helsenorge, in Norwegian, from the portal's availability events.

`render` turns one `availability.changed` event (its JSON) into the fastlegepanel as text: each
button by its Helsenorge label and whether it is shown and works, is temporarily closed (with the
date it opens again) or is not shown; how Bestill time books; whether existing e-consultations can
still be answered; the substitute; and whether the panel's information message shows. The
wording follows Helsenorge's own (seeds/003 and seeds/004: "Fastlegen din er Astrid", "vikar for
fastlege", "kan svare på eksisterende samtaler … men kan ikke starte nye"). `render_booking` turns
an `office.practitioners.changed` event into the booking guide's step 2, "Velg behandler"
(seeds/004: "Benedikte fastlege", "Ingar (vikar for fastlege)", "Arna (jordmor)"). Pure functions:
no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from ..domain.calendar import norwegian_date
from ..domain.model import SERVICE_LABELS, BookingMode, Service, Status

#: The buttons on the fastlegepanel, in the portal's order, as Helsenorge labels them.
LABELS: dict[Service, str] = {service: SERVICE_LABELS[service].button for service in Service}

BOOKING_MODES: dict[BookingMode, str] = {
    BookingMode.CALENDAR: "timebestilling i kalender",
    BookingMode.REQUEST_ONLY: "timeønske",
    BookingMode.CALENDAR_AND_REQUEST: "timebestilling i kalender og timeønske",
}

SHOWN = "vises og kan brukes"
NOT_SHOWN = "vises ikke"
CLOSED = "midlertidig stengt"
REPLIES_ACCEPTED = "Du kan svare på eksisterende samtaler, men ikke starte nye."
#: What Helsenorge says when the GP offers nothing there (seeds/003, "skrur av alle tjenestene").
NOTHING_OFFERED = (
    "Din fastlege tilbyr ikke timebestilling og dialog på Helsenorge, "
    "men kan ha andre digitale kontaktmuligheter på sin hjemmeside."
)
#: The booking guide's step 2 (seeds/004), and what it says when nobody can be booked now.
CHOOSE = "Velg behandler"
NOBODY_TO_CHOOSE = "ingen behandler kan bestilles time hos på Helsenorge nå"
PANEL_VISIBLE = "Informasjonsmeldingen vises"
PANEL_HIDDEN = "Informasjonsmeldingen vises ikke"


def button_lines(service: Service, view: Mapping[str, Any]) -> list[str]:
    """One button as "<label>: <what the citizen sees>", and a second line for e-konsultasjon's replies."""
    label = LABELS[service]
    status = Status(view["status"])
    if status is Status.NOT_OFFERED:
        return [f"{label}: {NOT_SHOWN}"]
    if status is Status.AVAILABLE:
        mode = view.get("booking_mode") if service is Service.TIMEBESTILLING else None
        how = f" ({BOOKING_MODES[BookingMode(mode)]})" if mode else ""
        return [f"{label}: {SHOWN}{how}"]
    reopens = view.get("reopens_on")
    line = f"{label}: {CLOSED} – åpner igjen {norwegian_date(reopens)}" if reopens else f"{label}: {CLOSED}"
    if service is Service.E_KONSULTASJON and view.get("accepts_replies"):
        return [line, f"  {REPLIES_ACCEPTED}"]
    return [line]


def substitute_line(substitute: Mapping[str, Any]) -> str:
    """ "<name> (vikar for fastlege), fra og med … til og med …" (R9)."""
    period = f"fra og med {norwegian_date(substitute['from'])}"
    if substitute.get("to"):
        period += f" til og med {norwegian_date(substitute['to'])}"
    return f"{substitute['name']} (vikar for fastlege), {period}"


def render(availability: Mapping[str, Any], *, practitioner_name: str | None, office_name: str | None = None) -> str:
    """The fastlegepanel one practitioner's availability gives, as lines of Norwegian text.

    `availability` is the JSON of an `availability.changed` event (its `services`,
    `panel_info_visible` and `substitute` are used). Without a name, the HPR-nummer stands in.
    """
    name = practitioner_name or f"fastlege med HPR-nummer {availability.get('practitioner_hpr', '?')}"
    heading = f"Fastlegen din er {name}" + (f" ved {office_name}" if office_name else "")
    lines = [heading]
    services = availability["services"]
    if all(Status(services[s.value]["status"]) is Status.NOT_OFFERED for s in Service):
        lines.append(NOTHING_OFFERED)
    for service in Service:
        lines.extend(button_lines(service, services[service.value]))
    if availability.get("substitute"):
        lines.append(substitute_line(availability["substitute"]))
    lines.append(PANEL_VISIBLE if availability["panel_info_visible"] else PANEL_HIDDEN)
    return "\n".join(lines)


def latest_availability(
    events: Iterable[Mapping[str, Any]], *, office_her_id: int | None = None, at: dt.datetime | None = None
) -> dict[str, Mapping[str, Any]]:
    """Each practitioner's latest `availability.changed` (effective at or before `at`), by HPR,
    in the order the practitioners first appear. Without `office_her_id` the events must be
    about one office only."""
    changed = [e for e in events if e.get("type") == "availability.changed"]
    offices = {e["office_her_id"] for e in changed}
    if office_her_id is None:
        if len(offices) > 1:
            raise ValueError(f"the events are about several offices {sorted(offices)}: name one")
        office_her_id = next(iter(offices), None)
    latest: dict[str, Mapping[str, Any]] = {}
    for event in changed:
        if event["office_her_id"] != office_her_id:
            continue
        if at is not None and dt.datetime.fromisoformat(event["effective_at"]) > at:
            continue
        latest[event["practitioner_hpr"]] = event
    return latest


def render_booking(listed: Mapping[str, Any], *, office_name: str | None = None) -> str:
    """The booking list ("Velg behandler") of an `office.practitioners.changed` event, one line each,
    as the guide words them ("Ingar Vik (vikar for fastlege)")."""
    heading = CHOOSE + (f" ved {office_name}" if office_name else "")
    labels = [entry["label"] for entry in listed["practitioners"]]
    if not labels:
        return f"{heading}: {NOBODY_TO_CHOOSE}"
    return "\n".join([f"{heading}:", *(f"  {label}" for label in labels)])


def latest_booking(
    events: Iterable[Mapping[str, Any]], *, office_her_id: int, at: dt.datetime | None = None
) -> Mapping[str, Any] | None:
    """The office's latest `office.practitioners.changed` (effective at or before `at`), if any."""
    latest = None
    for event in events:
        if event.get("type") != "office.practitioners.changed" or event["office_her_id"] != office_her_id:
            continue
        effective = event.get("effective_at")
        if at is not None and effective and dt.datetime.fromisoformat(effective) > at:
            continue
        latest = event
    return latest


def render_office(
    events: list[dict[str, Any]],
    names: Mapping[str, str],
    *,
    office_her_id: int | None = None,
    office_name: str | None = None,
    at: dt.datetime | None = None,
) -> str:
    """What the citizens of every practitioner at one office see, from all the events published,
    and the office's booking list when one has been published.

    `names` maps HPR-nummer to the practitioner's name. The office is `office_her_id`, or the only
    office the events are about; `at` renders the state at that instant instead of the latest.
    """
    latest = latest_availability(events, office_her_id=office_her_id, at=at)
    blocks = [render(event, practitioner_name=names.get(hpr), office_name=office_name) for hpr, event in latest.items()]
    office = (
        office_her_id if office_her_id is not None else next(iter({e["office_her_id"] for e in latest.values()}), None)
    )
    listed = None if office is None else latest_booking(events, office_her_id=office, at=at)
    if listed is not None:
        blocks.append(render_booking(listed, office_name=office_name))
    return "\n\n".join(blocks)
