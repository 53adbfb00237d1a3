"""Fixtures that give the contract suite one fresh, empty store per backend (PostgreSQL's schema
per test comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from adapter.store import Store, open_store

BACKENDS = [
    pytest.param("sqlite-file", id="sqlite-file"),
    pytest.param("sqlite-memory", id="sqlite-memory"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store of each backend."""
    if request.param == "sqlite-file":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    if request.param == "sqlite-memory":
        return "sqlite:///:memory:"
    return request.getfixturevalue("postgres_schema_url")


OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture
async def open_fresh(store_url: str) -> AsyncIterator[OpenStore]:
    """Opens the store at store_url (again and again: a reopen after a restart); closes them all."""
    opened: list[Store] = []

    async def _open() -> Store:
        store = await open_store(store_url)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_fresh: OpenStore) -> Store:
    return await open_fresh()
