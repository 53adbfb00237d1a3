"""retry_on_contention: runs a unit of work again on StoreContention only, a bounded number of
times, telling the caller of each retry; whatever the work returns comes back."""

from __future__ import annotations

import gc

import pytest
import tenacity.wait

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


async def test_a_unit_of_work_that_goes_through_leaves_no_garbage_in_cycles() -> None:
    """Issue 14: run once per batch, the retry machinery must leave nothing for the cycle
    collector (tenacity's left about 25 objects a batch, freed in one long pause of the loop)."""

    async def work() -> str:
        return "done"

    await retry_on_contention(work)  # anything imported or cached on first use
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            assert await retry_on_contention(work) == "done"
        assert gc.collect() == 0
    finally:
        gc.enable()


async def test_the_pause_before_each_retry_is_drawn_below_a_doubling_bound_up_to_its_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bounds: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        bounds.append((low, high))
        return 0.0

    monkeypatch.setattr(tenacity.wait.random, "uniform", uniform)

    async def always_contended() -> None:
        raise StoreContention("lock not available (55P03)")

    told: list[StoreContention] = []
    with pytest.raises(StoreContention):
        await retry_on_contention(always_contended, attempts=5, first_pause=0.1, max_pause=0.3, on_retry=told.append)
    # tenacity draws a pause after the last attempt too, but stops before sleeping it.
    assert bounds[:4] == [(0, 0.1), (0, 0.2), (0, 0.3), (0, 0.3)]
    assert len(told) == 4, "a pause (and a retry told) between attempts only"
