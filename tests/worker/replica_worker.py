"""A real adapter process for the multi-process tests: `ddfl-adapter run`'s wiring (adapter.bootstrap,
settings from `DDFL_*`), except that its clock reads the current instant from a file the test writes
(`DDFL_TEST_CLOCK_FILE`, one ISO 8601 instant). Several of these, each with its own clock, share one
store and one broker: the test moves time for all of them and kills them with SIGKILL.

    python -m tests.worker.replica_worker
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

#: How often a waiting clock looks at the file again (real seconds).
POLL = 0.05


class FileClock:
    """The instant in the file; waiting polls it, so a moved clock wakes its sleepers within POLL."""

    def __init__(self, path: Path):
        self._path = path

    def now(self) -> dt.datetime:
        instant = dt.datetime.fromisoformat(self._path.read_text().strip())
        if instant.tzinfo is None:
            raise ValueError("the clock file must hold an instant with a UTC offset")
        return instant

    async def wait(self, deadline: dt.datetime | None, wake: asyncio.Event, max_seconds: float) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + max_seconds
        while not wake.is_set() and (remaining := end - loop.time()) > 0:
            if deadline is not None and self.now() >= deadline:
                return
            try:
                await asyncio.wait_for(wake.wait(), timeout=min(POLL, remaining))
            except TimeoutError:
                pass


def main() -> int:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    from adapter.bootstrap import build
    from adapter.config import Settings
    from adapter.worker.observability import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    runtime = build(settings, clock=FileClock(Path(os.environ["DDFL_TEST_CLOCK_FILE"])))
    settle = runtime._settle
    log = logging.getLogger("test.replica")

    async def counting(message: Any, work: Any) -> None:
        """The test's figure of redeliveries (a delivery the broker marks as redelivered)."""
        if message.raw_message.redelivered:
            log.info("redelivered", extra={"event": "TEST-REDELIVERED"})
        await settle(message, work)

    runtime._settle = counting  # type: ignore[method-assign]
    asyncio.run(runtime.app.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
