"""Opportunistic batching: items queue up while a batch is being committed, and go together in
the next one. One item alone is committed at once (low latency when quiet); under load, batches
grow up to `batch_size` and the per-commit cost is shared (throughput).

With parsing workers (`DDFL_PARSE_WORKERS`), a batch is parsed in them while the batch before it
is decided and committed here: two stages, one batch deep, batches committed in arrival order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Protocol

from ..service.processor import Done, Processor, Work

log = logging.getLogger("ddfl.pipeline")


class Parser(Protocol):
    """Parses a batch's messages somewhere else than the event loop (`worker.parsing`)."""

    async def parse(self, works: list[Work], now: dt.datetime) -> list[Work]: ...


Item = tuple[Work, "asyncio.Future[Done]"]


class Pipeline:
    """The single writer: every state change goes through here, one batch at a time."""

    #: Loop rounds without a new item before a batch is closed.
    GATHER_ROUNDS = 3

    def __init__(
        self,
        processor: Processor,
        batch_size: int,
        on_commit: Callable[[int], None] = lambda size: None,
        parser: Parser | None = None,
    ):
        self._processor = processor
        self._batch_size = batch_size
        self._on_commit = on_commit
        #: None: each item is parsed in its delivery's coroutine, before it is queued here.
        self._parser = parser
        self._queue: asyncio.Queue[Item | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ddfl-pipeline")

    async def submit(self, work: Work) -> Done:
        return await self._queued(work)

    async def submit_many(self, works: list[Work]) -> list[Done]:
        """`submit` of each, in order, awaited together (a future each, not a task each: the
        clock's ticks at a midnight, thousands of them)."""
        return list(await asyncio.gather(*(self._queued(work) for work in works)))

    def _queued(self, work: Work) -> asyncio.Future[Done]:
        if self._parser is None:
            work = self._processor.prepare(work)  # here, in the delivery's coroutine
        future: asyncio.Future[Done] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((work, future))
        return future

    async def stop(self) -> None:
        """Finish everything queued so far, then end."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._task = None

    async def _run(self) -> None:
        if self._parser is not None:
            return await self._run_parsing_ahead(self._parser)
        stopping = False
        while not stopping:
            batch, stopping = await self._gather()
            if batch:
                await self._commit(batch)

    async def _run_parsing_ahead(self, parser: Parser) -> None:
        """Gathers and hands each batch to the parser here; commits them in order in `committer`,
        at most one parsed batch waiting."""
        parsed: asyncio.Queue[tuple[list[Item], asyncio.Task[list[Work]]] | None] = asyncio.Queue(maxsize=1)

        async def committer() -> None:
            while (next_batch := await parsed.get()) is not None:
                batch, parsing = next_batch
                try:
                    works = await parsing
                except Exception:  # the parser's own failure: the processor parses them in process
                    works = [work for work, _ in batch]
                await self._commit(batch, works)

        committing = asyncio.create_task(committer(), name="ddfl-pipeline-commit")
        try:
            stopping = False
            while not stopping and not committing.done():
                batch, stopping = await self._gather()
                if batch:
                    works = [work for work, _ in batch]
                    await parsed.put((batch, asyncio.create_task(parser.parse(works, self._processor.now()))))
            await parsed.put(None)
        finally:
            await committing

    async def _gather(self) -> tuple[list[Item], bool]:
        """The next batch: what has arrived, up to `batch_size`; and whether `stop` was asked."""
        first = await self._queue.get()
        if first is None:
            return [], True
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
                return batch, True
            batch.append(item)
        return batch, False

    async def _commit(self, batch: list[Item], works: list[Work] | None = None) -> None:
        try:
            results = await self._processor.process(works or [work for work, _ in batch])
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
