"""`ddfl-adapter api`: the read API alone against an existing store, with a /health of its own store
connection; a port in use is one line naming DDFL_API_PORT (exit 1), in the one JSON log format."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from adapter.store import open_store

API = [sys.executable, "-m", "adapter.cli", "api"]


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDFL_")}
    env.update(
        DDFL_STORE_URL=f"sqlite:///{tmp_path / 'store.sqlite3'}", DDFL_API_PORT=str(port), DDFL_API_HOST="127.0.0.1"
    )
    return env


def _store(tmp_path: Path) -> None:
    async def create() -> None:
        await (await open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")).close()

    asyncio.run(create())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_api_alone_answers_reads_and_the_health_of_its_store_connection(tmp_path: Path) -> None:
    _store(tmp_path)
    port = _free_port()
    process = subprocess.Popen(API, env=_env(tmp_path, port), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health = None
        deadline = time.monotonic() + 60
        while health is None and time.monotonic() < deadline and process.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
            except httpx.TransportError:
                time.sleep(0.1)  # polling for the server to listen (a condition with a deadline)
        assert health is not None, process.stderr.read() if process.poll() is not None else "no answer"
        assert health.status_code == 200 and health.json() == {
            "healthy": True,
            "checks": {"store": True},
            "failing": [],
        }
        page = httpx.get(f"http://127.0.0.1:{port}/v1/availability", timeout=5)
        assert page.status_code == 200 and page.json()["items"] == []
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0 and out == ""
    assert all(json.loads(line)["level"] in ("INFO", "WARNING") for line in err.splitlines()), err


def test_a_port_in_use_is_one_line_naming_ddfl_api_port(tmp_path: Path) -> None:
    _store(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(API, env=_env(tmp_path, port), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    entry = json.loads(lines[0])
    assert entry["event"] == "DDFL-STARTUP-FAILED"
    assert entry["message"].startswith(f"DDFL_API_PORT: port {port} is already in use")
