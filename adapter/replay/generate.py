"""Synthetic inbound traffic: valid KITH messages and absence commands, deterministic by seed.

`generate` writes a replayable fixture set at national scale (a behandleroversikt per office, a
Tjenestestatus per GP, absences, substitutes, and the switching-off and -on around holidays that
the webinar describes) with a `scenario.yaml` that replays it in time order. `iter_status_messages`
yields messages in memory for benchmarks. The messages themselves are written by
`adapter.messages.builders`, shared with the tests and the benchmarks.

Everything random comes from one `random.Random(seed)`, ids included, so the same arguments give
byte-identical output.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..domain.calendar import OSLO, midnight
from ..domain.model import Process, Role, Service
from ..messages.builders import (
    Office,
    Person,
    RosterEntry,
    absence_deleted,
    absence_registered,
    behandleroversikt,
    new_id,
    tjenestestatus,
)
from ..topology import HELSENORGE_HER_ID

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
