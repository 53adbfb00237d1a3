"""The booking list's reads (issue 12, R11): what every pair of an office shows at an instant, read
through the unit of work as cheaply as the store allows — a pair with nothing due only by its
published part — is exactly what ticking every fully decoded pair on a copy gives
(`booking.booking_list_at`, the list's definition), on a real SQLite store written from the webinar's
scenario whose midnights the clock has not ticked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from adapter.domain import booking
from adapter.domain.engine import tick
from adapter.domain.model import Status
from adapter.service.unit_of_work import BatchUnitOfWork
from adapter.store import open_store

from ..api.support import scenario, write_steps

OSLO = dt.timezone(dt.timedelta(hours=1))
OFFICE, GP = 8141333, "9144900"
LAST_STEP = dt.datetime(2023, 12, 20, 15, 5, tzinfo=OSLO)
INSTANTS = [
    LAST_STEP,
    dt.datetime(2023, 12, 22, 0, 0, tzinfo=OSLO),  # the absence began: due, not ticked
    dt.datetime(2023, 12, 27, 12, 0, tzinfo=OSLO),
    dt.datetime(2024, 1, 2, 0, 0, tzinfo=OSLO),  # it ended (R10)
]


async def test_r11_availabilities_read_for_the_booking_list_are_those_of_every_pair_ticked_on_a_copy(tmp_path: Path):
    store = await open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        await write_steps(store, scenario(), until=LAST_STEP)
        seen = []
        for at in INSTANTS:
            async with store.transaction() as tx:
                uow = BatchUnitOfWork(tx, None, at, "portal")
                office = await uow.office(OFFICE)
                roster = set(office.roster or {})
                read = await uow.availabilities_at(OFFICE, roster, at)  # rows, not decoded pairs
                pairs = await uow.pairs(OFFICE, roster)  # now decoded from the rows read
                assert read == {hpr: tick(pair, at)[0].published for hpr, pair in pairs.items()}
                assert await uow.availabilities_at(OFFICE, roster, at) == read  # the decoded path
                assert booking.booking_list(office, read) == booking.booking_list_at(office, pairs, at)
            seen.append(read[GP].services.KONTAKT_LEGEKONTORET.status)
        # the clock never ran: only reading at the instant closes the service and reopens it (R3, R10)
        assert seen == [Status.AVAILABLE, Status.TEMPORARILY_CLOSED, Status.TEMPORARILY_CLOSED, Status.AVAILABLE]
    finally:
        await store.close()
