"""What the portal is told: the availability of one (office, practitioner) and the events.

The models mirror the wire format of `contract/examples/*.json` field for field, so the published
JSON Schema is generated from them and cannot drift from what is sent.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from .calendar import in_oslo
from .model import BookingMode, Service, Status

#: Instants are published with Oslo's offset, as the contract's examples show them.
OsloInstant = Annotated[dt.datetime, PlainSerializer(lambda v: in_oslo(v).isoformat(), return_type=str)]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        """The JSON object exactly as published (aliases, Oslo offsets, ISO dates)."""
        return self.model_dump(mode="json", by_alias=True)


class ServiceView(_Wire):
    """One button: its status, the reopening date while closed, and its information message."""

    status: Status
    reopens_on: dt.date | None = None
    info_visible: bool


class BookingView(ServiceView):
    """Bestill time also says how booking works, while it is available."""

    booking_mode: BookingMode | None = None


class ConsultationView(ServiceView):
    """Start e-konsultasjon also says whether replies in existing conversations are accepted (R6)."""

    accepts_replies: bool


class ServicesView(_Wire):
    TIMEBESTILLING: BookingView
    RESEPTFORNYELSE: ServiceView
    E_KONSULTASJON: ConsultationView
    KONTAKT_LEGEKONTORET: ServiceView

    def of(self, service: Service) -> ServiceView:
        view: ServiceView = getattr(self, service.value)
        return view


class SubstituteView(_Wire):
    """The substitute listed for booking as "<name> (vikar for fastlege)" (R9)."""

    hpr: str
    name: str
    from_date: dt.date = Field(alias="from")
    to_date: dt.date | None = Field(alias="to")


class Availability(_Wire):
    """Everything a citizen sees of one practitioner at one office."""

    services: ServicesView
    panel_info_visible: bool
    substitute: SubstituteView | None

    def changed_services(self, before: Availability) -> list[Service]:
        return [s for s in Service if self.services.of(s) != before.services.of(s)]


class Cause(_Wire):
    kind: Literal["message", "absence", "clock"]
    id: str | None = None


CLOCK = Cause(kind="clock")


class AvailabilityChanged(_Wire):
    """R12: the complete new availability of one pair, with what changed and why."""

    type: Literal["availability.changed"] = "availability.changed"
    event_id: str
    office_her_id: int
    practitioner_hpr: str
    sequence: int
    effective_at: OsloInstant
    changed: list[Service]
    services: ServicesView
    panel_info_visible: bool
    substitute: SubstituteView | None
    caused_by: Cause


class WarningCode(StrEnum):
    """What a warning to the GP is about (R9, R10); the wire model's `code` lists the same values."""

    ABSENCE_OVERRIDES_SUBSTITUTE = "ABSENCE_OVERRIDES_SUBSTITUTE"
    SERVICE_STILL_OFF_AFTER_ABSENCE = "SERVICE_STILL_OFF_AFTER_ABSENCE"


class AvailabilityWarning(_Wire):
    """R9/R10: something the GP should know and probably did not intend."""

    type: Literal["availability.warning"] = "availability.warning"
    event_id: str
    code: Literal["ABSENCE_OVERRIDES_SUBSTITUTE", "SERVICE_STILL_OFF_AFTER_ABSENCE"]
    office_her_id: int
    practitioner_hpr: str
    service: Service | None
    absence_id: str | None
    substitute_hpr: str | None
    effective_at: OsloInstant
    text: str


class DialogueClosed(_Wire):
    """R7: a conversation was closed by the office; told once per conversation."""

    type: Literal["dialogue.closed"] = "dialogue.closed"
    event_id: str
    office_her_id: int
    practitioner_hpr: str | None
    service: Service
    conversation_ref: str
    code: str
    closed_at: OsloInstant


class BookablePractitioner(_Wire):
    """One line of an office's booking list ("Velg behandler", seeds/004): whom a citizen can book
    with now, named as the guide names them (`domain/booking.py` decides who is on it)."""

    hpr: str
    name: str
    role: str = Field(description="The role's kodeverk 9034 code: 6 fastlege, 15 vikar for fastlege, others as listed.")
    role_name: str = Field(description="The role as the list names it: fastlege, vikar for fastlege, jordmor, …")
    label: str = Field(
        description='The line as Helsenorge words it: "<name> fastlege", "<name> (vikar for fastlege)", '
        '"<name> (<role>)".'
    )
    covers_hpr: str | None = Field(description="For a substitute, the GP covered (R9); otherwise null.")


class PractitionersChanged(_Wire):
    """The complete booking list of one office, each time it changes (issue 12)."""

    type: Literal["office.practitioners.changed"] = "office.practitioners.changed"
    event_id: str
    office_her_id: int
    sequence: int = Field(description="Strictly increasing per office: drop a list older than the one you have.")
    effective_at: OsloInstant
    practitioners: list[BookablePractitioner]
    caused_by: Cause


class AvailabilitySnapshot(_Wire):
    """What citizens see of one pair now, sent on the portal's request (a resync), not because
    anything changed: the `availability.changed` payload with the pair's current `sequence`.
    Applied by the same rule as changes (the higher sequence wins; an equal one carries the same
    availability), so a snapshot never takes a consumer backwards."""

    type: Literal["availability.snapshot"] = "availability.snapshot"
    event_id: str
    request_id: str
    office_her_id: int
    practitioner_hpr: str
    sequence: int
    #: The instant the availability holds for: the snapshot's, after every change due by then.
    as_of: OsloInstant
    services: ServicesView
    panel_info_visible: bool
    substitute: SubstituteView | None


class PractitionersSnapshot(_Wire):
    """An office's booking list as last published, sent on the portal's request (a resync), not
    because it changed: the `office.practitioners.changed` payload with the office's current
    `sequence`. Applied by the same rule as changes (the higher sequence wins; an equal one carries
    the same list), so a snapshot never takes a consumer backwards."""

    type: Literal["office.practitioners.snapshot"] = "office.practitioners.snapshot"
    event_id: str
    request_id: str
    office_her_id: int
    sequence: int = Field(description="The office's sequence of the list: the last office.practitioners.changed's.")
    #: The instant the list holds for: the snapshot's, after every change due by then.
    as_of: OsloInstant
    practitioners: list[BookablePractitioner]


class ResyncCompleted(_Wire):
    """Every snapshot of a resync precedes this on the portal's queue; the live stream goes on."""

    type: Literal["resync.completed"] = "resync.completed"
    event_id: str
    request_id: str
    #: The office asked for, or None: every pair the adapter holds.
    office_her_id: int | None
    #: How many `availability.snapshot` events the resync sent.
    pairs: int
    #: How many `office.practitioners.snapshot` events the resync sent (one per office it covered).
    offices: int
    completed_at: OsloInstant


Event = Annotated[
    AvailabilityChanged
    | AvailabilityWarning
    | DialogueClosed
    | PractitionersChanged
    | AvailabilitySnapshot
    | PractitionersSnapshot
    | ResyncCompleted,
    Field(discriminator="type"),
]
