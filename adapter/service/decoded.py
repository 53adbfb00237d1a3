"""Stored states decoded once per text, across batches: what every batch would decode again.

The booking list is rebuilt from every pair of an office (issue 12), so each batch that changes
an office's list reads and decodes the published part of all its other pairs, and each batch
decodes the office itself; a unit of work's own cache lives one batch (issue 14: about 1.1–1.3 ms
of CPU a message where the list changes, 50 pairs an office).

Here decoding is remembered across batches, keyed on what the transaction itself reads: the
stored text. A batch still reads every row it needs in its own transaction (under its office
locks), and is handed the remembered state only when the text it read is exactly the text that
state was decoded from, so what it sees is what decoding that text gives, whatever wrote it:
another replica on the same PostgreSQL, a resync, retention, or this process in a transaction
that then rolled back. Decoding is a pure function of the text and states are immutable (the
engine builds new ones, never changes a map in place), so one decoded state may be handed to many
batches. Bounded: the least recently used key is forgotten first.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from ..domain.events import Availability
from ..domain.persisted import load_published
from ..domain.state import OfficeState, PairState

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: How many pairs' published parts are kept: every pair of the offices a worker is busy with
#: (the benches' 40 offices of 50 GPs), some 4 KB each with its text (the national replay's
#: peak memory: 219 MiB on main, 236 with 4,096 of them).
PUBLISHED = 2048
#: How many pairs' whole states (read whole when a change is due, or to be changed): few, since
#: a pair is some 12 KB in memory and is seldom changed again before a thousand others are
#: (the benches' traffic), so more would hold memory (the national replay's 250 MB) for no gain.
PAIRS = 256
#: How many offices (their roster and last booking list; tens of KB each with 50 practitioners).
OFFICES = 256


class ByText(Generic[K, V]):
    """A bounded map from a key to the text last read under it and what that text decodes to."""

    def __init__(self, decode: Callable[[str], V], size: int) -> None:
        self._decode = decode
        self._size = size
        self._entries: dict[K, tuple[str, V]] = {}

    def decoded(self, key: K, text: str) -> V:
        """What `text` decodes to: remembered when it is the very text last decoded under `key`."""
        entry = self._entries.pop(key, None)  # put back last: the most recently used
        if entry is not None and entry[0] == text:
            self._entries[key] = entry
            return entry[1]
        value = self._decode(text)
        self.remember(key, text, value)
        return value

    def decoder(self, key: K) -> Callable[[str], V]:
        """`decoded` under `key`, as a function of the text (for a caller that may not need it)."""
        return lambda text: self.decoded(key, text)

    def remember(self, key: K, text: str, value: V) -> None:
        """`value` is what `text` decodes to, without decoding it: a state as it is being written
        (states read back as they were written: tests/domain/test_persisted.py)."""
        self._entries.pop(key, None)
        if len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (text, value)

    def __len__(self) -> int:
        return len(self._entries)


def _published(text: str) -> Availability:
    return load_published(text)[0]


class DecodedStates:
    """A worker's stored states decoded, by the text each was read as (one per processor)."""

    def __init__(self, *, published: int = PUBLISHED, pairs: int = PAIRS, offices: int = OFFICES) -> None:
        self.published: ByText[tuple[int, str], Availability] = ByText(_published, published)
        self.pairs: ByText[tuple[int, str], PairState] = ByText(PairState.from_json, pairs)
        self.offices: ByText[int, OfficeState] = ByText(OfficeState.from_json, offices)
