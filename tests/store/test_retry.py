"""retry_on_contention: runs a unit of work again on StoreContention only, a bounded number of
times, telling the caller of each retry; whatever the work returns comes back."""

from __future__ import annotations

import pytest

from adapter.store import StoreContention, retry_on_contention


async def test_contention_is_retried_until_the_work_goes_through() -> None:
    calls: list[int] = []
    told: list[StoreContention] = []

    async def work() -> str:
        calls.append(len(calls))
        if len(calls) < 3:
            raise StoreContention("deadlock (40P01)")
        return "done"

    assert await retry_on_contention(work, first_pause=0.001, on_retry=told.append) == "done"
    assert len(calls) == 3 and [str(e) for e in told] == ["deadlock (40P01)"] * 2


async def test_a_lambda_returning_a_coroutine_is_awaited() -> None:
    async def work(n: int) -> int:
        return n * 2

    assert await retry_on_contention(lambda: work(21)) == 42


async def test_contention_is_retried_a_bounded_number_of_times() -> None:
    calls = 0

    async def always_contended() -> None:
        nonlocal calls
        calls += 1
        raise StoreContention("serialization failure (40001)")

    with pytest.raises(StoreContention):
        await retry_on_contention(always_contended, attempts=3, first_pause=0.001)
    assert calls == 3


async def test_other_errors_pass_at_once() -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        await retry_on_contention(broken, first_pause=0.001)
    assert calls == 1
