"""The publisher encodes a midnight's messages ahead (`AmqpPublisher.encode_ahead`, issue 14's
burst): on the real RabbitMQ, a row read back from the store is written with exactly the frames
it would have been encoded to when published, and arrives as it always did; a row that is not the
message encoded (another body under the same id), or a row on another channel, is encoded when
published; frames written once are not used again (a retry encodes anew); none forgets them."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from pathlib import Path

import aiormq
import orjson
import pytest

from adapter.store import open_store
from adapter.store.base import OutboxMessage, OutboxRow
from adapter.worker.amqp import AmqpPublisher, _Ahead, _as_read, _frames

from .conftest import Broker, Collector, wait_until

pytestmark = pytest.mark.broker


def _message(i: int, queue: str) -> OutboxMessage:
    # headers not in sorted order: the store writes (and reads back) them sorted
    return OutboxMessage(
        routing_key=queue,
        message_id=f"ahead-{i}",
        body=f'{{"n": {i}, "text": "ærlig"}}'.encode(),
        headers={"type": "availability.changed", "sequence": i, "absent": None},
        content_type="application/json",
    )


async def _as_stored(tmp_path: Path, messages: list[OutboxMessage]) -> list[OutboxRow]:
    """The rows the relay reads back once these messages are committed."""
    store = await open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        async with store.transaction() as tx:
            await tx.outbox_add(*messages)
        return await store.outbox_pending(len(messages) + 1)
    finally:
        await store.close()


async def _publishing(
    broker: Broker, tmp_path: Path, count: int, *bodies: bytes
) -> tuple[Collector, AmqpPublisher, list[OutboxMessage], list[OutboxRow]]:
    """A queue consumed, a publisher, `count` messages to it (then one with each of `bodies`) and
    their rows as stored."""
    queue = f"t-ahead-{uuid.uuid4().hex[:10]}"
    messages = [_message(i, queue) for i in range(count)]
    messages += [replace(_message(count + i, queue), body=body) for i, body in enumerate(bodies)]
    return (
        await broker.collect(queue),
        AmqpPublisher(lambda: broker.connection),
        messages,
        await _as_stored(tmp_path, messages),
    )


async def test_rows_of_messages_encoded_ahead_are_written_with_the_frames_they_would_have_had(
    broker: Broker, tmp_path: Path
) -> None:
    large = bytes(range(256)) * 2_000  # 512 kB: split over frames (frame_max 128 kB), so not kept
    collected, publisher, messages, rows = await _publishing(broker, tmp_path, 150, large)  # > one AHEAD_STEP
    assert await publisher.encode_ahead(messages) == 150
    assert publisher._ahead["ahead-0"].body is messages[0].body, "the message's own bytes, not a copy"
    channel = await (await publisher._channel_ready()).get_underlay_channel()
    assert isinstance(channel, aiormq.Channel)
    assert all(publisher._ahead[row.message_id].frames == _frames(channel, row) for row in rows[:150]), "exact"

    assert await publisher.publish(rows) == [None] * 151
    assert publisher.written_ahead == 150 and not publisher._ahead, "each used once, then let go"
    await wait_until(lambda: len(collected.messages) == 151, what="the 151 rows")
    got = collected.messages
    assert [m.message_id for m in got] == [row.message_id for row in rows]
    assert [m.body for m in got] == [row.body for row in rows] and got[150].body == large
    assert got[3].headers == {"sequence": 3, "type": "availability.changed"}, "None headers left out, as always"

    # published again (a confirm lost, say): encoded anew, the same message
    assert await publisher.publish(rows[:1]) == [None]
    assert publisher.written_ahead == 150
    await wait_until(lambda: len(collected.messages) == 152, what="the row published again")
    assert collected.messages[-1].body == rows[0].body


async def test_a_row_that_is_not_the_message_encoded_or_on_another_channel_is_encoded_when_published(
    broker: Broker, tmp_path: Path
) -> None:
    collected, publisher, messages, rows = await _publishing(broker, tmp_path, 4)
    changed = [
        replace(rows[0], body=b'{"n": "another"}'),
        replace(rows[1], headers={"type": "other"}),
        replace(rows[2], content_type="text/plain"),
        rows[3],
    ]
    await publisher.encode_ahead(messages)
    assert await publisher.publish(changed) == [None] * 4
    assert publisher.written_ahead == 1, "only the row that is the message encoded"
    await wait_until(lambda: len(collected.messages) == 4, what="the 4 rows")
    got = collected.messages
    assert got[0].body == b'{"n": "another"}'
    assert got[1].headers == {"type": "other"}
    assert got[2].content_type == "text/plain"

    await publisher.encode_ahead(messages)
    await publisher._drop_channel()  # the frames are the old channel's: a new one encodes anew
    assert await publisher.publish(rows) == [None] * 4
    assert publisher.written_ahead == 1
    await wait_until(lambda: len(collected.messages) == 8, what="the rows on the new channel")
    assert [m.body for m in collected.messages[4:]] == [row.body for row in rows]

    await publisher.encode_ahead(messages)
    assert await publisher.encode_ahead([]) == 0 and not publisher._ahead, "none forgets them"


def test_frames_ahead_are_compared_with_the_row_not_trusted_by_message_id() -> None:
    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    row = OutboxRow(1, "q", "m", b"body", {"a": 1, "b": "x"}, "application/json", created)
    read = _as_read(OutboxMessage("q", "m", b"body", {"b": "x", "a": 1}))
    assert list(read.headers) == ["a", "b"], "as the store reads them back: keys sorted"
    ahead = _Ahead("q", read.body, "application/json", orjson.dumps(read.headers), b"head")
    assert ahead.frames == b"headbody\xce"
    assert ahead.fits(row)
    assert ahead.fits(
        OutboxRow(2, "q", "m", b"body", {"a": 1, "b": "x"}, "application/json", created + dt.timedelta(1))
    )
    assert not ahead.fits(OutboxRow(1, "q", "m", b"body", {"b": "x", "a": 1}, "application/json", created)), "order"
    assert not ahead.fits(OutboxRow(1, "q", "m", b"body", {"a": True, "b": "x"}, "application/json", created))
    assert not ahead.fits(OutboxRow(1, "q", "m", b"body", {"a": 1.0, "b": "x"}, "application/json", created))
    assert not ahead.fits(OutboxRow(1, "r", "m", b"body", {"a": 1, "b": "x"}, "application/json", created))
    assert not ahead.fits(OutboxRow(1, "q", "m", b"bodY", {"a": 1, "b": "x"}, "application/json", created))
    assert not ahead.fits(OutboxRow(1, "q", "m", b"body", {"a": 1, "b": "x"}, "text/plain", created))
    assert not ahead.fits(OutboxRow(1, "q", "m", b"body", {"a": object()}, "application/json", created))
