"""The published OpenAPI document is the code's, and the API keeps to it (schemathesis).

The property-based run goes through every operation of the document with generated parameters —
known ids from the document's examples and anything else the schemas allow or forbid — against a
real SQLite store holding the webinar's scenario, and checks each answer: no 5xx, a documented
status, a body and content type the document describes. Bounded to a few dozen examples per
operation so the suite stays quick.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from adapter.api import openapi
from adapter.api.app import create_app
from adapter.api.reads import open_reader
from adapter.store import open_store

from .support import scenario, write_steps

ROOT = Path(__file__).resolve().parents[2]
OSLO = dt.timezone(dt.timedelta(hours=1))


def test_the_published_document_is_what_the_code_generates() -> None:
    published = (ROOT / "schemas" / "openapi.json").read_text(encoding="utf-8")
    assert json.loads(published) == openapi.document(), "run: python -m adapter.api.openapi"
    assert published == openapi.render()


def test_the_document_promises_problems_not_validation_errors() -> None:
    document = openapi.document()
    assert set(document["paths"]) == {
        "/v1/availability",
        "/v1/offices/{office_her_id}/availability",
        "/v1/offices/{office_her_id}/practitioners",
        "/v1/offices/{office_her_id}/practitioners/{practitioner_hpr}/availability",
    }
    for path in document["paths"].values():
        responses = path["get"]["responses"]
        assert set(responses) == {"200", "400", "404", "503"}  # 503: an in-memory store inside `run`
        assert "application/problem+json" in responses["404"]["content"]
    assert "HTTPValidationError" not in document["components"]["schemas"]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'store.sqlite3'}"

    async def prepare() -> None:
        store = await open_store(url)
        try:
            await write_steps(store, scenario())
        finally:
            await store.close()

    asyncio.run(prepare())
    reader = asyncio.run(open_reader(url))
    app = create_app(reader, lambda: dt.datetime(2023, 12, 27, 12, tzinfo=OSLO))
    yield schemathesis.openapi.from_asgi("/v1/openapi.json", app)
    asyncio.run(reader.close())


def test_the_api_keeps_to_its_document(api_schema: Any) -> None:
    """Each operation in turn, as schemathesis generates its requests (its pytest loader does not run
    under this pytest, so the operations are driven here)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 4
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def keeps_to_it(case: Any) -> None:
            case.call_and_validate()

        keeps_to_it()
