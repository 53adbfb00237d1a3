"""What the read API answers, as pydantic models: the OpenAPI document is generated from them.

An entry is the `availability.changed` payload of one pair — the same `ServicesView` and
`SubstituteView` the events are built from, so the two cannot drift — keyed by office and
practitioner, with its `sequence`: the portal keeps, per pair, whichever of an event and an
answer has the higher sequence.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..domain.events import BookablePractitioner, OsloInstant, ServicesView, SubstituteView


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class AvailabilityEntry(_Answer):
    """What citizens see of one practitioner at one office now, as the last (or the next due)
    `availability.changed` event of the pair says it."""

    office_her_id: int
    practitioner_hpr: str
    sequence: int = Field(
        description="The sequence of the availability.changed event that carries exactly this availability: "
        "the last one published, or, when a time-driven change is due but not yet published, the one it "
        "will carry. 0 when nothing has been published for the pair yet (then every service is NOT_OFFERED)."
    )
    services: ServicesView
    panel_info_visible: bool
    substitute: SubstituteView | None


class OfficeAvailability(_Answer):
    """Every practitioner of an office the adapter holds state of, by HPR number."""

    office_her_id: int
    as_of: OsloInstant = Field(description="The instant the answer is true at.")
    practitioners: list[AvailabilityEntry]


class AvailabilityPage(_Answer):
    """One page of every pair, in (office, practitioner) order."""

    as_of: OsloInstant = Field(description="The instant this page is true at (each page is read afresh).")
    items: list[AvailabilityEntry]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page. Keyset paging: a pair added "
        "meanwhile after the cursor appears on a later page, none is listed twice."
    )


class OfficePractitioners(_Answer):
    """An office's booking list ("Velg behandler") now: the `office.practitioners.changed` payload."""

    office_her_id: int
    as_of: OsloInstant = Field(description="The instant the answer is true at.")
    sequence: int = Field(
        description="The sequence of the office.practitioners.changed event that carries exactly this list: the "
        "last one published, or, when the list is different now (a change due at midnight not yet published), "
        "the one the next event will carry. 0 when no list has been published yet (the empty list). Keep "
        "whichever of an event and an answer has the higher sequence, the event on a tie."
    )
    practitioners: list[BookablePractitioner] = Field(
        description="Whom a citizen can book with now, in the guide's order: GPs, substitutes, other roles."
    )


class Problem(BaseModel):
    """RFC 9457 problem details (application/problem+json)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
