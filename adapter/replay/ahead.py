"""A replay's messages read and parsed ahead, in a worker process (issue 14).

Parsing (XML, the schemas) needs nothing from the store, only the instant the step is processed
at (R1: a GenDate in the future is refused), so a large scenario's messages are parsed on a second
core while the replay's own process decides the ones before them. What the worker refused is
parsed again in the replay's process: an exception does not cross a process boundary intact.
Small scenarios are parsed in process (a worker costs more than it saves).
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Literal

from ..bootstrap import routing
from ..config import Settings
from ..service.commands import AbsenceMessage, Command, Work, XmlMessage, parse
from ..service.routing import Routing
from .scenario import Step

#: messages parsed per job; a scenario with more than one job's worth is parsed in a worker
CHUNK = 128
#: jobs given to the worker ahead of the one the replay waits for (what is parsed is held in memory)
AHEAD = 8


def step_message(step: Step, settings: Settings) -> tuple[bytes, str, str]:
    """(body, queue, content type) of a step's inbound message."""
    if step.xml is not None:
        return read_file(step.xml), settings.inbound_queue, "application/xml"
    return step.absence or b"", settings.absence_queue, "application/json"


def read_file(path: os.PathLike[str]) -> bytes:
    """A file's bytes, without a file object (`Path.read_bytes` makes one: a national set has
    11,000 files, read once to guess their offices and once to be parsed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, size)
        while len(data) < size and (more := os.read(fd, size - len(data))):  # a short read: go on
            data += more
        return data
    finally:
        os.close(fd)


def step_work(step: Step, body: bytes, parsed: Command | None = None) -> Work:
    """A step's message as the inbound subscriber makes it of a delivery (with the AMQP message id
    as sent: a replay sends none), processed at the step's instant."""
    kind: Literal["xml", "absence"] = "xml" if step.xml is not None else "absence"
    return Work(kind=kind, body=body, headers={**step.headers, "message_id": None}, at=step.at, parsed=parsed)


class Ahead:
    """The steps' messages as work items, parsed by a worker process where that pays."""

    def __init__(self, steps: list[Step], settings: Settings, *, worker: bool = True):
        """`worker`: whether a worker process may parse (not where the second core decides: `split`)."""
        self._settings = settings
        self._routes = routing(settings)
        messages = [step for step in steps if step.xml is not None or step.absence is not None]
        self._place = {step.index: divmod(n, CHUNK) for n, step in enumerate(messages)}
        self._messages = messages
        self._pool: ProcessPoolExecutor | None = None
        self._jobs: dict[int, Future[list[Command | None]]] = {}
        #: jobs taken back from the worker's queue and parsed here while waiting (`_take_back`)
        self._parsed_here: dict[int, list[Command | None]] = {}
        self._chunk: tuple[int, list[Command | None]] = (-1, [])  # the last job's: (number, commands)
        if (
            worker
            and len(messages) > CHUNK
            and (os.cpu_count() or 1) > 1
            and "fork" in multiprocessing.get_all_start_methods()
        ):
            # fork: the worker starts with every module imported, and needs nothing else
            self._pool = ProcessPoolExecutor(
                1, multiprocessing.get_context("fork"), initializer=_start, initargs=(settings,)
            )
            for number in range(AHEAD + 1):
                self._submit(number)

    def _submit(self, number: int) -> None:
        chunk = self._messages[number * CHUNK : (number + 1) * CHUNK]
        if self._pool is not None and chunk:
            self._jobs[number] = self._pool.submit(_parse, chunk)

    async def work(self, step: Step) -> Work:
        """The step's work item: parsed when the worker could, else as it came (the processor
        parses it)."""
        parsed = None
        if self._pool is not None:
            number, offset = self._place[step.index]
            if self._chunk[0] != number:
                if number in self._parsed_here:
                    commands = self._parsed_here.pop(number)
                else:
                    job = self._jobs.pop(number)
                    while not job.done() and self._take_back():
                        pass
                    commands = await asyncio.wrap_future(job)
                self._chunk = (number, commands)
                self._submit(number + AHEAD + 1)
            parsed = self._chunk[1][offset]
        if parsed is not None and step.xml is not None:
            return step_work(step, b"", parsed)  # a parsed XML message's bytes are not read again
        return step_work(step, step_message(step, self._settings)[0], parsed)

    def _take_back(self) -> bool:
        """While the replay would wait for the job it needs, parse here the last job queued that the
        worker has not started (it is cancelled there): where the worker is the slower side (the
        2,000 behandleroversikt messages at a national set's start, issue 14), both cores parse.
        False when every queued job has been started."""
        for number in sorted(self._jobs, reverse=True):
            if self._jobs[number].cancel():
                del self._jobs[number]
                self._parsed_here[number] = _parse_here(
                    self._messages[number * CHUNK : (number + 1) * CHUNK], self._settings, self._routes
                )
                return True
        return False

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


#: in the worker process: the settings and the routing they give (set by `_start`)
_worker: tuple[Settings, Routing] | None = None


def _start(settings: Settings) -> None:
    global _worker
    _worker = (settings, routing(settings))
    gc.enable()  # forked from a replay that collects only between its batches (`runner`)


def _parse(steps: list[Step]) -> list[Command | None]:
    """In the worker: each step's message read and parsed at its instant; None for a refusal."""
    assert _worker is not None
    return _parse_here(steps, *_worker)


def _parse_here(steps: list[Step], settings: Settings, routes: Routing) -> list[Command | None]:
    """Each step's message read and parsed at its instant; None for a refusal."""
    out: list[Command | None] = []
    for step in steps:
        work = step_work(step, step_message(step, settings)[0])
        command = parse(work, step.at, routes)
        out.append(command if isinstance(command, XmlMessage | AbsenceMessage) else None)
    return out
