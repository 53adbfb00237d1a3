"""A large in-memory replay decided by two processes, its output merged as one process gives it.

Offices are independent: deciding a message or a tick reads and writes the state, the inbox rows
and the closed conversations of one office only (`commands.office_of`, what replicas sharing a
store lock on), R1–R16 are per (office, practitioner), and a tick is a pair's. So the offices are
shared out between the replay's own process and a forked one (`share_out`), each of which replays
every step on the same clock (time alone still ticks its own pairs where one process would) but
decides only its offices' messages, in a store of its own. The one-process order is then restored
exactly: an event, receipt or reply is placed by the step it belongs to (a tick's: the step
before which the clock caught up, then its instant and pair, the order the scheduler ticks in),
and within a process by the order it came in. The replay's own process merges between its
batches and releases the output as far as both have got, so the events file still grows as the
replay goes (issue 14: the second core used for deciding, not parsing alone).

Which office a message speaks for is guessed before it is parsed (the sender's HER-id read
from the bytes); each process checks the guess against what the parser read and, should any
differ, the replay runs again in one process, giving `sink` only what it did not give yet.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import multiprocessing
import operator
import os
import queue
import re
import resource
import threading
import traceback
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import orjson

from ..bootstrap import Parts
from ..config import Settings
from ..service.commands import office_of
from ..service.processor import Done, Work
from ..store.base import OutboxRow
from .ahead import Ahead, read_file
from .scenario import Scenario, Step

#: message steps from which a replay is split where two cores and `fork` are at hand: below it,
#: starting a second process costs more than it saves
SPLIT_FROM = 2_000
#: deciding processes (this machine's two cores): the replay's own, which also merges, and one more
PROCESSES = 2
#: the share of the messages the merging (and the files' writing) is worth: the replay's own
#: process decides that much fewer. Little since each process writes its own rows' lines: after
#: the fork, the national replay's own process spent 0.8-0.9 s of CPU less than the other with
#: 0.06, about as much with 0 (load 14-15; issue 14)
MERGING = 0.01

#: a HER-id ident, as a MsgHead's sender writes it
_HER_ID = re.compile(rb"<(?:[\w.-]+:)?Id>\s*(\d+)\s*</(?:[\w.-]+:)?Id>\s*<(?:[\w.-]+:)?TypeId\b[^>]*\bV=\"HER\"")

#: where an item goes in the one-process order: (step index, 0 for the clock's catching up before
#: that step and 1 for the step itself, then for a tick its instant and pair)
Key = tuple[Any, ...]
#: an item of a process's output: (where it goes, what it is); an event or receipt's is (`Key`,
#: its line or None, the row or None), a reply's (`Key`, (routing key, message id))
Item = tuple[Any, ...]
#: the runner's `Sink`: given the lines of what a batch published and received
Sink = Callable[[list[str], list[str]], None]


class Misplaced(Exception):
    """A message speaks for another office than the one guessed: its process cannot decide it."""


def splits(scenario: Scenario) -> bool:
    """Whether a replay of `scenario` in memory is split over processes here."""
    messages = sum(1 for step in scenario.steps if step.xml is not None or step.absence is not None)
    return (
        messages >= SPLIT_FROM
        and (os.cpu_count() or 1) >= PROCESSES
        and "fork" in multiprocessing.get_all_start_methods()
    )


def guessed_office(step: Step) -> int | None:
    """The office a step's message speaks for, read from its bytes without parsing them: the
    sender's one HER-id (XML), `office_her_id` (an absence); None where that is not plain."""
    if step.xml is not None:
        body = read_file(step.xml)  # a guess: what the parser reads is checked against it
        start = body.find(b"Sender>")  # the sender's element, whatever its namespace prefix
        end = body.find(b"Sender>", start + 7)
        her_ids = set(_HER_ID.findall(body, start, end)) if 0 <= start < end else set()
        return int(her_ids.pop()) if len(her_ids) == 1 else None
    if step.absence is not None:
        try:
            office = json.loads(step.absence).get("office_her_id")
        except (ValueError, AttributeError):
            return None
        return office if type(office) is int else None
    return None


def share_out(steps: list[Step], processes: int, merging: float = 0.0) -> tuple[dict[int, int], dict[int, int]]:
    """(step index → process, office → process) for the steps with a message: the offices shared
    out by their number of messages, the largest first, each to the least loaded process, process 0
    starting with `merging` of them (its other work). A message whose office cannot be guessed
    goes to process 0, like one of an office nobody else names."""
    guessed = {step.index: guessed_office(step) for step in steps if step.xml is not None or step.absence is not None}
    counts: dict[int, int] = {}
    for office in guessed.values():
        if office is not None:
            counts[office] = counts.get(office, 0) + 1
    load = [0.0] * processes
    load[0] = sum(1 for office in guessed.values() if office is None) + merging * len(guessed)
    place: dict[int, int] = {}
    for office, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        place[office] = least = min(range(processes), key=load.__getitem__)
        load[least] += count
    return {index: place.get(office, 0) if office is not None else 0 for index, office in guessed.items()}, place


def run_split(
    scenario: Scenario,
    replay: type[Any],
    result: Any,
    progress: Callable[[int, int], None] | None,
    sink: Sink | None,
    keep: bool = True,
    processes: int = PROCESSES,
) -> bool:
    """Run `scenario` in this process and `processes - 1` forked ones (each a `replay`, the runner's
    `_MemoryReplay`, deciding a share of the offices), merging their output into `result` (a
    `ReplayResult`) here, between this process's batches; False if a guessed office was wrong
    (nothing was given to `sink` past what one process gives too). `keep`: as the runner's (what
    goes in `result`); each process writes its rows' lines for `sink` itself."""
    steps, place = share_out(scenario.steps, processes, MERGING)
    context = multiprocessing.get_context("fork")  # each starts with the scenario and every module
    ends: list[Connection] = []
    workers = []
    for number in range(1, processes):
        receiving, sending = context.Pipe(duplex=False)
        worker = context.Process(
            target=_decide,
            args=(replay, scenario, steps, place, number, sending, [*ends, receiving], keep, sink is not None),
            name=f"ddfl-replay-{number}",
        )
        worker.start()
        sending.close()
        ends.append(receiving)
        workers.append(worker)
    merge = _Merge(result, processes, len(scenario.steps), progress, sink)
    heard: queue.SimpleQueue[tuple[int, tuple[Any, ...]]] = queue.SimpleQueue()
    for number, end in enumerate(ends, start=1):
        # read at once, so that a process never waits on a full pipe for this one's batch to end
        threading.Thread(target=_listen, args=(number, end, heard), daemon=True).start()
    running = set(range(1, processes))

    def hear(number: int, message: tuple[Any, ...]) -> None:
        if message[0] == "batch":
            merge.add(number, *message[1:])
        elif message[0] == "end":
            merge.add(number, len(scenario.steps), *message[1:4])
            result.names.update(message[4])
            if number:
                result.deciders.append(message[5])
                running.discard(number)
        elif message[0] == "misplaced":
            raise Misplaced(message[1])
        else:
            raise RuntimeError(f"replay: deciding process {number} failed:\n{message[1]}")

    def ship(message: tuple[Any, ...]) -> None:
        """After each of this process's batches: merged, with what the others sent meanwhile."""
        hear(0, message)
        while not heard.empty():
            hear(*heard.get())

    here = _splitting(replay)(steps, place, 0, ship, keep, sink is not None)
    try:
        ran = asyncio.run(here.run(scenario, here.ship, None))
        hear(0, ("end", *here.taken(), ran.names, None))
        while running:
            hear(*heard.get())
    except Misplaced:
        return False
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
            worker.join()
        for end in ends:
            end.close()
    result.names = dict(sorted(result.names.items()))
    return True


def _listen(number: int, end: Connection, heard: queue.SimpleQueue[tuple[int, tuple[Any, ...]]]) -> None:
    """In a thread: a deciding process's messages, as they come, until its last."""
    while True:
        try:
            message = end.recv()
        except (EOFError, OSError):
            message = ("error", "it ended without its output")
        heard.put((number, message))
        if message[0] != "batch":
            return


class _Merge:
    """The processes' output, in the one-process order, released as far as all of them got."""

    def __init__(
        self, result: Any, processes: int, steps: int, progress: Callable[[int, int], None] | None, sink: Sink | None
    ):
        self.result, self.steps, self.progress, self.sink = result, steps, progress, sink
        #: per process: the steps it has done; its events, receipts and replies not yet released
        self.done = [0] * processes
        self.pending: list[tuple[deque[Item], ...]] = [(deque(), deque(), deque()) for _ in range(processes)]
        self.released = 0

    def add(
        self,
        number: int,
        done: int,
        events: list[Item],
        receipts: list[Item],
        replies: list[Item],
    ) -> None:
        for pending, new in zip(self.pending[number], (events, receipts, replies), strict=True):
            pending.extend(new)
        self.done[number] = done
        upto = min(self.done)
        if upto == self.released and upto < self.steps:
            return
        self.released = upto
        result = self.result
        event_lines: list[str] = []
        receipt_lines: list[str] = []
        for key, text, event in self._release(0, upto):
            if text is not None:
                event_lines.append(text)
            if event is not None:
                result.events.append(event)
                result.event_steps.append(key[0])
        for _, text, receipt in self._release(1, upto):
            if text is not None:
                receipt_lines.append(text)
            if receipt is not None:
                result.receipts.append(receipt)
        result.replies.extend(reply for _, reply in self._release(2, upto))
        if self.sink is not None:
            self.sink(event_lines, receipt_lines)
        if self.progress is not None:
            self.progress(upto, self.steps)

    def _release(self, stream: int, upto: int) -> list[Item]:
        """Of one stream, what every process has got past: each process's part is in order already."""
        parts = []
        for pending in self.pending:
            waiting = pending[stream]
            part = []
            while waiting and waiting[0][0][0] <= upto:
                part.append(waiting.popleft())
            parts.append(part)
        return list(heapq.merge(*parts, key=operator.itemgetter(0)))


def _decide(
    replay: type[Any],
    scenario: Scenario,
    steps: dict[int, int],
    place: dict[int, int],
    number: int,
    out: Connection,
    inherited: list[Connection],
    keep: bool,
    lines: bool,
) -> None:
    """In a deciding process: the replay of every step, deciding this process's messages only.
    `inherited`: the reading ends forked with it, closed here, so that its sending fails (and it
    ends) once the merging process is gone, rather than filling a pipe nobody reads."""
    for end in inherited:
        end.close()
    try:
        decider = _splitting(replay)(steps, place, number, out.send, keep, lines)
        result = asyncio.run(decider.run(scenario, decider.ship, None))
        own = resource.getrusage(resource.RUSAGE_SELF)
        out.send(("end", *decider.taken(), result.names, (own.ru_utime + own.ru_stime, own.ru_maxrss)))
    except Misplaced as error:
        _tell(out, ("misplaced", str(error)))
    except BaseException:
        _tell(out, ("error", traceback.format_exc()))
    finally:
        out.close()


def _tell(out: Connection, message: tuple[str, str]) -> None:
    """The merging process told why this one stops, unless it is gone (then there is nobody to tell)."""
    try:
        out.send(message)
    except OSError:
        pass


def _splitting(replay: type[Any]) -> type[Any]:
    """`replay` (the runner's `_MemoryReplay`) as one of several processes deciding a share of the
    offices; made here so the runner need not know of it."""

    class Share(replay):  # type: ignore[misc]
        def __init__(
            self,
            steps: dict[int, int],
            place: dict[int, int],
            number: int,
            deliver: Callable[[tuple[Any, ...]], None],
            keep: bool,
            lines: bool,
        ) -> None:
            super().__init__(keep)
            self.lines = lines
            self._mine = {index for index, owner in steps.items() if owner == number}
            self._place, self._number, self._deliver = place, number, deliver
            #: where each portal event and reply of the batch being published goes (`Key`)
            self._tags: deque[Key] = deque()
            self._reply_tags: deque[Key] = deque()
            self._events: list[Item] = []
            self._receipts: list[Item] = []
            self._replies: list[Item] = []

        def parsed_ahead(self, settings: Settings) -> Ahead:
            # its own messages, parsed here: the other core decides the other share
            return Ahead(
                [step for step in self.result.scenario.steps if step.index in self._mine], settings, worker=False
            )

        def _on_done(self, work: Work, done: Done) -> None:
            if work.kind != "tick":  # a step's: placed by `send`, which knows the step
                return
            self._placed((self.current_step, 0, work.until, work.key), done)

        def _placed(self, key: Key, done: Done) -> None:
            """The item's rows placed at `key`: its receipt now, its events and replies as published."""
            self._tags.extend([key] * done.events)
            self._reply_tags.extend([key] * done.replies)
            if done.receipt is not None:
                receipt = done.receipt.to_json()
                self._receipts.append((key, self.line(receipt) if self.lines else None, receipt if self.keep else None))

        def _on_row(self, row: OutboxRow) -> None:
            if row.routing_key == self.portal_queue:
                event = orjson.loads(row.body)
                self._offices.add(event["office_her_id"])
                text = self.line(event) if self.lines else None
                self._events.append((self._tags.popleft(), text, event if self.keeps(event) else None))
            elif self.keep:
                self._replies.append((self._reply_tags.popleft(), (row.routing_key, row.message_id)))
            else:
                self._reply_tags.popleft()

        def _give(self, sink: Any) -> None:
            """Shipped by `ship`, after each batch."""

        async def send(self, settings: Settings, parts: Parts, batch: list[Step]) -> None:
            mine = [step for step in batch if step.index in self._mine]
            works = [parts.processor.prepare(await self.ahead.work(step)) for step in mine]
            for step, work in zip(mine, works, strict=True):
                office = office_of(work.parsed) if work.parsed is not None else None
                if (self._place.get(office, 0) if office is not None else 0) != self._number:
                    raise Misplaced(f"step {step.index}: guessed the wrong office")
            if works:
                for step, done in zip(mine, await parts.processor.process(works), strict=True):
                    self._placed((step.index, 1), done)
            await self.no_change_within(parts, batch)

        async def flush(self, parts: Parts) -> None:
            await super().flush(parts)
            if self._tags or self._reply_tags:
                raise RuntimeError(
                    f"replay: {len(self._tags) + len(self._reply_tags)} rows of the batch never published"
                )

        def taken(self) -> tuple[list[Item], ...]:
            taken = self._events, self._receipts, self._replies
            self._events, self._receipts, self._replies = [], [], []
            return taken

        def ship(self, done: int, steps: int) -> None:
            """After each batch: what it published and received, to the merging process."""
            self._deliver(("batch", done, *self.taken()))

    return Share
