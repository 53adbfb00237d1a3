"""The booking list, "Velg behandler" (issue 12; seeds/004): whom a citizen can book with at an office.

The booking guide's step 2 lists, per office, the practitioners a citizen can choose before the
calendar of free slots: "Benedikte fastlege", "Ingar (vikar for fastlege)", "Arna (jordmor)". The
list is a function of the office's behandleroversikt and what each of its practitioners' pairs
shows, so it never says anything the availability events do not:

- **A practitioner is listed when citizens can book with them now**: their own Bestill time
  (`TIMEBESTILLING`) is `AVAILABLE` (R5). That holds for GPs (kodeverk 9034 `6`, "<name> fastlege")
  and for every other role ("<name> (<role>)", the role named as the behandleroversikt names it,
  `Practitioner.role_name`: "Arna (jordmor)"; "behandler" when it gives no name). The list leads
  into the calendar of free slots (the guide's step 3); a practitioner without Bestill time has
  none, whatever their role.
- **A GP who is temporarily closed (an absence, R3–R5) is not listed**, nor is one who does not
  offer Bestill time: "no new request can be started" (DOMAIN.md, the statuses), and the guides
  tell the GP who wants citizens to book during an absence to have a substitute instead of
  registering an absence (seeds/000: "Dersom du skal ha vikar så må du ikke registrere fravær, da
  vil tjenesten bli utilgjengelig"). The availability event already says "closed until <date>";
  the list is only whom one can book with.
- **A substitute (`15`) is listed through the GP they cover**, "<name> (vikar for fastlege)" with
  `covers_hpr`: exactly while the GP's availability carries them (R9: during the period, the
  earliest-starting one when periods overlap) and the GP's Bestill time is `AVAILABLE`. "All
  vikarkommunikasjon går gjennom behandlers kommunikasjonsprosesser" (seeds/002): the substitute
  books through the GP's own processes, so an absence that closes them closes the substitute's
  booking too (the R9 warning says so to the GP), and a GP who left (R16) takes their substitute
  off the list. A substitute's own pair (their own list elsewhere) plays no part: a substitute's
  line comes from the availability of the GP that carries them, one line per such GP.
- **A practitioner who left (R16)** is never listed: the list is built from the latest
  behandleroversikt only, and a pair that left shows nothing.
- **Order**: as the guide shows it, GPs first, then substitutes, then the other roles; within
  each, by name (then HPR, so the order is total).
- **Names** are the practitioners' names from the behandleroversikt, nothing else (never a
  patient's).

The list is published as `office.practitioners.changed` (complete list, its own per-office
`sequence`) whenever it differs from the one last published, which the office's state keeps; the
empty list with sequence 0 is the baseline the portal starts from (like a pair's NOTHING_OFFERED).
The list is built from every pair as it is at the instant it is published (`booking_list_at`), so
it is one list per instant: at a midnight where several of the office's GPs close, it may precede
some of their own `availability.changed` events (all effective at that midnight).
Because each line is derived from exactly one pair (a practitioner from their own, a substitute
from the GP's), a change of one pair can change only that pair's lines: `changes_with` tells the
writer, without loading the office's other pairs, whether the list must be rebuilt.

Pure functions: no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from .engine import published_at
from .events import Availability, BookablePractitioner, Cause, PractitionersChanged
from .model import ROLE_NAMES, Practitioner, Role, Status
from .remembered import Remembered
from .state import NOTHING_OFFERED, OfficeState, PairState, replaced, trusted

#: The booking list as published: the practitioners in the guide's order.
BookingList = tuple[BookablePractitioner, ...]

#: The role name used when the behandleroversikt gives a role code without a name.
UNNAMED_ROLE = "behandler"

#: The guide's order: GPs, then substitutes, then every other role.
_GROUP: dict[str, int] = {Role.FASTLEGE.value: 0, Role.VIKAR_FOR_FASTLEGE.value: 1}
_OTHER_ROLES = 2


def role_name(practitioner: Practitioner) -> str:
    """The role as the list words it: the domain's own name for 6 and 15, else the roster's (lower case)."""
    if practitioner.role in ROLE_NAMES:
        return ROLE_NAMES[Role(practitioner.role)]
    given = practitioner.role_name.strip()
    return given[:1].lower() + given[1:] if given else UNNAMED_ROLE


def _line(practitioner: Practitioner, name: str, covers_hpr: str | None = None) -> BookablePractitioner:
    role = role_name(practitioner)
    label = f"{name} {role}" if practitioner.role == Role.FASTLEGE else f"{name} ({role})"
    return trusted(  # strings only, made here: checked they need not be (issue 14: every item asks)
        BookablePractitioner,
        hpr=practitioner.hpr,
        name=name,
        role=practitioner.role,
        role_name=role,
        label=label,
        covers_hpr=covers_hpr,
    )


def _order(entry: BookablePractitioner) -> tuple[int, str, str, str]:
    return (_GROUP.get(entry.role, _OTHER_ROLES), entry.name.casefold(), entry.hpr, entry.covers_hpr or "")


def lines_of(office: OfficeState, hpr: str, availability: Availability) -> BookingList:
    """The lines one pair's availability puts on the office's list: the practitioner (unless a
    substitute, who is listed only through the GP), and the substitute the pair carries (R9)."""
    practitioner = (office.roster or {}).get(hpr)
    if practitioner is None or availability.services.TIMEBESTILLING.status is not Status.AVAILABLE:
        return ()
    known = _LINES.get(availability, hpr)
    if known is not None and known[0][0] is practitioner:
        return known[0][1]
    lines = []
    if practitioner.role != Role.VIKAR_FOR_FASTLEGE:
        lines.append(_line(practitioner, practitioner.name))
    if (substitute := availability.substitute) is not None:
        covering = Practitioner(hpr=substitute.hpr, role=Role.VIKAR_FOR_FASTLEGE.value)
        lines.append(_line(covering, substitute.name, covers_hpr=hpr))
    return _LINES.put(availability, hpr, (practitioner, tuple(sorted(lines, key=_order))))[1]


#: Each pair's lines, by the very availability and roster entry they come from: the list is
#: rebuilt from every pair of the office whenever one changes, and the others' availabilities and
#: the roster are the same objects from item to item and batch to batch (`service/decoded.py`).
#: Each entry keeps its availability alive: 4,096 of them cost the national replay some 10 MiB
#: of peak memory; with 1,024 a busy worker words each line again after about a thousand changes.
_LINES: Remembered[tuple[Practitioner, BookingList]] = Remembered()


def booking_list(office: OfficeState, availabilities: Mapping[str, Availability]) -> BookingList:
    """The office's booking list from its roster and what each practitioner's pair shows now
    (`availabilities` by HPR; a practitioner without an entry shows nothing yet)."""
    lines = [
        line
        for hpr in (office.roster or {})
        for line in lines_of(office, hpr, availabilities.get(hpr, NOTHING_OFFERED))
    ]
    return tuple(sorted(lines, key=_order))


def booking_list_at(office: OfficeState, pairs: Mapping[str, PairState], at: dt.datetime) -> BookingList:
    """The office's booking list at `at`, each pair as it is then: a time-driven change due by `at`
    is applied to a copy (R11), as the read API answers. So when several practitioners of an office
    change at the same midnight, the first of their clock ticks publishes the list of that instant
    and the others find it unchanged: one list per instant, not one per practitioner."""
    return booking_list(office, {hpr: published_at(pair, at) for hpr, pair in pairs.items()})


def changes_with(office: OfficeState, hpr: str, availability: Availability) -> bool:
    """Whether this pair now showing `availability` changes the list the office last published.

    Exact while the office's list was built from every pair (each line comes from one pair); an
    office stored before the list existed answers True for any bookable pair, so its list is
    rebuilt the first time one of its practitioners changes.
    """
    published = tuple(e for e in office.booking if (e.covers_hpr or e.hpr) == hpr)
    return published != lines_of(office, hpr, availability)


def publish(
    office: OfficeState, listed: BookingList, at: dt.datetime, cause: Cause
) -> tuple[OfficeState, PractitionersChanged | None]:
    """The office with `listed` as its list, and the event telling the portal, if it changed."""
    if listed == office.booking:
        return office, None
    sequence = office.booking_sequence + 1
    event = PractitionersChanged(
        event_id=f"{office.her_id}-practitioners-{sequence}",
        office_her_id=office.her_id,
        sequence=sequence,
        effective_at=at,
        practitioners=list(listed),
        caused_by=cause,
    )
    return replaced(office, {"booking": listed, "booking_sequence": sequence}), event


def sequence_now(office: OfficeState, listed: BookingList) -> int:
    """The sequence of the event that carries `listed`: the last one, or the next when it differs."""
    return office.booking_sequence if listed == office.booking else office.booking_sequence + 1
