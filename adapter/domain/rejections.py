"""Every reason the domain refuses a fact, as a catalogue: one member per condition, a stable code.

XML commands are answered with an AppRec, so their codes are kodeverk 8221 codes (`X99`, `E20`);
absence commands carry a short reason key instead (the `reason` header on the invalid queue).
Call sites name the condition, never the code: the code of a condition is stated here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Refusal(Enum):
    """Why a fact is refused; `code` is stable and `meaning` says which rule refuses it."""

    GEN_DATE_AHEAD = ("X99", "GenDate is more than 10 minutes ahead of the adapter's clock (R1)")
    PRACTITIONER_NOT_LISTED = ("E20", "the practitioner is not listed in the office's behandleroversikt (R13)")
    ABSENCE_FROM_AFTER_TO = ("from_after_to", "the absence's from-date is after its to-date (R14)")
    ABSENCE_WITHOUT_SERVICES = ("no_services", "the absence names no service (R14)")
    ABSENCE_TOO_LONG = ("too_long", "the absence is longer than 366 days, both ends counted (R14)")
    REGISTERED_BY_UNLISTED = (
        "not_authorised",
        "the absence was registered by someone not listed at the office (R13)",
    )
    DELETED_BY_UNLISTED = ("not_authorised", "the absence was deleted by someone not listed at the office (R13)")
    ABSENCE_FOR_UNLISTED = ("unknown_practitioner", "the practitioner is not listed at the office (R13, R16)")

    def __init__(self, code: str, meaning: str) -> None:
        self.code = code
        self.meaning = meaning


@dataclass(frozen=True)
class Rejection:
    """A refused fact: the condition, and what exactly was wrong when the meaning alone is too vague."""

    refusal: Refusal
    detail: str | None = None

    @property
    def code(self) -> str:
        return self.refusal.code

    @property
    def reason(self) -> str:
        return self.detail or self.refusal.meaning
