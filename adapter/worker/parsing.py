"""Inbound messages parsed and validated in worker processes, a batch at a time (issue 14).

Parsing (lxml, the XSDs, the envelope, the payload) needs nothing from the store, so while the
adapter's own process decides and commits one batch, a worker process parses the next: the second
core works beside the event loop. The worker answers only what it accepted (an `XmlMessage` or an
`AbsenceMessage`); a refusal, or anything the worker failed at, comes back unparsed and is parsed
again in the adapter's process, which answers it exactly as it always does (its AppRec, error
report or invalid-absence reply, its log line): an exception does not cross a process boundary
intact. A worker that dies or stops answering is replaced; its batch is parsed in process, so no
delivery is lost or held.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from typing import Any, Literal, cast

from ..service.commands import AbsenceMessage, Command, Work, XmlMessage, parse
from ..service.routing import Routing

log = logging.getLogger("ddfl.parsing")

#: The kinds a worker parses (a tick or a resync request costs nothing to read).
PARSED_AHEAD = ("xml", "absence")


class ParsingWorkers:
    """`workers` processes that parse a batch's messages; `parse` gives the batch back with each
    accepted message's command set."""

    #: Seconds a batch may take in the workers before they count as stuck and are replaced.
    STALL_TIMEOUT = 30.0

    def __init__(self, routing: Routing, workers: int):
        self._routing = routing
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        #: Done once every worker of the pool has started (imported the adapter).
        self._started: list[Future[bool]] = []
        #: Workers replaced after a crash or a stall, and messages the workers parsed (tests read them).
        self.restarts = 0
        self.parsed = 0

    async def open(self) -> None:
        """Start the workers and wait until each can parse (their imports take a second or so),
        so the first deliveries do not wait for them."""
        self._start_pool()
        await asyncio.wait_for(asyncio.gather(*map(asyncio.wrap_future, self._started)), 120)

    def _start_pool(self) -> None:
        # spawn: a fresh interpreter, never a fork of this process and its threads (the store's,
        # the broker's); it imports the adapter once, in the worker, without holding the loop.
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(self._workers, context, initializer=_start, initargs=(self._routing, os.getpid()))
        self._pool, self._started = pool, [pool.submit(_ready) for _ in range(self._workers)]

    async def parse(self, works: list[Work], now: dt.datetime) -> list[Work]:
        """The batch with every message the workers accepted parsed, each at its instant (`now`
        unless the item has its own); the rest as it came. While workers (re)start, the batch
        is left to the adapter's process: it never waits for an interpreter to start."""
        todo = [i for i, work in enumerate(works) if work.parsed is None and work.kind in PARSED_AHEAD]
        pool = self._pool
        if not todo or pool is None or not self.ready:
            return works
        jobs = [job for part in range(self._workers) if (job := todo[part :: self._workers])]
        try:
            answers = await asyncio.wait_for(
                asyncio.gather(
                    *(asyncio.wrap_future(pool.submit(_parse, [_sent(works[i], now) for i in job])) for job in jobs)
                ),
                self.STALL_TIMEOUT,
            )
        except asyncio.CancelledError as error:  # a job cancelled by a replaced pool, or this task
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            self._replace(pool, error)
            return works
        except Exception as error:  # a worker died (BrokenProcessPool) or is stuck: replace them
            self._replace(pool, error)
            return works
        out = list(works)
        for job, commands in zip(jobs, answers, strict=True):
            for i, command in zip(job, commands, strict=True):
                if command is not None:
                    out[i] = replace(works[i], parsed=command)
                    self.parsed += 1
        return out

    @property
    def ready(self) -> bool:
        """Every worker has started (or failed to: then the next batch replaces them)."""
        return all(started.done() for started in self._started)

    def _replace(self, pool: ProcessPoolExecutor, error: BaseException) -> None:
        if self._pool is not pool:
            return  # replaced already, for another batch
        log.warning(
            "a parsing worker failed; its batch is parsed in process and the workers are restarted",
            extra={"event": "DDFL-PARSER-RESTARTED", "error": type(error).__name__},
        )
        self.restarts += 1
        _kill(pool)
        self._start_pool()

    @property
    def pids(self) -> list[int]:
        """The workers' process ids (for tests)."""
        processes = (self._pool._processes or {}) if self._pool is not None else {}
        return [process.pid for process in processes.values() if process.pid is not None]

    def close(self) -> None:
        if self._pool is not None:
            _kill(self._pool)
            self._pool = None


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's processes now: a stuck worker does not end by being asked. Its jobs fail
    (BrokenProcessPool) rather than being cancelled."""
    for process in list((pool._processes or {}).values()):
        process.kill()
    pool.shutdown(wait=False)


#: What a worker is sent of a work item (and no more is pickled): kind, body, headers, instant.
Sent = tuple[str, bytes, dict[str, Any] | None, dt.datetime]


def _sent(work: Work, now: dt.datetime) -> Sent:
    return work.kind, work.body, dict(work.headers) if work.headers is not None else None, work.at or now


# --- in the worker process ---------------------------------------------------------------------

#: The adapter's routing (its HER-id, the limits of what it reads), set by `_start`.
_routing: Routing | None = None


def _start(routing: Routing, parent: int) -> None:
    global _routing
    _routing = routing
    threading.Thread(target=_orphaned, args=(parent,), daemon=True, name="ddfl-parent-watch").start()


def _orphaned(parent: int) -> None:
    """End the worker once the adapter's process is gone (a SIGKILL leaves no one to stop it)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _ready() -> bool:
    return _routing is not None


def _parse(items: list[Sent]) -> list[Command | None]:
    """Each message parsed as the adapter's process would; None for a refusal or a failure (the
    adapter's process parses those again and answers them)."""
    assert _routing is not None
    out: list[Command | None] = []
    for kind, body, headers, at in items:
        try:
            work = Work(kind=cast(Literal["xml", "absence"], kind), body=body, headers=headers)
            command: Command | None = parse(work, at, _routing)
        except Exception:  # a parser's bug: the adapter's process meets it again and reports it
            command = None
        out.append(command if isinstance(command, XmlMessage | AbsenceMessage) else None)
    return out
