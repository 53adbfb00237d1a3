"""Oslo calendar arithmetic (DOMAIN.md, "Time").

A date covers the local instants from its midnight up to the next midnight, which is 23 or 25
hours away on the days daylight saving time starts or ends; so days are never added to instants,
only to dates, and instants are derived from dates through `midnight`.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")

ONE_DAY = dt.timedelta(days=1)


def midnight(day: dt.date) -> dt.datetime:
    """The instant a date begins in Oslo (always exists: DST shifts happen at 02:00/03:00)."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=OSLO)


def local_date(instant: dt.datetime) -> dt.date:
    """The Oslo calendar date an instant falls on."""
    return instant.astimezone(OSLO).date()


def in_oslo(instant: dt.datetime) -> dt.datetime:
    """The same instant, shown with Oslo's offset (how events print their times)."""
    return instant.astimezone(OSLO)


#: Norwegian month names, for dates written out the way Helsenorge writes them.
MONTHS = (
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
)


def norwegian_date(value: dt.date | str) -> str:
    """2024-01-02 → "2. januar 2024" (no leading zero, Norwegian month name)."""
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.day}. {MONTHS[day.month - 1]} {day.year}"


def norwegian_instant(instant: dt.datetime) -> str:
    """An instant as Oslo wall-clock time, the Norwegian way: "20.12.2023 kl. 09.00"."""
    return f"{in_oslo(instant):%d.%m.%Y kl. %H.%M}"
