"""The console's strip picture: each service's status day by day over the weeks around a date.

One strip per service, one cell per Oslo day, coloured by the status `evaluate` gives at that
day's midnight (availability depends on the instant only through its date, `rules` says why);
under the strips, one bar per absence and per substitute period that touches the window. Pure
geometry: the template draws it as inline SVG.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..domain.calendar import MONTHS, ONE_DAY, midnight, norwegian_date
from ..domain.explain import STATUS_TEXT
from ..domain.model import SERVICE_LABELS, Service, Status
from ..domain.rules import evaluate
from ..domain.state import PairFacts

#: Days shown before and after the chosen date: "the last and next weeks".
DAYS_BEFORE = 14
DAYS_AFTER = 14

DAY_WIDTH = 24
LABEL_WIDTH = 150
ROW_HEIGHT = 22
ROW_GAP = 4
AXIS_HEIGHT = 30
#: About the width of one legend character at the strip's 11px font, to space the entries.
LEGEND_CHAR_WIDTH = 6

COLOURS = {
    Status.AVAILABLE: "#2e7d32",
    Status.TEMPORARILY_CLOSED: "#f9a825",
    Status.NOT_OFFERED: "#bdbdbd",
}
ABSENCE_COLOUR = "#c62828"
SUBSTITUTE_COLOUR = "#1565c0"


@dataclass(frozen=True)
class Cell:
    x: int
    width: int
    colour: str
    title: str
    day: dt.date


@dataclass(frozen=True)
class Row:
    label: str
    y: int
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Tick:
    x: int
    text: str
    day: dt.date


@dataclass(frozen=True)
class Strip:
    first: dt.date
    last: dt.date
    chosen: dt.date
    width: int
    height: int
    rows: tuple[Row, ...]
    ticks: tuple[Tick, ...]
    #: The month's name where a month begins (and at the first day).
    months: tuple[Tick, ...]
    chosen_x: int
    #: (x, colour, text) of each legend entry, left to right.
    legend: tuple[tuple[int, str, str], ...]


def _x(first: dt.date, day: dt.date) -> int:
    return LABEL_WIDTH + (day - first).days * DAY_WIDTH


def _bar(first: dt.date, last: dt.date, start: dt.date, end: dt.date | None, colour: str, title: str) -> Cell:
    """A bar over the days `start`..`end` (inclusive; open-ended to the window's edge), clipped."""
    left, right = max(start, first), min(end or last, last)
    return Cell(_x(first, left), (right - left).days * DAY_WIDTH + DAY_WIDTH, colour, title, left)


def strip(facts: PairFacts, chosen: dt.date) -> Strip:
    """The picture of one pair around `chosen`, from the facts as they are known now."""
    first, last = chosen - dt.timedelta(days=DAYS_BEFORE), chosen + dt.timedelta(days=DAYS_AFTER)
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    views = {day: evaluate(facts, midnight(day)).availability.services for day in days}
    rows: list[Row] = []
    y = AXIS_HEIGHT
    for service in Service:
        cells = []
        for day in days:
            view = views[day].of(service)
            title = f"{SERVICE_LABELS[service].button} {norwegian_date(day)}: {STATUS_TEXT[view.status]}"
            if view.reopens_on is not None:
                title += f" (åpner igjen {norwegian_date(view.reopens_on)})"
            cells.append(Cell(_x(first, day), DAY_WIDTH, COLOURS[view.status], title, day))
        rows.append(Row(SERVICE_LABELS[service].button, y, tuple(cells)))
        y += ROW_HEIGHT + ROW_GAP
    for absence in sorted(facts.absences.values(), key=lambda a: (a.from_date, a.absence_id)):
        if absence.overlaps(first, last):
            services = ", ".join(SERVICE_LABELS[s].button for s in Service if s in absence.services)
            title = (
                f"Fravær {norwegian_date(absence.from_date)}–{norwegian_date(absence.to_date)} "
                f"({services}), id {absence.absence_id}"
            )
            rows.append(
                Row("Fravær", y, (_bar(first, last, absence.from_date, absence.to_date, ABSENCE_COLOUR, title),))
            )
            y += ROW_HEIGHT + ROW_GAP
    for period in facts.substitutes:
        if period.from_date <= last and (period.to_date is None or first <= period.to_date):
            until = f"–{norwegian_date(period.to_date)}" if period.to_date else " og videre"
            title = f"{period.name} (vikar for fastlege) {norwegian_date(period.from_date)}{until}"
            rows.append(
                Row("Vikar", y, (_bar(first, last, period.from_date, period.to_date, SUBSTITUTE_COLOUR, title),))
            )
            y += ROW_HEIGHT + ROW_GAP
    ticks = tuple(Tick(_x(first, day) + DAY_WIDTH // 2, str(day.day), day) for day in days)
    months = tuple(
        Tick(_x(first, day), f"{MONTHS[day.month - 1]} {day.year}", day) for day in days if day == first or day.day == 1
    )
    entries = (
        *((COLOURS[s], STATUS_TEXT[s]) for s in Status),
        (ABSENCE_COLOUR, "fravær"),
        (SUBSTITUTE_COLOUR, "vikar"),
    )
    legend: list[tuple[int, str, str]] = []
    x = 4
    for colour, text in entries:
        legend.append((x, colour, text))
        x += 16 + len(text) * LEGEND_CHAR_WIDTH + 14
    return Strip(
        first=first,
        last=last,
        chosen=chosen,
        width=_x(first, last + ONE_DAY) + 4,
        height=y,
        rows=tuple(rows),
        ticks=ticks,
        months=months,
        chosen_x=_x(first, chosen) + DAY_WIDTH // 2,
        legend=tuple(legend),
    )
