"""Running a unit of work again when another transaction got in its way (StoreContention).

A lock conflict, a deadlock or a serialization failure rolls the whole transaction back, and
nothing is wrong with the work itself, so the answer is to run it again after a short, random
(jittered, so two contenders do not collide again in step) and growing pause. The attempt does
not count against any message's delivery limit: the messages were never handed back.

    results = await retry_on_contention(lambda: processor.process(batch), on_retry=metrics.inc)
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

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

    A plain loop (issue 14): tenacity's retrying object, made once per batch, left about 25
    objects in reference cycles each time, and the collection that freed thousands of them at
    once held the event loop for tens of milliseconds. The pause before attempt n+1 is as
    tenacity's `wait_random_exponential` drew it: uniform in [0, min(max, first × 2^(n-1))]."""
    for attempt in range(1, attempts + 1):
        try:
            return await work()
        except StoreContention as error:
            if attempt >= attempts:
                raise
            on_retry(error)
            await asyncio.sleep(random.uniform(0, min(max_pause, first_pause * 2 ** (attempt - 1))))
    raise ValueError(f"attempts must be at least 1, not {attempts}")
