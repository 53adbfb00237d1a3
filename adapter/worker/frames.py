"""The AMQP 0-9-1 frames of one persistent, mandatory publish, encoded here for the relay's hot path.

pamqp (aiormq's encoder) builds a method object and a properties object per message and encodes
each field through a generic table of types: about two thirds of the relay's CPU per published
row once a batch goes out in one write (issue 14). The outbox's rows need a small subset — a
routing key on the default exchange, a content type, a message id and a table of str, int and
bool headers — so `publish_frames` writes exactly the bytes pamqp writes for them
(tests/worker/test_frames.py compares the two) and returns None for anything else, which then
goes through pamqp as before.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

_FRAME_END = b"\xce"
_HEADER = struct.Struct(">BHI")  # frame type, channel, payload size
_PUBLISH = struct.pack(">HHH", 60, 40, 0) + b"\x00"  # Basic.Publish, ticket 0, exchange "" (default)
_CONTENT = struct.Struct(">HHQH")  # class Basic, weight 0, body size, property flags
#: Basic properties present: content-type, headers, delivery-mode, message-id (pamqp's flag bits).
_FLAGS = 0x8000 | 0x2000 | 0x1000 | 0x0080
_PERSISTENT = b"\x02"
_LONG = struct.Struct(">I")


def _short(text: str) -> bytes | None:
    encoded = text.encode()
    return bytes((len(encoded),)) + encoded if len(encoded) <= 255 else None


def _table(headers: Mapping[str, object]) -> bytes | None:
    """pamqp's field table for str, int and bool values (keys sorted), or None for anything else."""
    parts = []
    for key, value in sorted(headers.items()):
        name = _short(key) if isinstance(key, str) and len(key.encode()) <= 128 else None
        if name is None:
            return None
        parts.append(name)
        if value is True or value is False:
            parts.append(b"t\x01" if value else b"t\x00")
        elif type(value) is int:
            if -128 <= value <= 127:
                parts.append(struct.pack(">cb", b"b", value))
            elif -32768 <= value <= 32767:
                parts.append(struct.pack(">ch", b"s", value))
            elif 0 <= value <= 65535:
                parts.append(struct.pack(">cH", b"u", value))
            elif -2147483648 <= value <= 2147483647:
                parts.append(struct.pack(">ci", b"I", value))
            elif 0 <= value <= 4294967295:
                parts.append(struct.pack(">cI", b"i", value))
            elif -9223372036854775808 <= value <= 9223372036854775807:
                parts.append(struct.pack(">cq", b"l", value))
            else:
                return None
        elif type(value) is str:
            encoded = value.encode()
            parts.append(b"S" + _LONG.pack(len(encoded)) + encoded)
        else:
            return None
    body = b"".join(parts)
    return _LONG.pack(len(body)) + body


def publish_frames(
    channel: int,
    max_content_size: int,
    routing_key: str,
    message_id: str,
    content_type: str,
    headers: Mapping[str, object],
    body: bytes,
) -> bytes | None:
    """The method, header and body frames of a persistent, mandatory publish of `body` to
    `routing_key` on the default exchange, with these properties; None when pamqp must encode
    them (an empty or too long string, a header value of another type)."""
    key = _short(routing_key)
    kind = _short(content_type)
    ident = _short(message_id)
    table = _table(headers)
    if key is None or kind is None or ident is None or table is None or not content_type or not message_id:
        return None
    method = _PUBLISH + key + b"\x01"  # mandatory, not immediate
    content = _CONTENT.pack(60, 0, len(body), _FLAGS) + kind + table + _PERSISTENT + ident
    frames = [
        _HEADER.pack(1, channel, len(method)),
        method,
        _FRAME_END,
        _HEADER.pack(2, channel, len(content)),
        content,
        _FRAME_END,
    ]
    for start in range(0, len(body), max_content_size):
        chunk = body[start : start + max_content_size]
        frames += (_HEADER.pack(3, channel, len(chunk)), chunk, _FRAME_END)
    return b"".join(frames)
