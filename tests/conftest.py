"""Fixtures shared by every test package.

PostgreSQL: the server on 127.0.0.1:5432 (trust auth), database `test`, as user `postgres` or
`root` (or DDFL_TEST_POSTGRES_URL). Each test gets its own schema, dropped afterwards. When the
server cannot be reached the PostgreSQL cases are skipped, except under CI (CI set), where it must
be there and the cases fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

_CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
)


def _reachable_postgres() -> tuple[str | None, str]:
    try:
        import psycopg
    except ImportError as missing:
        return None, f"psycopg is not installed ({missing})"
    explicit = os.environ.get("DDFL_TEST_POSTGRES_URL")
    errors = []
    for url in (explicit,) if explicit else _CANDIDATES:
        try:
            with psycopg.connect(url, connect_timeout=3):
                return url, ""
        except psycopg.Error as error:
            errors.append(f"{url}: {str(error).strip()}")
    return None, "PostgreSQL unreachable: " + "; ".join(errors)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url, reason = _reachable_postgres()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must provide PostgreSQL)")
        pytest.skip(reason)
    return url


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """The URL of a fresh schema of its own, dropped after the test."""
    import psycopg

    schema = f"ddfl_store_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in postgres_url else "?"
    try:
        yield f"{postgres_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
