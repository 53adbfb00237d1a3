"""SQLite is the embedded store of one process: a second opener is refused with a clear message
(a lock file beside the database), and the refusal ends with the holder, however it ends."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapter.store import StoreContention, StoreInUse, open_store
from adapter.store.sqlite import LOCK_SUFFIX

OPEN_AND_REPORT = """
import asyncio, sys
from adapter.store import StoreContention, StoreInUse, open_store

async def main():
    try:
        store = await open_store(sys.argv[1])
    except StoreInUse as refused:
        print("REFUSED", refused)
        return 3
    print("OPENED", flush=True)
    if len(sys.argv) > 2:
        await asyncio.sleep(3600)  # hold it until killed
    await store.close()
    return 0

sys.exit(asyncio.run(main()))
"""


def other_process(url: str, *hold: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", OPEN_AND_REPORT, url, *hold], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


async def test_a_second_process_is_refused_while_the_first_holds_the_store(tmp_path: Path) -> None:
    path = tmp_path / "one.sqlite3"
    url = f"sqlite:///{path}"
    store = await open_store(url)
    try:
        async with store.transaction() as tx:
            await tx.put_meta("k", "v")
        other = other_process(url)
        out, err = other.communicate(timeout=60)
        assert other.returncode == 3, err
        assert out.startswith("REFUSED")
        assert str(path) in out and "another process" in out and "PostgreSQL" in out
        assert (tmp_path / f"one.sqlite3{LOCK_SUFFIX}").exists()
        async with store.transaction() as tx:  # the refusal changed nothing for the holder
            assert await tx.get_meta("k") == "v"
    finally:
        await store.close()
    other = other_process(url)
    out, err = other.communicate(timeout=60)
    assert (other.returncode, out.strip()) == (0, "OPENED"), err


async def test_a_second_store_in_the_same_process_is_refused_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.sqlite3'}"
    store = await open_store(url)
    with pytest.raises(StoreInUse, match="in use by another process"):
        await open_store(url)
    await store.close()
    again = await open_store(url)
    await again.close()


async def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.sqlite3'}"
    holder = other_process(url, "hold")
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "OPENED"
        with pytest.raises(StoreInUse):
            await open_store(url)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=60)
    deadline = time.monotonic() + 10
    while True:  # the kernel releases the lock with the process's files
        try:
            store = await open_store(url)
            break
        except StoreInUse:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)
    await store.close()


async def test_in_memory_stores_are_private_and_need_no_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first, second = await open_store("sqlite:///:memory:"), await open_store("sqlite:///:memory:")
    await first.close()
    await second.close()
    assert list(tmp_path.iterdir()) == []


async def test_a_write_lock_held_by_a_tool_beside_the_adapter_is_contention(tmp_path: Path) -> None:
    path = tmp_path / "one.sqlite3"
    store = await open_store(f"sqlite:///{path}")
    store._db.connection.execute("PRAGMA busy_timeout = 50")  # type: ignore[attr-defined]
    tool = sqlite3.connect(path, isolation_level=None)
    try:
        tool.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreContention, match="locked"):
            async with store.transaction() as tx:
                await tx.put_meta("k", "v")
        tool.execute("ROLLBACK")
        async with store.transaction() as tx:  # and the store carries on once it is let go
            await tx.put_meta("k", "v")
    finally:
        tool.close()
        await store.close()
