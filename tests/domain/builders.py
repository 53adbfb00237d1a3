"""A tiny in-memory world for the engine's tests, and builders for the commands it consumes.

`World` holds what a store would (office states, pair states, closed conversations), routes each
command the way the worker does (`pairs_needed`, then `apply`), lets the clock pass (`tick`, R11)
and keeps every published event in order. Nothing here decides anything: it only wires the pure
engine together, so the tests can speak in DOMAIN.md's terms.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from adapter.domain import engine
from adapter.domain.calendar import OSLO
from adapter.domain.events import Availability, AvailabilityChanged, AvailabilityWarning, DialogueClosed, Event
from adapter.domain.model import (
    TEMA_CODE_SYSTEM,
    DeleteAbsence,
    DialogueNote,
    MessageRef,
    Practitioner,
    Process,
    RegisterAbsence,
    ReplaceRoster,
    ReportServiceStatus,
    Role,
    Service,
    Source,
    Status,
    SubstituteFor,
)
from adapter.domain.state import OfficeState, PairState

#: The contract's examples live in ../shared beside the project; tests that need them skip without it.
EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "examples"
OFFICE = 8141333  # Lysaker legesenter, as in the contract's examples
ASTRID = "9144900"  # GP Astrid Info
INGAR = "5522113"  # her substitute in the examples
ARNA = "7310428"  # a midwife at the same office
ALL = frozenset(Service)
#: The processes behind all four services (Timeonske left out: Bestill time by calendar only).
ALL_FOUR_ON = (Process.TIMERESERVASJON, Process.RESEPTFORNYELSE, Process.EKONSULTASJON, Process.EKONTAKT)
TIME, RESEPT = Service.TIMEBESTILLING, Service.RESEPTFORNYELSE
EKONS, KONTAKT = Service.E_KONSULTASJON, Service.KONTAKT_LEGEKONTORET
AV, TC, NO = Status.AVAILABLE, Status.TEMPORARILY_CLOSED, Status.NOT_OFFERED

_ids = itertools.count(1)


def oslo(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    """A wall-clock time in Oslo."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=OSLO)


#: The instant most tests start at.
NOW = oslo(2024, 1, 10, 12)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def example(name: str) -> dict:
    """One of the contract's example JSON messages; skips the test when the contract is absent."""
    path = EXAMPLES / name
    if not path.is_file():
        pytest.skip(f"the contract examples are not at {EXAMPLES} (../shared is not beside this checkout)")
    return json.loads(path.read_text())


def message(gen: dt.datetime, msg_id: str | None = None, sender: int = OFFICE) -> MessageRef:
    return MessageRef(msg_id=msg_id or f"msg-{next(_ids):06d}", gen_date=gen, sender_her_id=sender)


def status(
    gen: dt.datetime,
    *,
    on: Iterable[Process] = (),
    off: Iterable[Process] = (),
    complete: bool = False,
    hpr: str = ASTRID,
    msg_id: str | None = None,
    office: int = OFFICE,
    source: Source = Source.EPJ,
) -> ReportServiceStatus:
    """A Tjenestestatus report (R1)."""
    statuses = dict.fromkeys(on, True) | dict.fromkeys(off, False)
    return ReportServiceStatus(
        message=message(gen, msg_id, office),
        office_her_id=office,
        practitioner_hpr=hpr,
        source=source,
        complete=complete,
        statuses=statuses,
    )


def gp(hpr: str = ASTRID, given: str = "Astrid", family: str = "Info") -> Practitioner:
    return Practitioner(hpr=hpr, given_name=given, family_name=family, role=Role.FASTLEGE)


#: Listed at the office, but not a GP (kodeverk 9034 code 99, as in behandleroversikt.xml).
MIDWIFE = Practitioner(hpr=ARNA, given_name="Arna", family_name="Berg", role="99")


def vikar(
    hpr: str = INGAR,
    *,
    covers: str = ASTRID,
    start: dt.date,
    end: dt.date | None,
    given: str = "Ingar",
    family: str = "Vik",
) -> Practitioner:
    return Practitioner(
        hpr=hpr,
        given_name=given,
        family_name=family,
        role=Role.VIKAR_FOR_FASTLEGE,
        covers=SubstituteFor(gp_hpr=covers, from_date=start, to_date=end),
    )


def roster(
    gen: dt.datetime, *practitioners: Practitioner, msg_id: str | None = None, office: int = OFFICE
) -> ReplaceRoster:
    return ReplaceRoster(message=message(gen, msg_id, office), office_her_id=office, practitioners=practitioners)


def absence(
    absence_id: str,
    start: str | dt.date,
    end: str | dt.date,
    services: Iterable[Service] = ALL,
    *,
    hpr: str = ASTRID,
    by: str | None = None,
    at: dt.datetime | None = None,
    office: int = OFFICE,
) -> RegisterAbsence:
    return RegisterAbsence(
        absence_id=absence_id,
        office_her_id=office,
        practitioner_hpr=hpr,
        from_date=d(start) if isinstance(start, str) else start,
        to_date=d(end) if isinstance(end, str) else end,
        services=frozenset(services),
        registered_by_hpr=by or hpr,
        registered_at=at or oslo(2023, 12, 1),
    )


def delete(absence_id: str, *, by: str = ASTRID, at: dt.datetime | None = None, office: int = OFFICE) -> DeleteAbsence:
    return DeleteAbsence(
        absence_id=absence_id, office_her_id=office, deleted_by_hpr=by, deleted_at=at or oslo(2023, 12, 1)
    )


def note(
    conversation: str,
    code: str | None = "13",
    *,
    system: str | None = TEMA_CODE_SYSTEM,
    gen: dt.datetime,
    hpr: str | None = ASTRID,
    service: Service = Service.E_KONSULTASJON,
    msg_id: str | None = None,
    office: int = OFFICE,
) -> DialogueNote:
    return DialogueNote(
        message=message(gen, msg_id, office),
        office_her_id=office,
        practitioner_hpr=hpr,
        service=service,
        conversation_ref=conversation,
        code=code,
        code_system=system,
    )


class World:
    """Offices, pairs and the portal's event stream, driven through the engine's entry points."""

    def __init__(self, *practitioners: Practitioner, now: dt.datetime, office: int = OFFICE) -> None:
        listed = practitioners or (gp(), MIDWIFE)
        self.offices: dict[int, OfficeState] = {office: OfficeState(her_id=office, roster={p.hpr: p for p in listed})}
        self.pairs: dict[tuple[int, str], PairState] = {}
        self.closed: set[tuple[int, str]] = set()
        self.events: list[Event] = []
        self.now = now

    def tick(self, now: dt.datetime) -> list[Event]:
        """The clock passes `now`: every pair publishes what is due (R11)."""
        assert now >= self.now, "the world's clock never runs backwards"
        self.now = now
        start = len(self.events)
        for key in sorted(self.pairs):
            self.pairs[key], events = engine.tick(self.pairs[key], now)
            self.events.extend(events)
        return self.events[start:]

    def send(self, command, at: dt.datetime | None = None) -> engine.Outcome:
        """Process one command at `at` (default: the current clock), after the clock has caught up."""
        self.tick(at or self.now)
        office = self.office(command.office_her_id)
        if isinstance(command, DialogueNote):
            closed = (office.her_id, command.conversation_ref) in self.closed
            outcome = engine.note_dialogue(office, command, closed, self.now)
        else:
            loaded = {
                hpr: self.pairs[(office.her_id, hpr)]
                for hpr in engine.pairs_needed(office, command)
                if (office.her_id, hpr) in self.pairs
            }
            outcome = engine.apply(office, loaded, command, self.now)
        if outcome.office is not None:
            self.offices[office.her_id] = outcome.office
        for pair in outcome.pairs:
            self.pairs[pair.key] = pair
        self.closed.update((office.her_id, ref) for ref in outcome.closed_conversations)
        self.events.extend(outcome.events)
        return outcome

    def add_office(self, her_id: int, *practitioners: Practitioner) -> None:
        """Another office, seeded with its directory (R13: "the directory the adapter was started with")."""
        self.offices[her_id] = OfficeState(her_id=her_id, roster={p.hpr: p for p in practitioners})

    def office(self, her_id: int = OFFICE) -> OfficeState:
        return self.offices.setdefault(her_id, OfficeState(her_id=her_id))

    def pair(self, hpr: str = ASTRID, office: int = OFFICE) -> PairState:
        return self.pairs[(office, hpr)]

    def availability(self, hpr: str = ASTRID, office: int = OFFICE) -> Availability:
        """What the portal was last told about this pair."""
        return self.pair(hpr, office).published

    def status(self, service: Service, hpr: str = ASTRID, office: int = OFFICE) -> Status:
        return self.availability(hpr, office).services.of(service).status

    def statuses(self, hpr: str = ASTRID, office: int = OFFICE) -> dict[Service, Status]:
        return {s: self.status(s, hpr, office) for s in Service}

    def reopens_on(self, service: Service, hpr: str = ASTRID) -> dt.date | None:
        return self.availability(hpr).services.of(service).reopens_on

    def changes(self, hpr: str | None = None) -> list[AvailabilityChanged]:
        return [e for e in self.events if isinstance(e, AvailabilityChanged) and hpr in (None, e.practitioner_hpr)]

    def warnings(self, code: str | None = None) -> list[AvailabilityWarning]:
        return [e for e in self.events if isinstance(e, AvailabilityWarning) and code in (None, e.code)]

    def closings(self) -> list[DialogueClosed]:
        return [e for e in self.events if isinstance(e, DialogueClosed)]


def only_changes(events: Iterable[Event]) -> list[AvailabilityChanged]:
    return [e for e in events if isinstance(e, AvailabilityChanged)]


def statuses_of(event: AvailabilityChanged) -> dict[Service, Status]:
    return {s: event.services.of(s).status for s in Service}


def switched_on(world: World, at: dt.datetime, *processes: Process, gen: dt.datetime | None = None) -> None:
    """EPJ reports `processes` on (partial report), processed at `at`."""
    outcome = world.send(status(gen or at, on=processes), at=at)
    assert outcome.accepted, outcome.rejection


def offering(*processes: Process, now: dt.datetime = NOW) -> World:
    """Astrid (and the midwife) at the office; Astrid has `processes` on (default: all four services)."""
    world = World(now=now)
    switched_on(world, now, *(processes or ALL_FOUR_ON))
    return world
