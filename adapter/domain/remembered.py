"""Answers remembered by the identity of the immutable state they were computed from.

One fact applied, or one clock tick, asks the same question of the same state several times
(R11: when does the pair change next, what does it show then), and the midnight burst asks it
for thousands of pairs in one batch: the booking list ticks every pair of an office on a copy,
then each pair's own tick asks again, and the store's due index once more as the pair is written.
States are immutable and their maps are never changed in place (the engine builds new ones), so
an answer holds as long as the very same object is asked about. Each entry keeps its object, so
its `id` cannot be reused while the entry lives. Bounded: when full, everything is forgotten at
once (cheaper than tracking use; the answers are asked for again within one batch, not later).
"""

from __future__ import annotations

from typing import Generic, TypeVar

V = TypeVar("V")

#: Enough for every pair of a batch of clock ticks (the pipeline's 256, with their office's other
#: pairs for the booking list) and a few dates each. Each cache keeps at most that many states
#: alive (a pair is about 12 KB in memory; most entries of the caches share their states).
SIZE = 1024


class Remembered(Generic[V]):
    """A bounded map from (an object's identity, a hashable `at`) to an answer about it."""

    def __init__(self, size: int = SIZE) -> None:
        self._size = size
        self._entries: dict[tuple[int, object], tuple[object, V]] = {}

    def get(self, of: object, at: object = None) -> tuple[V] | None:
        """`(answer,)` when one is remembered for this very object at `at`, else None."""
        entry = self._entries.get((id(of), at))
        return (entry[1],) if entry is not None and entry[0] is of else None

    def put(self, of: object, at: object, answer: V) -> V:
        """Remember `answer` for `of` at `at`; returns it."""
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[(id(of), at)] = (of, answer)
        return answer

    def __len__(self) -> int:
        return len(self._entries)
