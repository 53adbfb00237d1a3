"""GET /v1/offices/{office}/practitioners, the booking list ("Velg behandler"), against the real store
(SQLite file, PostgreSQL schema): true now, as the replay publishes it, though the clock never ran."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from adapter.replay.runner import run_scenario
from adapter.store.base import Store

from .support import SCENARIO, scenario, write_steps
from .test_read_api import Clock, client, clock, reader, store  # noqa: F401 (the same fixtures)

SUMMER = dt.timezone(dt.timedelta(hours=2))
OFFICE = 8141333
LAST_STEP = dt.datetime(2024, 6, 10, 8, 5, tzinfo=SUMMER)  # the roster and Astrid's services; nothing after
#: Before, at and after the substitute period's midnights (none of them ticked by a clock).
INSTANTS = [
    LAST_STEP,
    dt.datetime(2024, 6, 30, 23, 59, 59, tzinfo=SUMMER),
    dt.datetime(2024, 7, 1, 0, 0, tzinfo=SUMMER),
    dt.datetime(2024, 7, 15, 12, 0, tzinfo=SUMMER),
    dt.datetime(2024, 8, 1, 0, 0, tzinfo=SUMMER),
    dt.datetime(2024, 9, 1, 9, 0, tzinfo=SUMMER),
]


@pytest.fixture(scope="module")
def lists() -> list[dict[str, Any]]:
    """Every office.practitioners.changed of the substitute scenario's full replay (clock included)."""
    result = run_scenario(SCENARIO.with_stem("substitute-for-july"))
    assert result.ok
    return [e for e in result.events if e["type"] == "office.practitioners.changed"]


def published_at(lists: list[dict[str, Any]], instant: dt.datetime) -> dict[str, Any]:
    return [e for e in lists if dt.datetime.fromisoformat(e["effective_at"]) <= instant][-1]


async def test_the_list_is_answered_as_the_replay_publishes_it_though_the_clock_never_ran(
    store: Store,  # noqa: F811
    client: httpx.AsyncClient,  # noqa: F811
    clock: Clock,  # noqa: F811
    lists: list[dict[str, Any]],
) -> None:
    await write_steps(store, scenario("substitute-for-july"), LAST_STEP)
    due_before = await store.next_due()
    assert [[p["label"] for p in e["practitioners"]] for e in lists] == [
        ["Astrid Info fastlege"],
        ["Astrid Info fastlege", "Ingar Vik (vikar for fastlege)"],
        ["Astrid Info fastlege"],
    ]
    for instant in INSTANTS:
        clock.at = instant
        answer = await client.get(f"/v1/offices/{OFFICE}/practitioners")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        expected = published_at(lists, instant)
        assert (body["office_her_id"], dt.datetime.fromisoformat(body["as_of"])) == (OFFICE, instant)
        assert body["practitioners"] == expected["practitioners"], instant
        # The stored list is the first one: a different list now is the one the next event carries;
        # the same list as stored keeps its sequence.
        assert body["sequence"] == (2 if expected["sequence"] == 2 else 1), instant
    # Answered, not published: nothing was written and the clock's next instant is the same.
    assert await store.next_due() == due_before == dt.datetime(2024, 7, 1, tzinfo=SUMMER)


async def test_an_office_without_a_list_yet_answers_the_empty_baseline(
    store: Store,  # noqa: F811
    client: httpx.AsyncClient,  # noqa: F811
    clock: Clock,  # noqa: F811
) -> None:
    await write_steps(store, scenario("substitute-for-july"), dt.datetime(2024, 6, 10, 8, 0, tzinfo=SUMMER))
    clock.at = dt.datetime(2024, 7, 2, tzinfo=SUMMER)
    answer = await client.get(f"/v1/offices/{OFFICE}/practitioners")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["sequence"], body["practitioners"]) == (0, []), "a roster, but nobody offers Bestill time yet"


async def test_an_unknown_office_is_a_404_problem_and_a_bad_one_a_400(
    store: Store,  # noqa: F811
    client: httpx.AsyncClient,  # noqa: F811
) -> None:
    await write_steps(store, scenario("substitute-for-july"), LAST_STEP)
    answer = await client.get("/v1/offices/1234567/practitioners")
    assert answer.status_code == 404 and answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == {
        "type": "about:blank",
        "title": "Not found",
        "status": 404,
        "detail": "office 1234567 is unknown",
    }
    for bad in ("abc", "0", "1000000000"):
        answer = await client.get(f"/v1/offices/{bad}/practitioners")
        assert answer.status_code == 400 and answer.json()["detail"] == "invalid: path.office_her_id"
