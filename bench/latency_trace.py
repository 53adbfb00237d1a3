"""`ddfl-adapter run` with a stage trace, to locate where a message's latency goes (issue 14).

    python bench/latency_trace.py TRACE.json     # instead of `python -m adapter.cli run`

`bench/throughput.py --only latency --trace DIR` runs the adapter this way. Every timestamp is
`time.perf_counter()` (CLOCK_MONOTONIC on Linux), the same clock the bench stamps its publishes
and receipts with, so the two join per MsgId. Recorded, and written to TRACE.json on shutdown:

- per inbound message (by MsgId): when its parsing began (≈ received from FastStream) and ended;
- per batch: when it was closed, its size and MsgIds, when its transaction committed, and the
  process CPU the commit took;
- per relay publish: when it began, its rows (the AppRecs name their MsgId), when every confirm
  was in, when the rows were marked sent;
- per relay read of pending rows: when it began and ended, how many rows;
- per store transaction: the task that asked, when it asked, got the store's lock and ended;
- every garbage collection (generation, duration);
- every stall of the event loop longer than STALL (a heartbeat task every 2 ms, watched from a
  thread), with the main thread's stack as the watcher saw it mid-stall.

The patches wrap the methods and change nothing they do.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import json
import sys
import threading
import time
import traceback
from pathlib import Path

from adapter import cli
from adapter.service.processor import Processor
from adapter.store.sql import SqlStore
from adapter.worker.amqp import AmqpPublisher
from adapter.worker.pipeline import Pipeline
from adapter.worker.relay import Relay

#: A loop stall shorter than this is not recorded.
STALL = 0.02

trace: dict[str, list] = {
    "parsed": [],
    "batches": [],
    "publishes": [],
    "marked": [],
    "pending": [],
    "store": [],
    "gc": [],
    "stalls": [],
}


def _msg_id(work) -> str | None:
    parsed = work.parsed
    envelope = getattr(parsed, "envelope", None)
    return getattr(envelope, "msg_id", None)


def _patch() -> None:
    prepare = Processor.prepare

    def traced_prepare(self, work):
        if work.parsed is not None:
            return work
        t0 = time.perf_counter()
        result = prepare(self, work)
        trace["parsed"].append((_msg_id(result), t0, time.perf_counter()))
        return result

    Processor.prepare = traced_prepare

    commit = Pipeline._commit

    async def traced_commit(self, batch, works=None):
        t0, c0 = time.perf_counter(), time.process_time()
        await commit(self, batch, works)
        ids = [_msg_id(work) for work, _ in batch]
        trace["batches"].append((t0, time.perf_counter(), time.process_time() - c0, ids))

    Pipeline._commit = traced_commit

    publish = AmqpPublisher.publish

    async def traced_publish(self, rows):
        t0 = time.perf_counter()
        outcomes = await publish(self, rows)
        trace["publishes"].append((t0, time.perf_counter(), [row.message_id for row in rows]))
        return outcomes

    AmqpPublisher.publish = traced_publish

    if hasattr(Relay, "_mark"):  # marks written beside the publishing
        mark = Relay._mark

        async def traced_mark(self, before, done, undeliverable):
            t0 = time.perf_counter()
            try:
                return await mark(self, before, done, undeliverable)
            finally:
                trace["marked"].append((t0, time.perf_counter(), len(done)))

        Relay._mark = traced_mark
    else:  # an older checkout's relay (an A/B with --variant BENCH_ROOT=DIR) marked in `_settle`
        settle = Relay._settle

        async def traced_settle(self, rows, outcomes):
            t0 = time.perf_counter()
            try:
                return await settle(self, rows, outcomes)
            finally:
                trace["marked"].append((t0, time.perf_counter(), len(rows)))

        Relay._settle = traced_settle

    pending = SqlStore.outbox_pending

    async def traced_pending(self, limit, after=0):
        t0 = time.perf_counter()
        rows = await pending(self, limit, after)
        trace["pending"].append((t0, time.perf_counter(), len(rows)))
        return rows

    SqlStore.outbox_pending = traced_pending

    transaction = SqlStore.transaction

    @contextlib.asynccontextmanager
    async def traced_transaction(self, durable=True):
        task = asyncio.current_task()
        who = task.get_name() if task is not None else "?"
        t0 = time.perf_counter()
        async with transaction(self, durable) as tx:
            t1 = time.perf_counter()
            yield tx
        trace["store"].append((who, t0, t1, time.perf_counter()))

    SqlStore.transaction = traced_transaction

    gc_started: list[float] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_started[:] = [time.perf_counter()]
        elif gc_started:
            trace["gc"].append((info["generation"], gc_started[0], time.perf_counter(), info.get("collected", 0)))

    gc.callbacks.append(on_gc)


def _watch_stalls() -> None:
    """A heartbeat on the loop and a thread that notices when it stops beating."""
    beat = [time.perf_counter()]
    main = threading.main_thread().ident

    async def heartbeat() -> None:
        while True:
            beat[0] = time.perf_counter()
            await asyncio.sleep(0.002)

    def watcher() -> None:
        stalled_since: float | None = None
        stack: list[str] = []
        while True:
            time.sleep(0.005)
            now = time.perf_counter()
            if now - beat[0] > STALL:
                if stalled_since is None:
                    stalled_since = beat[0]
                    frame = sys._current_frames().get(main)
                    stack = traceback.format_stack(frame, limit=14) if frame is not None else []
            elif stalled_since is not None:
                trace["stalls"].append((stalled_since, beat[0], [line.strip() for line in stack]))
                stalled_since = None

    threading.Thread(target=watcher, daemon=True, name="stall-watcher").start()
    original_run = asyncio.run

    def run(main_coroutine, **kwargs):
        async def with_heartbeat():
            task = asyncio.ensure_future(heartbeat())
            try:
                return await main_coroutine
            finally:
                task.cancel()

        return original_run(with_heartbeat(), **kwargs)

    cli.asyncio.run = run  # type: ignore[attr-defined]


def main() -> int:
    out = Path(sys.argv[1])
    _patch()
    _watch_stalls()
    atexit.register(lambda: out.write_text(json.dumps(trace)))
    return cli.main(["run"])


if __name__ == "__main__":
    sys.exit(main())
