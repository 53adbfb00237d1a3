"""The domain's vocabulary: services, processes, statuses, and the commands that change them.

Everything here is an immutable value. Commands are what the message layer produces from XML
and JSON, and what the engine consumes; they carry no transport detail (queues, AMQP headers).
Names follow DOMAIN.md; Norwegian only where the standard uses it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Service(StrEnum):
    """The four buttons on the citizen's fastlegepanel, in the order the portal shows them."""

    TIMEBESTILLING = "TIMEBESTILLING"
    RESEPTFORNYELSE = "RESEPTFORNYELSE"
    E_KONSULTASJON = "E_KONSULTASJON"
    KONTAKT_LEGEKONTORET = "KONTAKT_LEGEKONTORET"


class Process(StrEnum):
    """The AR communication processes (CPP) behind the services."""

    TIMERESERVASJON = "Dialog_Innbygger_Timereservasjon"
    TIMEONSKE = "Dialog_Innbygger_Timeonske"
    RESEPTFORNYELSE = "Dialog_Innbygger_Reseptfornyelse"
    EKONSULTASJON = "Dialog_Innbygger_Ekonsultasjon"
    EKONTAKT = "Dialog_Innbygger_Ekontakt"


PROCESSES: tuple[Process, ...] = tuple(Process)

#: Which processes stand behind which service (DOMAIN.md, "Services"; R2).
SERVICE_PROCESSES: dict[Service, tuple[Process, ...]] = {
    Service.TIMEBESTILLING: (Process.TIMERESERVASJON, Process.TIMEONSKE),
    Service.RESEPTFORNYELSE: (Process.RESEPTFORNYELSE,),
    Service.E_KONSULTASJON: (Process.EKONSULTASJON,),
    Service.KONTAKT_LEGEKONTORET: (Process.EKONTAKT,),
}


class ServiceLabel(NamedTuple):
    """How Helsenorge names a service: the button, and the service itself in running text."""

    button: str
    name: str


#: The one table of service labels: the fastlegepanel's buttons (DOMAIN.md, "Services") and the
#: name R10's warning uses in its sentence.
SERVICE_LABELS: dict[Service, ServiceLabel] = {
    Service.TIMEBESTILLING: ServiceLabel("Bestill time", "Bestill time"),
    Service.RESEPTFORNYELSE: ServiceLabel("Forny resept", "Forny resept"),
    Service.E_KONSULTASJON: ServiceLabel("Start e-konsultasjon", "E-konsultasjon"),
    Service.KONTAKT_LEGEKONTORET: ServiceLabel("Kontakt legekontoret", "Kontakt legekontoret"),
}


class Status(StrEnum):
    """What a citizen sees of one service (R5)."""

    AVAILABLE = "AVAILABLE"
    TEMPORARILY_CLOSED = "TEMPORARILY_CLOSED"
    NOT_OFFERED = "NOT_OFFERED"


class BookingMode(StrEnum):
    """How Bestill time works when it is AVAILABLE (which of its processes are on)."""

    CALENDAR = "CALENDAR"
    REQUEST_ONLY = "REQUEST_ONLY"
    CALENDAR_AND_REQUEST = "CALENDAR_AND_REQUEST"


class Source(StrEnum):
    """Who reported a process status: the journal system or Adresseregisteret."""

    EPJ = "EPJ"
    AR = "AR"


class Role(StrEnum):
    """Kodeverk 9034 roles the adapter acts on; any other code is kept as its string."""

    FASTLEGE = "6"
    VIKAR_FOR_FASTLEGE = "15"


#: How the booking list ("Velg behandler", seeds/004) names the roles the adapter acts on; any
#: other role goes by the name its behandleroversikt gives it (`Practitioner.role_name`).
ROLE_NAMES: dict[Role, str] = {Role.FASTLEGE: "fastlege", Role.VIKAR_FOR_FASTLEGE: "vikar for fastlege"}


#: Kodeverk 7602 codes that close a conversation (R7).
CLOSING_CODES: dict[str, str] = {"13": "Dialog avsluttet", "27": "Attest vedlagt, dialog avsluttet"}
TEMA_CODE_SYSTEM = "2.16.578.1.12.4.1.1.7602"

#: R14: the longest absence, in days, counting both ends.
MAX_ABSENCE_DAYS = 366


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("instant must carry a UTC offset")
    return value


#: An instant on the time line; naive datetimes are refused, since Oslo's offset changes.
Instant = Annotated[dt.datetime, AfterValidator(_aware)]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------------------------------------
# Commands: one per kind of fact the adapter learns. The message layer builds them; the engine
# applies them. `kind` names each one in logs and reprs.
# ---------------------------------------------------------------------------------------------


class MessageRef(_Value):
    """Identifies the MsgHead message a command came from (R1 ordering, R12 dedup, receipts)."""

    msg_id: str
    gen_date: Instant
    sender_her_id: int


class ReportServiceStatus(_Value):
    """Tjenestestatus: processes switched on or off for one practitioner (R1)."""

    kind: Literal["service_status"] = "service_status"
    message: MessageRef
    office_her_id: int
    practitioner_hpr: str
    source: Source
    complete: bool
    #: process -> on. With `complete`, every process not listed is off.
    statuses: dict[Process, bool]


class SubstituteFor(_Value):
    """A substitute's cover: the GP it covers and the period, both dates inclusive (R9)."""

    gp_hpr: str
    from_date: dt.date
    to_date: dt.date | None = None


class Practitioner(_Value):
    """One entry of the office's behandleroversikt."""

    hpr: str
    her_id: int | None = None
    given_name: str = ""
    family_name: str = ""
    role: str
    #: The role's name as the behandleroversikt gives it (kodeverk 9034's `DN`, "Jordmor"), if any.
    role_name: str = ""
    covers: SubstituteFor | None = None

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.given_name, self.family_name) if part)


class ReplaceRoster(_Value):
    """Behandleroversikt: the office's complete practitioner list; replaces the previous one."""

    kind: Literal["roster"] = "roster"
    message: MessageRef
    office_her_id: int
    practitioners: tuple[Practitioner, ...]
    #: The office's name as the message's sender names itself (MsgHead OrganisationName).
    office_name: str | None = None


class DialogueNote(_Value):
    """A Dialogmelding note from the office in a citizen conversation (R7 when it closes it)."""

    kind: Literal["dialogue_note"] = "dialogue_note"
    message: MessageRef
    office_her_id: int
    practitioner_hpr: str | None
    service: Service
    conversation_ref: str
    code: str | None
    code_system: str | None = None


class RegisterAbsence(_Value):
    """Tilpass Helsenorge: a GP registers (or re-registers) an absence (R3, R14)."""

    kind: Literal["absence_registered"] = "absence_registered"
    absence_id: str
    office_her_id: int
    practitioner_hpr: str
    from_date: dt.date
    to_date: dt.date
    services: frozenset[Service] = Field(min_length=1)
    registered_by_hpr: str
    registered_at: Instant


class DeleteAbsence(_Value):
    """Tilpass Helsenorge: an absence is deleted (R14: unknown ids are remembered)."""

    kind: Literal["absence_deleted"] = "absence_deleted"
    absence_id: str
    office_her_id: int
    deleted_by_hpr: str
    deleted_at: Instant
