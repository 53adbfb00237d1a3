"""Parsing in worker processes (`DDFL_PARSE_WORKERS`) on the real RabbitMQ: every message gets
the answer it gets when parsed in process (R15), and a worker that dies or hangs costs no delivery."""

from __future__ import annotations

import datetime as dt
import os
import signal
import uuid
from collections import Counter
from pathlib import Path

import pytest

from adapter.domain.model import PROCESSES
from adapter.worker.parsing import ParsingWorkers
from adapter.worker.runtime import Runtime
from tests.support.synthetic import roster_xml, status_xml

from .conftest import OFFICE, Adapter, Broker, Collector, example, wait_until

pytestmark = pytest.mark.broker

HPRS = ["9144900", "7310428", "5522113"]
#: What `_inputs` gets back on the queues collected: 2 events, 4 AppRecs, 1 error report, 1 invalid
#: absence (the spoofed message's answer goes to a queue nobody declared).
ANSWERS = 8


def _inputs(adapter: Adapter) -> list[tuple[str, bytes, dict[str, object], str]]:
    """Accepted and refused messages of every kind, mixed in one stream: (queue, body, headers,
    content type)."""
    xml, absence = adapter.settings.inbound_queue, adapter.settings.absence_queue
    wrong_receiver = example("tjenestestatus-epj.xml").replace(b"8093244", b"8093245")
    return [
        (xml, example("behandleroversikt.xml"), {}, "application/xml"),
        (xml, example("tjenestestatus-ar-komplett.xml"), {}, "application/xml"),
        (xml, example("tjenestestatus-epj.xml"), {"fromHerId": "8141334"}, "application/xml"),  # spoofed (R13)
        (xml, b"not xml at all", {"fromHerId": str(OFFICE)}, "application/xml"),  # T01: error queue
        (xml, wrong_receiver, {}, "application/xml"),  # not for this adapter
        (xml, example("tjenestestatus-epj.xml"), {}, "application/xml"),
        (absence, b"{not json", {}, "application/json"),  # R14: the invalid path
        (absence, example("absence-registered.json"), {}, "application/json"),
        (xml, example("dialog-avsluttet.xml"), {"fromHerId": str(OFFICE)}, "application/xml"),
    ]


def _answers(collectors: list[Collector], start: list[int]) -> list[tuple[str, bytes, object]]:
    """What arrived on each queue since `start`: (queue, body, reason header), sorted."""
    return sorted(
        (c.name, m.body, (m.headers or {}).get("reason"))
        for c, first in zip(collectors, start, strict=True)
        for m in c.messages[first:]
    )


async def test_r15_refused_and_accepted_messages_get_the_same_answers_from_a_parsing_worker(
    adapter: Adapter, broker: Broker, tmp_path: Path
) -> None:
    """The same stream, parsed in process and then by a worker on a fresh store: the same events,
    AppRecs, error reports and invalid-absence replies, byte for byte (R12, R13, R14, R15)."""
    collectors = [
        await broker.collect(adapter.settings.portal_queue),
        await broker.collect(f"{OFFICE}_async"),
        await broker.collect(f"{OFFICE}_error"),
        await broker.collect(adapter.settings.absence_invalid_queue),
    ]
    inputs = _inputs(adapter)
    answers = []
    for workers in (0, 1):
        adapter.clock.set(dt.datetime.fromisoformat("2023-12-20T16:00:00+01:00"))
        adapter.settings = adapter.settings.model_copy(
            update={"parse_workers": workers, "store_url": f"sqlite:///{tmp_path / f'store-{workers}.sqlite3'}"}
        )
        start = [len(c.messages) for c in collectors]
        runtime = await adapter.start()
        for n, (queue, body, headers, content_type) in enumerate(inputs):
            await broker.publish(queue, body, headers=headers, content_type=content_type, message_id=f"input-{n}")
        await wait_until(lambda runtime=runtime: _items(runtime) == len(inputs), timeout=30, what="every input")
        await wait_until(
            lambda start=start: sum(len(c.messages) for c in collectors) - sum(start) == ANSWERS, what="the answers"
        )
        if workers:
            assert runtime.parser is not None and runtime.parser.parsed >= 5, "the worker parsed the accepted ones"
        await runtime.stop()
        answers.append(_answers(collectors, start))
    assert Counter(queue for queue, _, _ in answers[0]) == dict(
        zip((c.name for c in collectors), (2, 4, 1, 1), strict=True)
    )
    assert answers[1] == answers[0]


def _items(runtime: Runtime) -> int:
    assert runtime.processor is not None
    return runtime.processor.stats.items


async def _statuses(adapter: Adapter, broker: Broker, at: dt.datetime, count: int) -> None:
    for i in range(count):
        body = status_xml(
            OFFICE,
            HPRS[i % len(HPRS)],
            {p.value: (i // len(HPRS)) % 2 == 0 for p in PROCESSES},
            msg_id=str(uuid.uuid4()),
            gen_date=at + dt.timedelta(seconds=i + 1),
            ack="J",
        )
        await broker.publish(adapter.settings.inbound_queue, body)


async def _started_with_a_worker(adapter: Adapter, broker: Broker) -> tuple[Runtime, ParsingWorkers, Collector]:
    receipts = await broker.collect(f"{OFFICE}_async")
    adapter.clock.set(dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC))
    adapter.settings = adapter.settings.model_copy(update={"parse_workers": 1})
    runtime = await adapter.start()
    assert runtime.parser is not None and len(runtime.parser.pids) == 1
    roster = roster_xml(OFFICE, HPRS, msg_id=str(uuid.uuid4()), gen_date=dt.datetime(2024, 3, 1, 9, tzinfo=dt.UTC))
    await broker.publish(adapter.settings.inbound_queue, roster, headers={})
    await wait_until(lambda: _items(runtime) == 1, what="the roster")
    return runtime, runtime.parser, receipts


async def test_a_parsing_worker_killed_loses_no_delivery_and_is_replaced(adapter: Adapter, broker: Broker) -> None:
    """SIGKILL on the worker: the batch it held is parsed in process, every message is answered,
    and a new worker parses what follows."""
    runtime, parser, receipts = await _started_with_a_worker(adapter, broker)
    (pid,) = parser.pids
    os.kill(pid, signal.SIGKILL)
    at = dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)
    await _statuses(adapter, broker, at, 30)
    await wait_until(lambda: len(receipts.messages) == 30, timeout=30, what="an AppRec for every status")
    assert parser.restarts == 1
    assert parser.pids and parser.pids != [pid]
    await wait_until(lambda: parser.ready, what="the new worker started")
    parsed = parser.parsed
    await _statuses(adapter, broker, at + dt.timedelta(minutes=5), 6)
    await wait_until(lambda: len(receipts.messages) == 36, timeout=30, what="the AppRecs after the restart")
    assert parser.parsed > parsed, "the new worker parses"
    await runtime.stop()
    assert _items(runtime) == 37


async def test_a_parsing_worker_that_hangs_is_replaced_and_its_batch_answered(
    adapter: Adapter, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stopped (SIGSTOP) worker holds its batch only until the stall timeout; then it is killed,
    the batch is parsed in process and answered (and the next ones, while its successor starts)."""
    runtime, parser, receipts = await _started_with_a_worker(adapter, broker)
    monkeypatch.setattr(ParsingWorkers, "STALL_TIMEOUT", 2.0)
    (pid,) = parser.pids
    os.kill(pid, signal.SIGSTOP)
    await _statuses(adapter, broker, dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC), 3)
    await wait_until(lambda: len(receipts.messages) == 3, timeout=30, what="the AppRecs of the held batch")
    assert parser.restarts >= 1 and pid not in parser.pids
    await runtime.stop()
