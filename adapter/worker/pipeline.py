"""Opportunistic batching: items queue up while a batch is being committed, and go together in
the next one. One item alone is committed at once (low latency when quiet); under load, batches
grow up to `batch_size` and the per-commit cost is shared (throughput)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..service.processor import Done, Processor, Work

log = logging.getLogger("ddfl.pipeline")


class Pipeline:
    """The single writer: every state change goes through here, one batch at a time."""

    #: Loop rounds without a new item before a batch is closed.
    GATHER_ROUNDS = 3

    def __init__(self, processor: Processor, batch_size: int, on_commit: Callable[[int], None] = lambda size: None):
        self._processor = processor
        self._batch_size = batch_size
        self._on_commit = on_commit
        self._queue: asyncio.Queue[tuple[Work, asyncio.Future[Done]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ddfl-pipeline")

    async def submit(self, work: Work) -> Done:
        future: asyncio.Future[Done] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((work, future))
        return await future

    async def submit_many(self, works: list[Work]) -> list[Done]:
        return list(await asyncio.gather(*(self.submit(w) for w in works)))

    async def stop(self) -> None:
        """Finish everything queued so far, then end."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._task = None

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            quiet_rounds = 0
            while len(batch) < self._batch_size:
                if self._queue.empty():
                    # Deliveries already received are still on their way through FastStream's
                    # handler stack; a few loop rounds (no timer: no added latency when quiet)
                    # let them arrive and join this batch, which shares one commit.
                    if quiet_rounds >= self.GATHER_ROUNDS:
                        break
                    quiet_rounds += 1
                    await asyncio.sleep(0)
                    continue
                quiet_rounds = 0
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                results = await self._processor.process([work for work, _ in batch])
            except Exception as error:  # the store failed: nothing was committed, hand all back
                log.error(
                    "batch failed; its items will be redelivered",
                    extra={"event": "DDFL-BATCH-FAILED", "error": type(error).__name__},
                )
                results = [Done(ok=False, error_id=type(error).__name__)] * len(batch)
            for (_, future), done in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(done)
            self._on_commit(len(batch))
