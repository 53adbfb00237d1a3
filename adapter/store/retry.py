"""Running a unit of work again when another transaction got in its way (StoreContention).

A lock conflict, a deadlock or a serialization failure rolls the whole transaction back, and
nothing is wrong with the work itself, so the answer is to run it again after a short, random
(jittered, so two contenders do not collide again in step) and growing pause. The attempt does
not count against any message's delivery limit: the messages were never handed back.

    results = await retry_on_contention(lambda: processor.process(batch), on_retry=metrics.inc)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from adapter.store.base import StoreContention

T = TypeVar("T")

#: Attempts before StoreContention is let through (then the caller's ordinary failure path runs).
ATTEMPTS = 10
#: Scale and cap of the jittered exponential pause between attempts, in seconds.
FIRST_PAUSE = 0.005
MAX_PAUSE = 0.5


async def retry_on_contention(
    work: Callable[[], Awaitable[T]],
    *,
    attempts: int = ATTEMPTS,
    first_pause: float = FIRST_PAUSE,
    max_pause: float = MAX_PAUSE,
    on_retry: Callable[[StoreContention], None] = lambda error: None,
) -> T:
    """`await work()`, run again on StoreContention up to `attempts` times in all; `on_retry` is
    told of each retried contention (the lock-retry metric). Any other exception passes at once.

    The first attempt runs bare (issue 14): tenacity's retrying object, made once per batch, left
    about 25 objects in reference cycles each time, and the collection that freed thousands of
    them at once held the event loop for tens of milliseconds. Only a contended unit of work
    builds one, and tenacity then counts the failed first attempt as its own first."""
    try:
        return await work()
    except StoreContention as error:
        contended: StoreContention | None = error

    def told(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, StoreContention):
            on_retry(error)

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(StoreContention),
        wait=wait_random_exponential(multiplier=first_pause, max=max_pause),
        stop=stop_after_attempt(attempts),
        before_sleep=told,
        reraise=True,
    )

    async def attempt() -> T:
        # The bare first attempt's contention, raised again as tenacity's attempt 1, then the work.
        nonlocal contended
        if contended is not None:
            error, contended = contended, None
            raise error
        return await work()

    result: T = await retrying(attempt)
    return result
