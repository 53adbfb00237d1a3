"""Synthetic inbound traffic: valid KITH messages and absence commands, deterministic by seed.

`generate` writes a replayable fixture set at national scale (a behandleroversikt per office, a
Tjenestestatus per GP, absences, substitutes, and the switching-off and -on around holidays that
the webinar describes) with a `scenario.yaml` that replays it in time order. `iter_status_messages`
yields messages in memory for benchmarks. The builders (`tjenestestatus`, `behandleroversikt`,
`dialogmelding`, `absence_registered`, `absence_deleted`) are what the hand-written fixtures in
`fixtures/` were made with; they copy the structure of the contract's examples.

Everything random comes from one `random.Random(seed)`, ids included, so the same arguments give
byte-identical output.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import escape, quoteattr

from ..domain.calendar import OSLO, midnight
from ..domain.model import Process, Role, Service
from ..messages.envelope import HELSENORGE_HER_ID, MIG_VERSION

#: Norsk helsenett SF, Helsenorge.no's parent organisation in AR.
NHN_HER_ID = 115851

_TYPES = {
    "DIALOG_INNBYGGER_TJENESTESTATUS": "Dialog med innbygger - tjenestestatus",
    "DIALOG_INNBYGGER_BEHANDLEROVERSIKT": "Benyttes til prosess for å hente behandler",
    "DIALOG_INNBYGGER_EKONSULTASJON": "Dialog med innbygger - eKonsultasjon",
    "DIALOG_INNBYGGER_EKONTAKT": "Dialog med innbygger - eKontakt",
}
_ROLE_NAMES = {"6": "Fastlege", "15": "Vikar for fastlege", "99": "Jordmor"}
_SOURCE_NAMES = {"EPJ": "Journalsystem", "AR": "Adresseregisteret"}


# ---------------------------------------------------------------------------------------------
# The cast
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Office:
    her_id: int
    name: str


@dataclass(frozen=True)
class Person:
    hpr: str
    given_name: str
    family_name: str
    #: a practitioner's personal HER-id, if they have one
    her_id: int | None = None

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True)
class RosterEntry:
    """One Behandler of a behandleroversikt; `covers` = (GP's HPR, from, to) for a substitute."""

    person: Person
    role: str = Role.FASTLEGE.value
    covers: tuple[str, dt.date, dt.date | None] | None = None


@dataclass(frozen=True)
class Patient:
    given_name: str
    family_name: str
    fnr: str


def new_id(rng: random.Random) -> str:
    """A UUID (version 4 layout) drawn from `rng`: unique in practice, and reproducible."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def instant_text(instant: dt.datetime) -> str:
    """An xs:dateTime as KITH messages write it: Oslo time with its offset."""
    local = instant.astimezone(OSLO)
    return local.isoformat(timespec="milliseconds" if local.microsecond else "seconds")


# ---------------------------------------------------------------------------------------------
# Message builders
# ---------------------------------------------------------------------------------------------


def _ident(value: object, type_id: str, name: str, system: str, indent: int) -> str:
    """An `Ident` element on its own lines, `indent` spaces in (the first line's are the caller's)."""
    pad = " " * indent
    return f'<Ident>\n{pad}  <Id>{value}</Id>\n{pad}  <TypeId V="{type_id}" DN="{name}" S="{system}"/>\n{pad}</Ident>'


def _her(value: int, indent: int) -> str:
    return _ident(value, "HER", "HER-id", "2.16.578.1.12.4.1.1.9051", indent)


def _sender(office: Office, professional: Person | None, role: str) -> str:
    inner = ""
    if professional is not None:
        inner = (
            "\n        <HealthcareProfessional>\n"
            f'          <RoleToPatient V="{role}" DN="{_ROLE_NAMES.get(role, role)}" S="2.16.578.1.12.4.1.1.9034"/>\n'
            f"          <FamilyName>{escape(professional.family_name)}</FamilyName>\n"
            f"          <GivenName>{escape(professional.given_name)}</GivenName>\n"
            f"          {_ident(professional.hpr, 'HPR', 'HPR-nummer', '2.16.578.1.12.4.1.1.8116', 10)}\n"
            "        </HealthcareProfessional>"
        )
    return (
        "    <Sender>\n"
        "      <Organisation>\n"
        f"        <OrganisationName>{escape(office.name)}</OrganisationName>\n"
        f"        {_her(office.her_id, 8)}{inner}\n"
        "      </Organisation>\n"
        "    </Sender>\n"
    )


def _receiver(via_nhn: bool) -> str:
    if via_nhn:  # Helsenorge.no as a department of Norsk helsenett, as EPJ systems often address it
        return (
            "    <Receiver>\n"
            "      <Organisation>\n"
            "        <OrganisationName>Norsk helsenett SF</OrganisationName>\n"
            f"        {_her(NHN_HER_ID, 8)}\n"
            "        <Organisation>\n"
            "          <OrganisationName>Helsenorge.no</OrganisationName>\n"
            f"          {_her(HELSENORGE_HER_ID, 10)}\n"
            "        </Organisation>\n"
            "      </Organisation>\n"
            "    </Receiver>\n"
        )
    return (
        "    <Receiver>\n"
        "      <Organisation>\n"
        "        <OrganisationName>Helsenorge.no</OrganisationName>\n"
        f"        {_her(HELSENORGE_HER_ID, 8)}\n"
        "      </Organisation>\n"
        "    </Receiver>\n"
    )


def msghead(
    *,
    msg_type: str,
    gen_date: dt.datetime,
    msg_id: str,
    office: Office,
    payload: str,
    professional: Person | None = None,
    role: str = Role.FASTLEGE.value,
    ack: bool = True,
    conversation: tuple[str, str] | None = None,
    patient: Patient | None = None,
    via_nhn: bool = False,
    comment: str | None = None,
) -> bytes:
    """A MsgHead 1.2 message to Helsenorge.no carrying `payload` (one element, as XML text).

    `conversation` is (RefToParent, RefToConversation). `comment` is put before the root element.
    """
    conversation_ref = ""
    if conversation is not None:
        conversation_ref = (
            "    <ConversationRef>\n"
            f"      <RefToParent>{escape(conversation[0])}</RefToParent>\n"
            f"      <RefToConversation>{escape(conversation[1])}</RefToConversation>\n"
            "    </ConversationRef>\n"
        )
    patient_xml = ""
    if patient is not None:
        patient_xml = (
            "    <Patient>\n"
            f"      <FamilyName>{escape(patient.family_name)}</FamilyName>\n"
            f"      <GivenName>{escape(patient.given_name)}</GivenName>\n"
            f"      {_ident(patient.fnr, 'FNR', 'Fødselsnummer', '2.16.578.1.12.4.1.1.8116', 6)}\n"
            "    </Patient>\n"
        )
    note = f"<!-- {comment.strip()} -->\n" if comment else ""
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"{note}"
        '<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24">\n'
        "  <MsgInfo>\n"
        f'    <Type V="{msg_type}" DN={quoteattr(_TYPES[msg_type])}/>\n'
        f"    <MIGversion>{MIG_VERSION}</MIGversion>\n"
        f"    <GenDate>{instant_text(gen_date)}</GenDate>\n"
        f"    <MsgId>{escape(msg_id)}</MsgId>\n"
        + ('    <Ack V="J" DN="Ja"/>\n' if ack else '    <Ack V="N" DN="Nei"/>\n')
        + conversation_ref
        + _sender(office, professional, role)
        + _receiver(via_nhn)
        + patient_xml
        + "  </MsgInfo>\n"
        "  <Document>\n"
        "    <RefDoc>\n"
        '      <MsgType V="XML" DN="XML-instans"/>\n'
        "      <Content>\n"
        f"{payload}"
        "      </Content>\n"
        "    </RefDoc>\n"
        "  </Document>\n"
        "</MsgHead>\n"
    )
    return text.encode("utf-8")


def tjenestestatus(
    *,
    office: Office,
    gp: Person,
    gen_date: dt.datetime,
    msg_id: str,
    statuses: Mapping[Process, bool],
    complete: bool,
    source: Literal["EPJ", "AR"] = "EPJ",
    ack: bool = True,
    via_nhn: bool = False,
    comment: str | None = None,
) -> bytes:
    """DIALOG_INNBYGGER_TJENESTESTATUS: `gp` at `office` switches processes on (True) or off."""
    processes = "".join(
        f'          <Prosess navn="{process.value}" status="{"PÅ" if statuses[process] else "AV"}"/>\n'
        for process in Process
        if process in statuses
    )
    payload = (
        '        <Tjenestestatus xmlns="urn:no:ddfl-adapter:tjenestestatus:1">\n'
        f'          <Kilde V="{source}" DN="{_SOURCE_NAMES[source]}"/>\n'
        f"          <Komplett>{'true' if complete else 'false'}</Komplett>\n"
        f"{processes}"
        "        </Tjenestestatus>\n"
    )
    return msghead(
        msg_type="DIALOG_INNBYGGER_TJENESTESTATUS",
        gen_date=gen_date,
        msg_id=msg_id,
        office=office,
        payload=payload,
        professional=gp,
        ack=ack,
        via_nhn=via_nhn,
        comment=comment,
    )


def behandleroversikt(
    *,
    office: Office,
    entries: Sequence[RosterEntry],
    gen_date: dt.datetime,
    msg_id: str,
    ack: bool = True,
    comment: str | None = None,
) -> bytes:
    """DIALOG_INNBYGGER_BEHANDLEROVERSIKT: the office's complete list of practitioners."""
    rows = []
    for entry in entries:
        person = entry.person
        her = f"            <HER>{person.her_id}</HER>\n" if person.her_id is not None else ""
        cover = ""
        if entry.covers is not None:
            gp_hpr, start, end = entry.covers
            until = f"              <TilDato>{end.isoformat()}</TilDato>\n" if end is not None else ""
            cover = (
                "            <VikarFor>\n"
                f"              <HPR>{gp_hpr}</HPR>\n"
                f"              <FraDato>{start.isoformat()}</FraDato>\n"
                f"{until}"
                "            </VikarFor>\n"
            )
        rows.append(
            "          <Behandler>\n"
            f"            <HPR>{person.hpr}</HPR>\n"
            f"{her}"
            f"            <Fornavn>{escape(person.given_name)}</Fornavn>\n"
            f"            <Etternavn>{escape(person.family_name)}</Etternavn>\n"
            f'            <Rolle V="{entry.role}" DN="{_ROLE_NAMES.get(entry.role, entry.role)}" '
            'S="2.16.578.1.12.4.1.1.9034"/>\n'
            f"{cover}"
            "          </Behandler>\n"
        )
    payload = (
        '        <Behandleroversikt xmlns="urn:no:ddfl-adapter:behandleroversikt:1">\n'
        + "".join(rows)
        + "        </Behandleroversikt>\n"
    )
    return msghead(
        msg_type="DIALOG_INNBYGGER_BEHANDLEROVERSIKT",
        gen_date=gen_date,
        msg_id=msg_id,
        office=office,
        payload=payload,
        ack=ack,
        comment=comment,
    )


def dialogmelding(
    *,
    office: Office,
    gp: Person,
    gen_date: dt.datetime,
    msg_id: str,
    conversation: tuple[str, str],
    patient: Patient,
    code: str,
    code_name: str,
    text: str,
    service: Service = Service.E_KONSULTASJON,
    ack: bool = True,
    comment: str | None = None,
) -> bytes:
    """A Dialogmelding 1.1 note from `gp` in a citizen conversation; code 13 or 27 closes it (R7)."""
    msg_type = "DIALOG_INNBYGGER_EKONSULTASJON" if service is Service.E_KONSULTASJON else "DIALOG_INNBYGGER_EKONTAKT"
    payload = (
        '        <Dialogmelding xmlns="http://www.kith.no/xmlstds/dialog/2013-01-23">\n'
        "          <Notat>\n"
        f'            <TemaKodet V="{code}" DN={quoteattr(code_name)} S="2.16.578.1.12.4.1.1.7602"/>\n'
        f"            <TekstNotatInnhold>{escape(text)}</TekstNotatInnhold>\n"
        "          </Notat>\n"
        "        </Dialogmelding>\n"
    )
    return msghead(
        msg_type=msg_type,
        gen_date=gen_date,
        msg_id=msg_id,
        office=office,
        payload=payload,
        professional=gp,
        ack=ack,
        conversation=conversation,
        patient=patient,
        comment=comment,
    )


def absence_registered(
    *,
    absence_id: str,
    office_her_id: int,
    practitioner_hpr: str,
    from_date: dt.date,
    to_date: dt.date,
    services: Sequence[Service],
    registered_at: dt.datetime,
    registered_by_hpr: str | None = None,
) -> dict[str, Any]:
    """The JSON object Tilpass Helsenorge sends when a GP registers an absence."""
    return {
        "type": "absence.registered",
        "absence_id": absence_id,
        "office_her_id": office_her_id,
        "practitioner_hpr": practitioner_hpr,
        "from": from_date.isoformat(),
        "to": to_date.isoformat(),
        "services": [s.value for s in Service if s in services],
        "registered_by_hpr": registered_by_hpr or practitioner_hpr,
        "registered_at": instant_text(registered_at),
    }


def absence_deleted(
    *, absence_id: str, office_her_id: int, deleted_by_hpr: str, deleted_at: dt.datetime
) -> dict[str, Any]:
    """The JSON object Tilpass Helsenorge sends when an absence is deleted."""
    return {
        "type": "absence.deleted",
        "absence_id": absence_id,
        "office_her_id": office_her_id,
        "deleted_by_hpr": deleted_by_hpr,
        "deleted_at": instant_text(deleted_at),
    }


# ---------------------------------------------------------------------------------------------
# A synthetic country
# ---------------------------------------------------------------------------------------------

GIVEN_NAMES = (
    "Astrid",
    "Ingrid",
    "Kari",
    "Marit",
    "Sigrid",
    "Anne",
    "Ingeborg",
    "Hanne",
    "Nina",
    "Silje",
    "Ida",
    "Thea",
    "Ragnhild",
    "Solveig",
    "Liv",
    "Tone",
    "Berit",
    "Hilde",
    "Camilla",
    "Maren",
    "Åse",
    "Guro",
    "Lars",
    "Ola",
    "Per",
    "Eirik",
    "Håkon",
    "Knut",
    "Jon",
    "Magnus",
    "Sindre",
    "Anders",
    "Bjørn",
    "Geir",
    "Trond",
    "Arne",
    "Mathias",
    "Kristian",
    "Jakob",
    "Sverre",
    "Tor",
    "Øystein",
    "Gunnar",
    "Halvor",
    "Vegard",
    "Torbjørn",
)
FAMILY_NAMES = (
    "Hansen",
    "Johansen",
    "Olsen",
    "Larsen",
    "Andersen",
    "Pedersen",
    "Nilsen",
    "Kristiansen",
    "Jensen",
    "Karlsen",
    "Johnsen",
    "Pettersen",
    "Eriksen",
    "Berg",
    "Haugen",
    "Hagen",
    "Dahl",
    "Halvorsen",
    "Henriksen",
    "Lund",
    "Strand",
    "Solberg",
    "Bakken",
    "Lie",
    "Moen",
    "Nygård",
    "Aas",
    "Vik",
    "Ødegård",
    "Berntsen",
    "Sæther",
    "Haug",
    "Bråten",
    "Lunde",
    "Fossum",
    "Myhre",
    "Tangen",
    "Eide",
    "Rønning",
    "Aune",
)
PLACES = (
    "Lysaker",
    "Sagene",
    "Majorstuen",
    "Grünerløkka",
    "Tøyen",
    "Bekkestua",
    "Sandvika",
    "Asker",
    "Drammen",
    "Kongsberg",
    "Hamar",
    "Lillehammer",
    "Gjøvik",
    "Elverum",
    "Tønsberg",
    "Sandefjord",
    "Larvik",
    "Skien",
    "Porsgrunn",
    "Arendal",
    "Grimstad",
    "Kristiansand",
    "Mandal",
    "Egersund",
    "Sandnes",
    "Stavanger",
    "Haugesund",
    "Stord",
    "Voss",
    "Fana",
    "Åsane",
    "Førde",
    "Florø",
    "Ålesund",
    "Molde",
    "Kristiansund",
    "Trondheim",
    "Steinkjer",
    "Levanger",
    "Namsos",
    "Mo i Rana",
    "Bodø",
    "Narvik",
    "Harstad",
    "Tromsø",
    "Alta",
    "Hammerfest",
    "Kirkenes",
    "Vadsø",
)
OFFICE_KINDS = ("legesenter", "legekontor", "legesenter", "allmennlegekontor")

#: Shares of GPs offering each service, from the webinar of 7 December 2023 (seeds/003), among
#: the 81 % of GPs who use Helsenorge at all.
USES_HELSENORGE = 0.81
SERVICE_SHARES = {
    Service.TIMEBESTILLING: 0.88,
    Service.RESEPTFORNYELSE: 0.96,
    Service.E_KONSULTASJON: 0.77,
    Service.KONTAKT_LEGEKONTORET: 0.92,
}
#: The processes a GP switches off before a holiday (the webinar's recommended solution 1).
HOLIDAY_OFF = (Process.TIMERESERVASJON, Process.TIMEONSKE, Process.RESEPTFORNYELSE, Process.EKONSULTASJON)


@dataclass(frozen=True)
class Gp:
    person: Person
    #: the processes on before anything happens (the others are off)
    processes: frozenset[Process]


@dataclass(frozen=True)
class OfficePlan:
    office: Office
    gps: tuple[Gp, ...]
    #: substitutes with the GP each covers and the period
    substitutes: tuple[RosterEntry, ...] = ()

    def roster(self) -> list[RosterEntry]:
        return [RosterEntry(gp.person) for gp in self.gps] + list(self.substitutes)


def _processes(rng: random.Random) -> frozenset[Process]:
    if rng.random() >= USES_HELSENORGE:
        return frozenset()
    on: set[Process] = set()
    if rng.random() < SERVICE_SHARES[Service.TIMEBESTILLING]:
        calendar, request = rng.random() < 0.85, rng.random() < 0.35
        if not (calendar or request):
            calendar = True
        on |= {p for p, flag in ((Process.TIMERESERVASJON, calendar), (Process.TIMEONSKE, request)) if flag}
    for service, process in (
        (Service.RESEPTFORNYELSE, Process.RESEPTFORNYELSE),
        (Service.E_KONSULTASJON, Process.EKONSULTASJON),
        (Service.KONTAKT_LEGEKONTORET, Process.EKONTAKT),
    ):
        if rng.random() < SERVICE_SHARES[service]:
            on.add(process)
    return frozenset(on)


def _person(rng: random.Random, hpr: int, her_id: int | None) -> Person:
    return Person(str(hpr), rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES), her_id)


def _gp_count(rng: random.Random, gps_per_office: int | tuple[int, int]) -> int:
    if isinstance(gps_per_office, int):
        return gps_per_office
    low, high = gps_per_office
    return rng.randint(low, high)


def plan_offices(
    rng: random.Random,
    offices: int,
    gps_per_office: int | tuple[int, int],
    *,
    substitute_rate: float = 0.0,
    start: dt.date | None = None,
    days: int = 0,
) -> list[OfficePlan]:
    """Offices with unique HER-ids, GPs with unique 7-digit HPR-nummer, and their processes.

    With `substitute_rate`, that share of GPs gets a substitute ("vikar for fastlege") covering
    a period inside `days` from `start`, listed in the office's behandleroversikt (R9).
    """
    counts = [_gp_count(rng, gps_per_office) for _ in range(offices)]
    her_ids = rng.sample(range(1_000_000, 10_000_000), offices + sum(counts))
    if HELSENORGE_HER_ID in her_ids:  # never impersonate the receiver
        her_ids[her_ids.index(HELSENORGE_HER_ID)] = 999_999
    office_ids, personal_ids = her_ids[:offices], iter(her_ids[offices:])
    substitutes_wanted = [[rng.random() < substitute_rate for _ in range(count)] for count in counts]
    hprs = iter(rng.sample(range(1_000_000, 10_000_000), sum(counts) + sum(map(sum, substitutes_wanted))))
    plans = []
    for index, (count, wanted) in enumerate(zip(counts, substitutes_wanted, strict=True)):
        office = Office(office_ids[index], f"{rng.choice(PLACES)} {rng.choice(OFFICE_KINDS)}")
        gps = []
        for _ in range(count):
            her_id = next(personal_ids)
            gps.append(Gp(_person(rng, next(hprs), her_id if rng.random() < 0.6 else None), _processes(rng)))
        substitutes = []
        for gp, has_substitute in zip(gps, wanted, strict=True):
            if not has_substitute or start is None or days < 1:
                continue
            first = start + dt.timedelta(days=rng.randrange(days))
            last = None if rng.random() < 0.1 else first + dt.timedelta(days=rng.randint(6, 30))
            substitutes.append(
                RosterEntry(_person(rng, next(hprs), None), Role.VIKAR_FOR_FASTLEGE.value, (gp.person.hpr, first, last))
            )
        plans.append(OfficePlan(office, tuple(gps), tuple(substitutes)))
    return plans


# ---------------------------------------------------------------------------------------------
# In memory, for benchmarks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedMessage:
    kind: Literal["behandleroversikt", "tjenestestatus"]
    office_her_id: int
    practitioner_hpr: str | None
    msg_id: str
    gen_date: dt.datetime
    body: bytes


def iter_status_messages(
    seed: int,
    n_offices: int,
    gps_per_office: int | tuple[int, int],
    start: dt.datetime,
    *,
    updates_per_gp: int = 1,
    spacing: dt.timedelta = dt.timedelta(seconds=1),
) -> Iterator[GeneratedMessage]:
    """Every office's behandleroversikt, then `updates_per_gp` Tjenestestatus per GP, all `Ack V="J"`.

    The first update of a GP is Adresseregisteret's complete list; later ones are EPJ switching
    one process. GenDates start at `start` and grow by `spacing`, in the order yielded, so a
    consumer whose clock is at or after the last one accepts them all (R1's 10-minute rule).
    """
    if start.utcoffset() is None:
        raise ValueError("start must carry a UTC offset")
    rng = random.Random(seed)
    plans = plan_offices(rng, n_offices, gps_per_office)
    clock = start

    def tick() -> dt.datetime:
        nonlocal clock
        at, clock = clock, clock + spacing
        return at

    for plan in plans:
        msg_id, at = new_id(rng), tick()
        body = behandleroversikt(office=plan.office, entries=plan.roster(), gen_date=at, msg_id=msg_id)
        yield GeneratedMessage("behandleroversikt", plan.office.her_id, None, msg_id, at, body)
    state = {(plan.office, gp.person): set(gp.processes) for plan in plans for gp in plan.gps}
    for update in range(updates_per_gp):
        for (office, person), on in state.items():
            msg_id, at = new_id(rng), tick()
            if update == 0:
                statuses = dict.fromkeys(sorted(on), True)
                body = tjenestestatus(
                    office=office, gp=person, gen_date=at, msg_id=msg_id, statuses=statuses, complete=True, source="AR"
                )
            else:
                process = rng.choice(list(Process))
                on ^= {process}
                body = tjenestestatus(
                    office=office,
                    gp=person,
                    gen_date=at,
                    msg_id=msg_id,
                    statuses={process: process in on},
                    complete=False,
                    via_nhn=rng.random() < 0.3,
                )
            yield GeneratedMessage("tjenestestatus", office.her_id, person.hpr, msg_id, at, body)


# ---------------------------------------------------------------------------------------------
# On disk, as a replayable scenario
# ---------------------------------------------------------------------------------------------


@dataclass(order=True)
class _Item:
    at: dt.datetime
    order: int
    kind: Literal["xml", "absence", "clock"] = field(compare=False)
    path: str | None = field(default=None, compare=False)


@dataclass
class _Writer:
    out_dir: Path
    items: list[_Item] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(
        self,
        at: dt.datetime,
        kind: Literal["xml", "absence", "clock"],
        relative: str | None = None,
        content: bytes | None = None,
    ) -> None:
        if relative is not None and content is not None:
            target = self.out_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        self.items.append(_Item(at, len(self.items), kind, relative))
        self.counts[kind] = self.counts.get(kind, 0) + 1


def _json(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _gap(count: int) -> dt.timedelta:
    """A second between messages, or less (whole milliseconds), so that `count` fit in an hour:
    every behandleroversikt comes before any Tjenestestatus, as R13 needs, however many offices."""
    return dt.timedelta(milliseconds=max(1, min(1000, 3_600_000 // max(count, 1))))


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=OSLO)


def generate(
    out_dir: Path,
    *,
    seed: int,
    offices: int,
    gps_per_office: int | tuple[int, int],
    days: int,
    absence_rate: float,
    substitute_rate: float,
    start: dt.date,
) -> Path:
    """Write a synthetic fixture set to `out_dir` and return the path of its `scenario.yaml`.

    Day 1 (`start`): every office's behandleroversikt from 07:00, then Adresseregisteret's
    complete Tjenestestatus for each GP from 08:00 (a second apart, closer when there are more
    than 3,600). Over the following days, `absence_rate` of the GPs
    register an absence some days ahead; half of those also switch services off in EPJ the
    afternoon before (recommended solution 1) and most of them switch them back on the morning
    after (the others forget: R10). One in twenty absences is deleted again. `substitute_rate` of
    the GPs have a substitute in the behandleroversikt. A clock step at every midnight lets time-
    driven changes show up day by day. Files: `messages/*.xml`, `absences/*.json`, `scenario.yaml`.
    """
    if days < 1 or offices < 1:
        raise ValueError("days and offices must be at least 1")
    rng = random.Random(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plans = plan_offices(rng, offices, gps_per_office, substitute_rate=substitute_rate, start=start, days=days)
    writer = _Writer(out_dir)
    end = start + dt.timedelta(days=days)  # the first date after the horizon
    roster_gap = _gap(len(plans))
    for n, plan in enumerate(plans):
        her = plan.office.her_id
        at = _at(start, 7) + n * roster_gap
        body = behandleroversikt(office=plan.office, entries=plan.roster(), gen_date=at, msg_id=new_id(rng))
        writer.add(at, "xml", f"messages/behandleroversikt-{her}.xml", body)
    status_gap = _gap(sum(len(plan.gps) for plan in plans))
    sequence = 0
    for plan in plans:
        office = plan.office
        for gp in plan.gps:
            at = _at(start, 8) + sequence * status_gap
            sequence += 1
            name = f"messages/tjenestestatus-{office.her_id}-{gp.person.hpr}"
            body = tjenestestatus(
                office=office,
                gp=gp.person,
                gen_date=at,
                msg_id=new_id(rng),
                statuses=dict.fromkeys(sorted(gp.processes), True),
                complete=True,
                source="AR",
            )
            writer.add(at, "xml", f"{name}-ar.xml", body)
            if days < 3 or rng.random() >= absence_rate:
                continue
            _holiday(rng, writer, office, gp, name, start, end)
    for day in range(1, days + 1):
        writer.add(midnight(start + dt.timedelta(days=day)), "clock")
    return _write_scenario(out_dir, seed, writer, start)


def _holiday(
    rng: random.Random, writer: _Writer, office: Office, gp: Gp, name: str, start: dt.date, end: dt.date
) -> None:
    """One GP's absence, and what they do in EPJ around it."""
    first = start + dt.timedelta(days=rng.randint(1, (end - start).days - 2))
    last = min(first + dt.timedelta(days=rng.randint(0, 20)), end - dt.timedelta(days=2))
    last = max(first, last)
    registered = max(
        _at(first - dt.timedelta(days=rng.randint(1, 14)), rng.randint(9, 15), rng.randrange(60)),
        _at(start, 9, rng.randrange(60)),
    )
    absence_id = new_id(rng)
    services = [s for s in Service if rng.random() < 0.9] or [Service.KONTAKT_LEGEKONTORET]
    absence = absence_registered(
        absence_id=absence_id,
        office_her_id=office.her_id,
        practitioner_hpr=gp.person.hpr,
        from_date=first,
        to_date=last,
        services=services,
        registered_at=registered,
    )
    writer.add(registered, "absence", f"absences/{absence_id}.json", _json(absence))
    if rng.random() < 0.05:
        deleted = registered + dt.timedelta(hours=rng.randint(1, 48))
        gone = absence_deleted(
            absence_id=absence_id, office_her_id=office.her_id, deleted_by_hpr=gp.person.hpr, deleted_at=deleted
        )
        writer.add(deleted, "absence", f"absences/{absence_id}-deleted.json", _json(gone))
    switched = sorted(p for p in HOLIDAY_OFF if p in gp.processes)
    off_at = _at(first - dt.timedelta(days=1), 15, rng.randrange(60))
    if not switched or rng.random() >= 0.5:
        return
    via_nhn = rng.random() < 0.3
    body = tjenestestatus(
        office=office,
        gp=gp.person,
        gen_date=off_at,
        msg_id=new_id(rng),
        statuses=dict.fromkeys(switched, False),
        complete=False,
        via_nhn=via_nhn,
    )
    writer.add(off_at, "xml", f"{name}-av.xml", body)
    if rng.random() < 0.2:
        return  # the forgotten switch (R10)
    on_at = _at(last + dt.timedelta(days=1), 8, rng.randrange(60))
    body = tjenestestatus(
        office=office,
        gp=gp.person,
        gen_date=on_at,
        msg_id=new_id(rng),
        statuses=dict.fromkeys(switched, True),
        complete=False,
        via_nhn=via_nhn,
    )
    writer.add(on_at, "xml", f"{name}-paa.xml", body)


def _write_scenario(out_dir: Path, seed: int, writer: _Writer, start: dt.date) -> Path:
    lines = [
        f"# Synthetic fixture set made by adapter.replay.generate (seed {seed}): "
        f"{writer.counts.get('xml', 0)} XML messages, {writer.counts.get('absence', 0)} absence commands.",
        f"name: synthetic, seed {seed}",
        f"start: {midnight(start).isoformat()}",
        "steps:",
    ]
    for item in sorted(writer.items):
        lines.append(f"  - at: {item.at.isoformat()}")
        if item.kind != "clock":
            lines.append(f"    {item.kind}: {item.path}")
    path = out_dir / "scenario.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
