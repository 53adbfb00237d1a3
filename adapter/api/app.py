"""The HTTP read API (FastAPI): what citizens see now, per pair, per office, or of everything, and
an office's booking list ("Velg behandler", `domain/booking.py`).

Answers are true *now*: each stored pair is brought to the clock's instant with the domain's own
`engine.tick` on the copy just read (nothing is written), so a change due at midnight is answered
as it is after midnight even before the clock scheduler has published it; its `sequence` is then
the one that event will carry (tick numbers changes exactly as the writer will).

Everything is paged with a keyset cursor rather than streamed as JSON lines: a page is one
short read (a stream would hold a SQLite read snapshot open for as long as the client reads, which
keeps the WAL from being checkpointed), a client that fails resumes from its last cursor, and the
pages are plain JSON documents the OpenAPI document describes.

Errors are RFC 9457 problem documents: 404 for an office the adapter holds no state of, or a
practitioner it holds neither state of nor lists on the office's roster; 400 for a parameter that
does not parse; 500 with a title and an error id for anything else (the error's type is logged
under that id, never sent).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import prometheus_client
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain import booking, engine
from ..domain.events import Availability
from ..domain.state import OfficeState, PairState
from ..messages.identifiers import HER_ID_PATTERN, HPR_PATTERN
from ..store.base import PairKey
from .models import AvailabilityEntry, AvailabilityPage, OfficeAvailability, OfficePractitioners, Problem
from .reads import Reader, StoredPair, StoreUnreadable

log = logging.getLogger("ddfl.api")

VERSION = "1"
PROBLEM_JSON = "application/problem+json"
DEFAULT_PAGE = 500
MAX_PAGE = 1000
#: The largest HER-id `HER_ID_PATTERN` allows (up to 9 digits).
_MAX_HER_ID = 999_999_999
_CURSOR_PATTERN = f"^{HER_ID_PATTERN.pattern}:{HPR_PATTERN.pattern}$"

OfficeId = Annotated[
    int,
    Path(
        ge=1,
        le=_MAX_HER_ID,
        description="The office's HER-id.",
        openapi_examples={"an office": {"value": 8141333}},
    ),
]
Hpr = Annotated[
    str,
    Path(
        pattern=f"^{HPR_PATTERN.pattern}$",
        description="The practitioner's HPR number.",
        openapi_examples={"a GP": {"value": "9144900"}},
    ),
]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": title, "content": {PROBLEM_JSON: {}}}
    for status, title in (
        (400, "Bad parameters"),
        (404, "Unknown office or practitioner"),
        # `StoreUnreadable`: inside `ddfl-adapter run` with an in-memory SQLite store, which no
        # second connection can read; run the adapter on a file or PostgreSQL store instead.
        (503, "Read API unavailable: the store cannot be read beside the writer (an in-memory store)"),
    )
}


#: What /health asks: each check's name and whether it holds (the worker's `Runtime.checks`).
Healthy = Callable[[], Awaitable[dict[str, bool]]]


class ApiProblem(Exception):
    """An answer that is a problem document: raised by a route, rendered by the app."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def _not_found(detail: str) -> ApiProblem:
    return ApiProblem(404, "Not found", detail)


def current(stored: StoredPair, now: dt.datetime) -> tuple[Availability, int]:
    """A stored pair's availability at `now` and the sequence of the event carrying it
    (`engine.stored_at`: only a pair with a change due is parsed whole)."""
    return engine.stored_at(stored.state, stored.next_change_at, now)


def _entry(office: int, hpr: str, availability: Availability, sequence: int) -> AvailabilityEntry:
    return AvailabilityEntry(
        office_her_id=office,
        practitioner_hpr=hpr,
        sequence=sequence,
        services=availability.services,
        panel_info_visible=availability.panel_info_visible,
        substitute=availability.substitute,
    )


def entry(pair: PairState, now: dt.datetime) -> AvailabilityEntry:
    """The pair as it is at `now`: due time-driven changes applied to a copy (R11), nothing saved."""
    current, _ = engine.tick(pair, now)
    return _entry(*current.key, current.published, current.sequence)


def stored_entry(stored: StoredPair, now: dt.datetime) -> AvailabilityEntry:
    """A stored pair at `now` (`current`)."""
    return _entry(stored.office_her_id, stored.practitioner_hpr, *current(stored, now))


def encode_cursor(key: PairKey) -> str:
    """The cursor after a pair: its key as `office:hpr`, so that every value the document's pattern
    allows is a position (keyset paging continues after it, whether or not that pair still exists)."""
    return f"{key[0]}:{key[1]}"


def decode_cursor(cursor: str) -> PairKey:
    office, hpr = cursor.split(":")
    return int(office), hpr


def _problem(status: int, title: str, detail: str | None = None) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def create_app(
    reader: Reader,
    now: Callable[[], dt.datetime],
    *,
    healthy: Healthy | None = None,
    console_token: str | None = None,
) -> FastAPI:
    """The API over `reader`, true at `now()`; with `healthy`, also /health (200 when every check
    holds, else 503 naming the failing ones) and /metrics (Prometheus); with `console_token`, also
    the support console under /console (`console.py`)."""
    app = FastAPI(
        title="ddfl-adapter read API",
        version=VERSION,
        description="What citizens see of their GP's digital services on Helsenorge, now. Each entry is the "
        "availability.changed payload of one (office, practitioner) with its sequence: keep, per pair, "
        "whichever of an event and an answer has the higher sequence.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/v1/openapi.json",
    )

    @app.exception_handler(RequestValidationError)
    async def _bad_parameters(request: Request, error: RequestValidationError) -> JSONResponse:
        where = sorted({".".join(str(part) for part in e["loc"]) for e in error.errors()})
        return _problem(400, "Bad parameters", "invalid: " + ", ".join(where))

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, error: ApiProblem) -> JSONResponse:
        return _problem(error.status, error.title, error.detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        title = "Not found" if error.status_code == 404 else "Request refused"
        return _problem(error.status_code, title)

    @app.exception_handler(StoreUnreadable)
    async def _unreadable(request: Request, error: StoreUnreadable) -> JSONResponse:
        return _problem(503, "Read API unavailable", str(error))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex[:12]
        log.error(
            "read API request failed",
            extra={"event": "DDFL-API-UNEXPECTED", "error": type(error).__name__, "error_id": error_id},
        )
        return _problem(500, "Internal error", f"error id {error_id}")

    @app.get(
        "/v1/offices/{office_her_id}/practitioners/{practitioner_hpr}/availability",
        response_model=AvailabilityEntry,
        responses=_PROBLEMS,
        summary="What citizens see of one practitioner at one office now",
    )
    async def pair_availability(office_her_id: OfficeId, practitioner_hpr: Hpr) -> AvailabilityEntry:
        state = await reader.pair_state(office_her_id, practitioner_hpr)
        if state is not None:
            return stored_entry(state, now())
        office = await _office(office_her_id)
        if practitioner_hpr not in (office.roster or {}):
            raise _not_found(f"practitioner {practitioner_hpr} is unknown at office {office_her_id}")
        return entry(engine.new_pair(office, practitioner_hpr), now())

    @app.get(
        "/v1/offices/{office_her_id}/availability",
        response_model=OfficeAvailability,
        responses=_PROBLEMS,
        summary="What citizens see of every practitioner of an office now",
    )
    async def office_availability(office_her_id: OfficeId) -> OfficeAvailability:
        rows, text = await _known_office(office_her_id)
        at = now()
        answers = {row.practitioner_hpr: stored_entry(row, at) for row in rows}
        if text is not None:  # listed, but nothing told about them yet: they offer nothing (sequence 0)
            office = OfficeState.from_json(text)
            for hpr in office.roster or {}:
                if hpr not in answers:
                    answers[hpr] = entry(engine.new_pair(office, hpr), at)
        entries = [answers[hpr] for hpr in sorted(answers)]
        return OfficeAvailability(office_her_id=office_her_id, as_of=at, practitioners=entries)

    @app.get(
        "/v1/offices/{office_her_id}/practitioners",
        response_model=OfficePractitioners,
        responses=_PROBLEMS,
        summary='The office\'s booking list ("Velg behandler") now: whom a citizen can book with',
    )
    async def office_practitioners(office_her_id: OfficeId) -> OfficePractitioners:
        rows, text = await _known_office(office_her_id)
        if text is None:
            # pairs but no office row: the roster is the writer's directory, and no list has been
            # published (publishing one saves the office): the baseline
            return OfficePractitioners(office_her_id=office_her_id, as_of=now(), sequence=0, practitioners=[])
        office = OfficeState.from_json(text)
        at = now()
        availabilities = {row.practitioner_hpr: current(row, at)[0] for row in rows}
        listed = booking.booking_list(office, availabilities)
        return OfficePractitioners(
            office_her_id=office_her_id,
            as_of=at,
            sequence=booking.sequence_now(office, listed),
            practitioners=list(listed),
        )

    async def _known_office(office_her_id: int) -> tuple[list[StoredPair], str | None]:
        """An office's stored pairs and state; 404 when the adapter holds neither."""
        rows = await reader.office_pairs(office_her_id)
        text = await reader.office_state(office_her_id)
        if not rows and text is None:
            raise _not_found(f"office {office_her_id} is unknown")
        return rows, text

    async def _office(office_her_id: int) -> OfficeState:
        text = await reader.office_state(office_her_id)
        if text is None:
            raise _not_found(f"office {office_her_id} is unknown")
        return OfficeState.from_json(text)

    @app.get(
        "/v1/availability",
        response_model=AvailabilityPage,
        responses=_PROBLEMS,
        summary="What citizens see of every pair now, a page at a time",
    )
    async def all_availability(
        cursor: Annotated[
            str | None,
            Query(
                pattern=_CURSOR_PATTERN,
                description="next_cursor of the previous page (`office:hpr`, the last pair it held); "
                "omit for the first page",
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="pairs per page")] = DEFAULT_PAGE,
    ) -> AvailabilityPage:
        after = None if cursor is None else decode_cursor(cursor)
        rows = await reader.pairs_after(after, limit)
        at = now()
        following = encode_cursor((rows[-1].office_her_id, rows[-1].practitioner_hpr)) if len(rows) == limit else None
        return AvailabilityPage(as_of=at, items=[stored_entry(row, at) for row in rows], next_cursor=following)

    if healthy is not None:
        check = healthy

        @app.get("/health", include_in_schema=False)
        async def health() -> JSONResponse:
            checks = await check()
            failing = sorted(name for name, ok in checks.items() if not ok)
            body = {"healthy": not failing, "checks": checks, "failing": failing}
            return JSONResponse(body, status_code=503 if failing else 200)

        @app.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            return Response(prometheus_client.generate_latest(), media_type=prometheus_client.CONTENT_TYPE_LATEST)

    if console_token:
        from . import console

        console.install(app, reader, now, console_token)

    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    return app


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document as published: FastAPI's, with 400 problems in place of its 422s."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in document.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        schemas = document.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = document
    return app.openapi_schema
