"""The read API against the real store (SQLite file, PostgreSQL schema), written through the service
layer from the webinar's scenario and read back at several instants — including instants whose
time-driven change the clock has not published yet (answers are true now, R11)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from adapter.api.app import create_app, entry, stored_entry
from adapter.api.reads import Reader, open_reader
from adapter.api.server import ApiServer
from adapter.domain.engine import next_change
from adapter.domain.state import PairState
from adapter.store import open_store
from adapter.store.base import Store

from .support import expected_at, replayed_events, scenario, write_steps

OSLO = dt.timezone(dt.timedelta(hours=1))
OFFICE, GP = 8141333, "9144900"
#: The behandleroversikt's practitioners: the GP, her substitute (vikar), a second practitioner.
ROSTER = ("5522113", "7310428", "9144900")
LAST_STEP = dt.datetime(2023, 12, 20, 15, 5, tzinfo=OSLO)  # the absence is registered; nothing after
#: Read after the last message, before and after the absence's midnights (none of them ticked).
INSTANTS = [
    LAST_STEP,
    dt.datetime(2023, 12, 21, 23, 59, 59, tzinfo=OSLO),
    dt.datetime(2023, 12, 22, 0, 0, tzinfo=OSLO),  # the absence began at midnight
    dt.datetime(2023, 12, 27, 12, 0, tzinfo=OSLO),
    dt.datetime(2024, 1, 2, 0, 0, tzinfo=OSLO),  # it ended: R10 takes the switched-off services away
    dt.datetime(2024, 3, 1, 9, 0, tzinfo=OSLO),
]


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return replayed_events()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def reader(store: Store, store_url: str) -> AsyncIterator[Reader]:
    opened = await open_reader(store_url)
    try:
        yield opened
    finally:
        await opened.close()


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.at = now

    def __call__(self) -> dt.datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock(LAST_STEP)


@pytest.fixture
async def client(reader: Reader, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(reader, clock)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http


async def _rows(store: Store) -> dict[tuple[int, str], str]:
    async with store.transaction() as tx:
        return {(OFFICE, hpr): await tx.get_pair(OFFICE, hpr) or "" for hpr in await tx.pairs_of_office(OFFICE)}


async def test_each_pair_is_answered_as_the_replay_says_at_every_instant_though_the_clock_never_ran(
    store: Store, client: httpx.AsyncClient, clock: Clock, events: list[dict[str, Any]]
) -> None:
    await write_steps(store, scenario(), LAST_STEP)
    before, due_before = await _rows(store), await store.next_due()
    assert list(before) == [(OFFICE, GP)]  # the others are listed, but nothing was told about them
    for instant in INSTANTS:
        clock.at = instant
        for hpr in ROSTER:
            answer = await client.get(f"/v1/offices/{OFFICE}/practitioners/{hpr}/availability")
            assert answer.status_code == 200, answer.text
            assert answer.json() == expected_at(events, OFFICE, hpr, instant), (instant, hpr)
    # The midnights were answered, not published: nothing was written.
    assert await _rows(store) == before
    assert await store.next_due() == due_before == dt.datetime(2023, 12, 22, tzinfo=OSLO)


async def test_a_due_change_carries_the_sequence_its_event_will_carry(
    store: Store, client: httpx.AsyncClient, clock: Clock, events: list[dict[str, Any]]
) -> None:
    await write_steps(store, scenario(), LAST_STEP)
    clock.at = dt.datetime(2023, 12, 22, tzinfo=OSLO)
    answer = (await client.get(f"/v1/offices/{OFFICE}/practitioners/{GP}/availability")).json()
    clock_event = next(e for e in events if e["caused_by"]["kind"] == "clock" and e["practitioner_hpr"] == GP)
    assert clock_event["effective_at"] == "2023-12-22T00:00:00+01:00"
    assert answer["sequence"] == clock_event["sequence"] == 3
    assert answer["services"]["TIMEBESTILLING"] == {
        "status": "TEMPORARILY_CLOSED",
        "reopens_on": "2024-01-02",
        "info_visible": True,
        "booking_mode": None,
    }


async def test_an_office_lists_every_practitioner_as_the_replay_says(
    store: Store, client: httpx.AsyncClient, clock: Clock, events: list[dict[str, Any]]
) -> None:
    await write_steps(store, scenario(), LAST_STEP)
    for instant in INSTANTS[2:4]:
        clock.at = instant
        answer = await client.get(f"/v1/offices/{OFFICE}/availability")
        assert answer.status_code == 200
        body = answer.json()
        assert body["office_her_id"] == OFFICE
        assert dt.datetime.fromisoformat(body["as_of"]) == instant
        assert body["practitioners"] == [expected_at(events, OFFICE, hpr, instant) for hpr in ROSTER]


async def test_everything_pages_with_a_cursor_and_ends(store: Store, client: httpx.AsyncClient, clock: Clock) -> None:
    await write_steps(store, scenario(), LAST_STEP)
    await write_steps(store, scenario("gp-at-two-offices"))  # one GP at two more offices
    clock.at = dt.datetime(2024, 8, 6, 12, tzinfo=OSLO)  # inside that GP's absence at one of them
    stored = [(8141333, GP), (8146112, "3384920"), (8146390, "3384920")]
    seen: list[dict[str, Any]] = []
    pages, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        answer = await client.get("/v1/availability", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages += 1
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 5
    assert pages == 2
    # Every stored pair once, in key order, as the per-pair answer says it at the same instant.
    assert seen == [
        (await client.get(f"/v1/offices/{office}/practitioners/{hpr}/availability")).json() for office, hpr in stored
    ]
    assert seen[1]["services"]["TIMEBESTILLING"]["status"] == "TEMPORARILY_CLOSED"
    assert seen[2]["services"]["TIMEBESTILLING"]["status"] == "AVAILABLE"
    # A page of exactly the rest ends with a cursor to an empty last page, not a lost pair.
    full = (await client.get("/v1/availability", params={"limit": 3})).json()
    assert len(full["items"]) == 3
    last = (await client.get("/v1/availability", params={"cursor": full["next_cursor"]})).json()
    assert last["items"] == [] and last["next_cursor"] is None


async def test_an_empty_store_has_an_empty_page_and_unknown_offices(client: httpx.AsyncClient) -> None:
    page = await client.get("/v1/availability")
    assert page.status_code == 200 and page.json()["items"] == [] and page.json()["next_cursor"] is None
    answer = await client.get(f"/v1/offices/{OFFICE}/availability")
    assert answer.status_code == 404


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        (f"/v1/offices/1234567/practitioners/{GP}/availability", "office 1234567 is unknown"),
        (
            f"/v1/offices/{OFFICE}/practitioners/1111111/availability",
            f"practitioner 1111111 is unknown at office {OFFICE}",
        ),
        ("/v1/offices/1234567/availability", "office 1234567 is unknown"),
    ],
)
async def test_unknown_office_or_practitioner_is_a_404_problem(
    store: Store, client: httpx.AsyncClient, path: str, detail: str
) -> None:
    await write_steps(store, scenario(), LAST_STEP)
    answer = await client.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == {"type": "about:blank", "title": "Not found", "status": 404, "detail": detail}


@pytest.mark.parametrize(
    "path",
    [
        "/v1/offices/abc/availability",
        "/v1/offices/0/availability",
        "/v1/offices/1000000000/availability",  # HER-ids have at most 9 digits
        f"/v1/offices/{OFFICE}/practitioners/12345/availability",  # HPR: 6 to 9 digits
        f"/v1/offices/{OFFICE}/practitioners/9144900x/availability",
        "/v1/availability?limit=0",
        "/v1/availability?limit=1001",
        "/v1/availability?limit=ten",
        "/v1/availability?cursor=not-a-cursor",
        "/v1/availability?cursor=8141333",
        "/v1/availability?cursor=8141333:12345",
        "/v1/availability?cursor=8141333:9144900%00",
    ],
)
async def test_bad_parameters_are_a_400_problem_naming_the_parameter(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["status"] == 400 and body["title"] == "Bad parameters"
    assert body["detail"].startswith("invalid: ") and ("path." in body["detail"] or "query." in body["detail"])


async def test_a_failure_answers_500_with_an_error_id_and_nothing_else(
    reader: Reader, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_clock() -> dt.datetime:
        raise RuntimeError("secret detail 01010112345")

    app = create_app(reader, broken_clock)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        answer = await http.get("/v1/availability")
    assert answer.status_code == 500
    body = answer.json()
    assert set(body) == {"type", "title", "status", "detail"} and body["title"] == "Internal error"
    assert "secret" not in answer.text and "01010112345" not in answer.text and "Traceback" not in answer.text
    assert any(getattr(r, "event", None) == "DDFL-API-UNEXPECTED" for r in caplog.records)


async def test_unknown_routes_are_problems_too(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v2/availability")
    assert answer.status_code == 404 and answer.headers["content-type"] == "application/problem+json"
    answer = await client.post("/v1/availability")
    assert answer.status_code == 405 and answer.headers["content-type"] == "application/problem+json"


async def test_health_and_metrics_ride_on_the_same_app(reader: Reader) -> None:
    checks = {"broker": True, "clock": True}

    async def healthy() -> dict[str, bool]:
        return dict(checks)

    app = create_app(reader, lambda: LAST_STEP, healthy=healthy)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        assert (await http.get("/health")).status_code == 200
        checks["clock"] = False
        sick = await http.get("/health")
        assert sick.status_code == 503
        assert sick.json() == {"healthy": False, "checks": {"broker": True, "clock": False}, "failing": ["clock"]}
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200 and "python_info" in metrics.text
        assert "/health" not in json.dumps((await http.get("/v1/openapi.json")).json()["paths"])


def test_the_store_in_memory_cannot_be_read_beside_the_writer() -> None:
    with pytest.raises(ValueError, match="SQLite file store"):
        asyncio.run(open_reader("sqlite:///:memory:"))


async def test_reads_run_beside_an_open_write_transaction_and_see_the_last_commit(
    store: Store, client: httpx.AsyncClient, clock: Clock
) -> None:
    await write_steps(store, scenario(), LAST_STEP)
    path = f"/v1/offices/{OFFICE}/practitioners/{GP}/availability"
    committed = (await client.get(path)).json()
    async with store.transaction() as tx:  # the writer's batch, holding its locks, not committed yet
        text = await tx.get_pair(OFFICE, GP)
        assert text is not None
        await tx.put_pair(OFFICE, GP, text.replace('"sequence":2', '"sequence":99'), None)
        during = await asyncio.wait_for(client.get(path), timeout=5)
        assert during.status_code == 200 and during.json() == committed
    assert (await client.get(path)).json()["sequence"] == 99  # committed now: the next read sees it


async def test_the_api_serves_on_a_port_beside_the_writer(store: Store, reader: Reader) -> None:
    await write_steps(store, scenario(), LAST_STEP)
    server = ApiServer(reader, lambda: INSTANTS[2], port=0, host="127.0.0.1", healthy=_store_answers(reader))
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            answer = await http.get(f"/v1/offices/{OFFICE}/practitioners/{GP}/availability")
            assert answer.status_code == 200 and answer.json()["sequence"] == 3
            assert (await http.get("/health")).json() == {"healthy": True, "checks": {"store": True}, "failing": []}
    finally:
        await server.stop()


def _store_answers(reader: Reader) -> Callable[[], Awaitable[dict[str, bool]]]:
    async def healthy() -> dict[str, bool]:
        return {"store": await reader.answers()}

    return healthy


async def test_a_port_in_use_is_an_os_error_for_the_caller_not_an_exit(reader: Reader) -> None:
    """uvicorn would log and sys.exit(1) itself; the embedding worker reports it in one line."""
    import errno
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = ApiServer(reader, lambda: LAST_STEP, port=busy.getsockname()[1], host="127.0.0.1")
        with pytest.raises(OSError) as raised:
            await server.start()
        assert raised.value.errno == errno.EADDRINUSE


async def test_an_unreadable_store_answers_503_and_health_still_answers() -> None:
    from adapter.api.reads import unreadable

    async def healthy() -> dict[str, bool]:
        return {"store": True}

    app = create_app(unreadable("an in-memory SQLite store"), lambda: LAST_STEP, healthy=healthy)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        answer = await http.get(f"/v1/offices/{OFFICE}/availability")
        assert answer.status_code == 503 and answer.headers["content-type"] == "application/problem+json"
        assert "in-memory" in answer.json()["detail"]
        assert (await http.get("/health")).status_code == 200
        document = (await http.get("/v1/openapi.json")).json()
    # the OpenAPI document says so on every /v1 route, with the problem document's schema
    routes = [
        operation for path, item in document["paths"].items() if path.startswith("/v1/") for operation in item.values()
    ]
    assert routes
    for operation in routes:
        documented = operation["responses"]["503"]
        assert "in-memory" in documented["description"]
        assert documented == operation["responses"]["404"] | {"description": documented["description"]}  # a problem
        assert "application/problem+json" in documented["content"]


@pytest.mark.postgres
async def test_a_dropped_postgresql_connection_fails_one_read_and_is_replaced(
    postgres_schema_url: str, postgres_url: str
) -> None:
    import psycopg

    store = await open_store(postgres_schema_url)
    reader = await open_reader(postgres_schema_url)
    try:
        await write_steps(store, scenario(), LAST_STEP)
        app = create_app(reader, lambda: LAST_STEP)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        path = f"/v1/offices/{OFFICE}/practitioners/{GP}/availability"
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            assert (await http.get(path)).status_code == 200
            pid = reader._connection._connection.info.backend_pid  # type: ignore[attr-defined]
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            failed = await http.get(path)
            assert failed.status_code == 500 and failed.json()["title"] == "Internal error"
            assert (await http.get(path)).status_code == 200
    finally:
        await reader.close()
        await store.close()


@pytest.mark.parametrize("name", ["recommended-solution-1", "substitute-for-july", "practitioner-leaves-office"])
async def test_the_short_read_of_a_pair_with_nothing_due_is_the_full_one(
    store: Store, reader: Reader, name: str
) -> None:
    """Only due pairs are parsed whole and ticked; the others are read without their facts."""
    await write_steps(store, scenario(name))
    rows = await reader.pairs_after(None, 1000)
    assert rows
    for row in rows:
        state = PairState.from_json(row.state)
        assert row.next_change_at == next_change(state)
        at = state.as_of or LAST_STEP
        before_due = at if row.next_change_at is None else min(at, row.next_change_at - dt.timedelta(microseconds=1))
        assert stored_entry(row, before_due) == entry(state, before_due)
