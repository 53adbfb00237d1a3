"""The pipeline with a parser (`DDFL_PARSE_WORKERS`): the next batch is parsed while one is being
committed, batches commit in arrival order, and a parser that fails leaves parsing to the processor."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace

from adapter.service.commands import Tick
from adapter.service.processor import Done, Work
from adapter.worker.pipeline import Pipeline

from .conftest import wait_until

NOW = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)


class HeldProcessor:
    """Stands in for the processor: records each batch and holds it until released."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.parsed: list[list[bool]] = []
        self.release = asyncio.Event()

    def now(self) -> dt.datetime:
        return NOW

    def prepare(self, work: Work) -> Work:
        raise AssertionError("with a parser, nothing is parsed in the delivery's coroutine")

    async def process(self, works: list[Work]) -> list[Done]:
        self.batches.append([work.body for work in works])
        self.parsed.append([work.parsed is not None for work in works])
        await self.release.wait()
        return [Done(ok=True) for _ in works]


class RecordingParser:
    """Marks each work parsed (a tick stands in for a command); `fail` makes it raise instead."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[bytes]] = []
        self.fail = fail

    async def parse(self, works: list[Work], now: dt.datetime) -> list[Work]:
        assert now == NOW
        self.calls.append([work.body for work in works])
        if self.fail:
            raise RuntimeError("the workers are gone")
        return [replace(work, parsed=Tick((1, "2"), NOW)) for work in works]


async def test_the_next_batch_is_parsed_while_one_commits_and_batches_commit_in_order() -> None:
    processor, parser = HeldProcessor(), RecordingParser()
    pipeline = Pipeline(processor, 8, parser=parser)  # type: ignore[arg-type]
    pipeline.start()
    first = asyncio.ensure_future(pipeline.submit(Work(kind="xml", body=b"1")))
    await wait_until(lambda: processor.batches == [[b"1"]], what="the first batch committing")
    later = [asyncio.ensure_future(pipeline.submit(Work(kind="xml", body=b))) for b in (b"2", b"3")]
    await wait_until(lambda: parser.calls == [[b"1"], [b"2", b"3"]], what="the second batch parsed meanwhile")
    assert processor.batches == [[b"1"]], "still committing the first"
    processor.release.set()
    assert [done.ok for done in await asyncio.gather(first, *later)] == [True, True, True]
    assert processor.batches == [[b"1"], [b"2", b"3"]]
    assert processor.parsed == [[True], [True, True]]
    await pipeline.stop()


async def test_a_failing_parser_hands_the_batch_to_the_processor_unparsed() -> None:
    processor, parser = HeldProcessor(), RecordingParser(fail=True)
    processor.release.set()
    pipeline = Pipeline(processor, 8, parser=parser)  # type: ignore[arg-type]
    pipeline.start()
    done = await asyncio.wait_for(pipeline.submit(Work(kind="xml", body=b"1")), 10)
    assert done.ok and processor.parsed == [[False]]
    await pipeline.stop()
