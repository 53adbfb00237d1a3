"""`ddfl-adapter run` as an operator meets it: one JSON line per log record when not on a terminal,
and a start-up failure is one clear line (what, which variable, what to do), exit status non-zero,
no traceback unless DDFL_LOG_LEVEL=DEBUG."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest

from adapter.topology import Topology
from tests.worker.conftest import AMQP_URL

ADAPTER = [sys.executable, "-m", "adapter.cli"]
#: The queue prefixes the test's adapters used: their quorum queues are deleted afterwards.
_PREFIXES: list[str] = []


@pytest.fixture(autouse=True)
def _delete_queues() -> Iterator[None]:
    yield
    prefixes, _PREFIXES[:] = list(_PREFIXES), []
    if prefixes:
        asyncio.run(_delete(prefixes))


async def _delete(prefixes: list[str]) -> None:
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=10)
    except Exception:  # nothing was declared where nothing answers
        return
    async with connection:
        for name in (queue for prefix in prefixes for queue in Topology.isolated(prefix).queues()):
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.queue_delete(name)  # not declared (the start failed before) is fine


def _env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    prefix = f"t-{uuid.uuid4().hex[:10]}"
    _PREFIXES.append(prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDFL_")}
    env.update(Topology.isolated(prefix).environment())  # every queue of its own, whatever is added
    env.update(
        DDFL_AMQP_URL=AMQP_URL,
        DDFL_STORE_URL=f"sqlite:///{tmp_path / 'store.sqlite3'}",
        DDFL_HTTP_PORT="0",
    )
    env.update(overrides)
    return env


def _fails(tmp_path: Path, **overrides: str) -> str:
    """Run the adapter expecting a start-up failure; return the one line that says what failed.

    Informational lines that came before the failure (the broker node it reached, the relay's
    leadership) may precede it; the failure itself is one line, and nothing else is a warning or
    an error."""
    done = subprocess.run(
        [*ADAPTER, "run"], env=_env(tmp_path, **overrides), capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode != 0, done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if not _informational(line)]
    assert len(lines) == 1, f"one line, not:\n{done.stderr}"
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    return lines[0]


def _informational(line: str) -> bool:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(entry, dict) and entry.get("level") in ("DEBUG", "INFO")


def _message(line: str) -> str:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return line  # a configuration error is told before logging is set up
    assert entry["event"] == "DDFL-STARTUP-FAILED" and entry["level"] == "ERROR"
    return str(entry["message"])


def test_a_setting_that_is_not_a_number_names_the_variable(tmp_path: Path) -> None:
    line = _fails(tmp_path, DDFL_PREFETCH="abc")
    assert line.startswith("ddfl-adapter run: DDFL_PREFETCH='abc':") and "integer" in line


def test_an_amqp_address_without_its_scheme_is_refused_not_read_as_a_vhost(tmp_path: Path) -> None:
    line = _fails(tmp_path, DDFL_AMQP_URL="localhost:5672")
    assert "DDFL_AMQP_URL='localhost:5672'" in line and "amqp://user:password@host:5672/vhost" in line


def test_an_unwritable_sqlite_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "store.sqlite3"
    message = _message(_fails(tmp_path, DDFL_STORE_URL=f"sqlite:///{missing}"))
    assert message.startswith("DDFL_STORE_URL:") and str(missing) in message and "writable" in message


def test_postgresql_down_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    message = _message(_fails(tmp_path, DDFL_STORE_URL=f"postgresql://postgres@127.0.0.1:{port}/x"))
    assert message.startswith(
        f"DDFL_STORE_URL: cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:{port}/x"
    )
    assert "start it" in message


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_missing_postgresql_database_is_named_under_either_scheme(
    tmp_path: Path, postgres_url: str, scheme: str
) -> None:
    """`postgres://` is libpq's other spelling: accepted, and handled exactly as `postgresql://`."""
    url = postgres_url.rsplit("/", 1)[0].replace("postgresql://", f"{scheme}://", 1) + "/ddfl_no_such_db"
    message = _message(_fails(tmp_path, DDFL_STORE_URL=url))
    assert message.startswith("DDFL_STORE_URL: PostgreSQL database 'ddfl_no_such_db' does not exist")
    assert "createdb ddfl_no_such_db" in message


@pytest.mark.broker
def test_a_missing_vhost_is_named(tmp_path: Path) -> None:
    message = _message(_fails(tmp_path, DDFL_AMQP_URL=AMQP_URL.rstrip("/") + "/ddfl-no-such-vhost"))
    assert "no virtual host 'ddfl-no-such-vhost'" in message and "rabbitmqctl add_vhost" in message
    assert "guest:guest" not in message


@pytest.mark.broker
def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        message = _message(_fails(tmp_path, DDFL_HTTP_PORT=str(port)))
    assert message.startswith(f"DDFL_HTTP_PORT: port {port} is already in use")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [*ADAPTER, "run"],
        env=_env(tmp_path, DDFL_STORE_URL=f"sqlite:///{tmp_path / 'no' / 'x.sqlite3'}", DDFL_LOG_LEVEL="DEBUG"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    failed = [json.loads(line) for line in done.stderr.splitlines() if "DDFL-STARTUP-FAILED" in line]
    assert len(failed) == 1 and "Traceback" in failed[0]["exception"]


@pytest.mark.broker
def test_every_line_is_json_and_the_start_up_line_names_broker_store_and_port_without_credentials(
    tmp_path: Path,
) -> None:
    process = subprocess.Popen(
        [*ADAPTER, "run"], env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        started = None
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while started is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "DDFL-STARTED" in line:
                started = json.loads(line)
        assert started is not None, "".join(lines)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    lines += err.splitlines(keepends=True)
    entries = [json.loads(line) for line in lines]  # every line, FastStream's included, is JSON
    assert all(e["level"] in ("WARNING", "ERROR", "CRITICAL") for e in entries if not e["logger"].startswith("ddfl"))
    assert started["broker"] == AMQP_URL.replace(":guest@", ":***@")
    assert started["store"] == f"sqlite:///{tmp_path / 'store.sqlite3'}"
    assert isinstance(started["http_port"], int) and started["http_port"] > 0
    assert "guest:guest" not in "".join(lines)
    assert any(e.get("event") == "DDFL-STOPPED" for e in entries)
    assert out == "", "nothing on stdout: FastStream's coloured lines went there"
    assert process.returncode == 0


def test_a_second_process_on_one_sqlite_store_is_one_line(tmp_path: Path) -> None:
    """Issue 9: SQLite serves one process; a second `run` on the same file is refused, not corrupting."""
    import asyncio

    from adapter.store import open_store

    path = tmp_path / "shared.sqlite3"

    async def hold_and_run() -> str:
        store = await open_store(f"sqlite:///{path}")  # the first process's store
        try:
            return await asyncio.to_thread(_fails, tmp_path, DDFL_STORE_URL=f"sqlite:///{path}")
        finally:
            await store.close()

    message = _message(asyncio.run(hold_and_run()))
    assert message.startswith("DDFL_STORE_URL:") and "shared.sqlite3" in message and "PostgreSQL" in message
