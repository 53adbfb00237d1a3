"""The relay's own encoding of a publish (issue 14) writes exactly the bytes aiormq's encoder
(pamqp) writes for the same publish, and declines what it does not cover, so that pamqp encodes
it as before. No broker: the bytes are compared."""

from __future__ import annotations

from typing import Any

import aiormq
from aiormq.abc import ChannelFrame
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from adapter.worker.frames import publish_frames

FRAME_MAX = 131_072 - 8  # aiormq's max_content_size at RabbitMQ's default frame_max


def pamqp_frames(channel: int, max_size: int, key: str, msg_id: str, kind: str, headers: Any, body: bytes) -> bytes:
    """What aiormq's `basic_publish` writes for a persistent, mandatory publish (its own steps)."""
    properties = aiormq.spec.Basic.Properties(message_id=msg_id, content_type=kind, headers=headers, delivery_mode=2)
    chunks = [body[i : i + max_size] for i in range(0, len(body), max_size)]
    frames: list[Any] = [
        aiormq.spec.Basic.Publish(exchange="", routing_key=key, mandatory=True),
        ContentHeader(properties=properties, body_size=len(body)),
        *(ContentBody(chunk) for chunk in chunks),
    ]
    return ChannelFrame.marshall(channel_number=channel, frames=frames).payload


texts = st.text(min_size=1, max_size=60)
values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 127, 128, -128, -129, 32767, 32768, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32]),
    st.text(max_size=300),
)


@settings(max_examples=300, deadline=None)
@given(
    channel=st.integers(1, 65535),
    key=texts,
    msg_id=texts,
    kind=st.sampled_from(["application/json", "application/xml", "text/plain; charset=utf-8"]),
    headers=st.dictionaries(st.text(min_size=1, max_size=40), values, max_size=5),
    body=st.one_of(st.binary(max_size=2_000), st.sampled_from([b"", b"x" * FRAME_MAX, b"y" * (FRAME_MAX + 1)])),
)
def test_a_publish_is_encoded_byte_for_byte_as_pamqp_encodes_it(
    channel: int, key: str, msg_id: str, kind: str, headers: dict[str, Any], body: bytes
) -> None:
    encoded = publish_frames(channel, FRAME_MAX, key, msg_id, kind, headers, body)
    if len(key.encode()) > 255 or len(msg_id.encode()) > 255:
        assert encoded is None
    else:
        assert encoded == pamqp_frames(channel, FRAME_MAX, key, msg_id, kind, headers, body)


def test_a_body_larger_than_a_frame_is_split_as_aiormq_splits_it() -> None:
    body = bytes(range(256)) * 1_200  # 307,200 bytes: three body frames at 131,064
    encoded = publish_frames(1, FRAME_MAX, "q", "m-1", "application/json", {"type": "x"}, body)
    assert encoded == pamqp_frames(1, FRAME_MAX, "q", "m-1", "application/json", {"type": "x"}, body)
    assert encoded is not None and encoded.count(b"\x03\x00\x01") >= 3


def test_what_it_does_not_cover_is_left_to_pamqp() -> None:
    def frames(**change: Any) -> bytes | None:
        publish: dict[str, Any] = {
            "routing_key": "q",
            "message_id": "m",
            "content_type": "application/json",
            "headers": {"type": "x"},
            "body": b"{}",
        } | change
        return publish_frames(1, FRAME_MAX, **publish)

    assert frames() is not None
    assert frames(headers={"at": 1.5}) is None, "a float"
    assert frames(headers={"big": 2**64}) is None, "an integer beyond 64 bits"
    assert frames(headers={"k" * 129: "v"}) is None, "a key pamqp would truncate"
    assert frames(headers={"nested": {"a": 1}}) is None, "a table"
    assert frames(content_type="") is None, "an empty property, which pamqp leaves out"
    assert frames(routing_key="r" * 256) is None, "a routing key beyond a short string"
