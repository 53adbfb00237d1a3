"""The adapter's clock (R11), injectable: the system clock in production, a manual one in tests
and replay. Waiting is done through the clock, so a manual clock wakes its sleepers when moved."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Protocol

from .background import wait_at_most


class Clock(Protocol):
    def now(self) -> dt.datetime: ...

    async def wait(self, deadline: dt.datetime | None, wake: asyncio.Event, max_seconds: float) -> None:
        """Return when `deadline` has passed, `wake` is set, or `max_seconds` of real time passed."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    async def wait(self, deadline: dt.datetime | None, wake: asyncio.Event, max_seconds: float) -> None:
        seconds = max_seconds
        if deadline is not None:
            seconds = min(seconds, max(0.0, (deadline - self.now()).total_seconds()))
        await wait_at_most(wake, seconds)


class ManualClock:
    """A clock that moves only when told to; moving it wakes everything waiting on it."""

    def __init__(self, start: dt.datetime):
        if start.tzinfo is None:
            raise ValueError("the clock's start must carry a UTC offset")
        self._now = start
        self._moved: set[asyncio.Event] = set()

    def now(self) -> dt.datetime:
        return self._now

    def set(self, instant: dt.datetime) -> None:
        if instant < self._now:
            raise ValueError("the clock does not go backwards")
        self._now = instant
        for event in self._moved:
            event.set()

    def advance(self, delta: dt.timedelta) -> None:
        self.set(self._now + delta)

    async def wait(self, deadline: dt.datetime | None, wake: asyncio.Event, max_seconds: float) -> None:
        if deadline is not None and deadline <= self._now:
            return
        self._moved.add(wake)
        try:
            await wait_at_most(wake, max_seconds)
        finally:
            self._moved.discard(wake)
