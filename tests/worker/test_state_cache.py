"""The state cache holds only what was committed, and stays bounded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from adapter.domain.state import OfficeState
from adapter.service.handlers import Routing
from adapter.service.processor import Processor, Work
from adapter.service.unit_of_work import StateCache
from adapter.store import open_store

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "examples"
NOW = dt.datetime.fromisoformat("2023-12-20T16:00:00+01:00")


@pytest.fixture
def examples() -> Path:
    if not EXAMPLES.is_dir():
        pytest.skip("../shared/contract/examples is not beside this checkout")
    return EXAMPLES


async def test_committed_states_are_cached_and_served_without_the_store(examples: Path, tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    cache = StateCache()
    processor = Processor(store, Routing(), lambda: NOW, cache=cache)
    await processor.process([Work(kind="xml", body=(examples / "behandleroversikt.xml").read_bytes())])
    await processor.process([Work(kind="xml", body=(examples / "tjenestestatus-ar-komplett.xml").read_bytes())])
    assert 8141333 in cache.offices and (8141333, "9144900") in cache.pairs
    async with store.transaction() as tx:  # what the cache holds is what the store holds
        assert await tx.get_pair(8141333, "9144900") == cache.pairs[(8141333, "9144900")].to_json()
    await store.close()


async def test_a_failed_batch_leaves_the_cache_as_it_was(examples: Path, tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    cache = StateCache()
    processor = Processor(store, Routing(), lambda: NOW, cache=cache)
    await processor.process([Work(kind="xml", body=(examples / "behandleroversikt.xml").read_bytes())])
    before = dict(cache.pairs), dict(cache.offices)

    async def broken_flush(self) -> int:
        raise OSError("disk full")

    from adapter.service import unit_of_work

    original = unit_of_work.BatchUnitOfWork.flush
    unit_of_work.BatchUnitOfWork.flush = broken_flush  # type: ignore[method-assign]
    try:
        with pytest.raises(OSError):
            await processor.process([Work(kind="xml", body=(examples / "tjenestestatus-ar-komplett.xml").read_bytes())])
    finally:
        unit_of_work.BatchUnitOfWork.flush = original  # type: ignore[method-assign]
    assert (dict(cache.pairs), dict(cache.offices)) == before
    await store.close()


def test_the_cache_forgets_the_least_recently_used_beyond_its_size() -> None:
    cache = StateCache(size=2)
    cache.remember({1: OfficeState(her_id=1), 2: OfficeState(her_id=2)}, {})
    cache.remember({1: OfficeState(her_id=1)}, {})  # 1 used again
    cache.remember({3: OfficeState(her_id=3)}, {})
    assert list(cache.offices) == [1, 3]
