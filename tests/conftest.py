"""Fixtures shared by every test package.

PostgreSQL: the database named by DDFL_TEST_POSTGRES_URL, by default `ddfl_test` on the server at
127.0.0.1:5432 as user `postgres` (trust auth). `.ci/run` creates it (`create_test_database`), and
so does the first test that needs it. Each test gets its own schema, dropped afterwards. When the
server cannot be reached the PostgreSQL cases are skipped, except under CI (CI set), where it must
be there and the cases fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

#: The one place the tests' PostgreSQL database is named.
TEST_POSTGRES_URL = os.environ.get("DDFL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/ddfl_test")


def create_test_database(url: str = TEST_POSTGRES_URL) -> str:
    """Create the tests' database if it is missing (idempotent); returns its name."""
    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    maintenance = urlsplit(url)._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def _reachable_postgres() -> tuple[str | None, str]:
    try:
        import psycopg
    except ImportError as missing:
        return None, f"psycopg is not installed ({missing})"
    try:
        create_test_database()
        with psycopg.connect(TEST_POSTGRES_URL, connect_timeout=3):
            return TEST_POSTGRES_URL, ""
    except psycopg.Error as error:
        return None, f"PostgreSQL unreachable: {TEST_POSTGRES_URL}: {str(error).strip()}"


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
