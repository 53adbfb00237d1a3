"""Clock ticks worked out ahead of their midnight (issue 14: the midnight burst).

A tick is a pure function of the pair's stored state and the instant (R11): `engine.tick` of the
decoded text, then the ticked pair's next change. At a midnight where thousands of absences
begin, decoding, ticking and working out the next change of each pair is most of the burst's
CPU, all of it after the midnight and before the first event can go out. In the minute before
such a midnight the scheduler works those ticks out (`Processor.prepare_ticks`), keyed by the
exact stored text each was worked out from. At the midnight, a pair whose stored text is still
that text is taken as prepared, not decoded and ticked again; a pair changed meanwhile (another
report, an absence) has another text and is ticked as always. What is published, stored and
when is therefore exactly what it would be without preparing: only the CPU moves ahead of the
midnight, into the quiet minute before it. The same holds for what follows from the tick alone:
the ticked pair's stored text, each event's outbox message and timeline entry (by the very event
object), and the pairs' offices decoded (by their stored text).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..domain import engine
from ..domain.events import Event
from ..domain.state import OfficeState, PairState
from ..messages.portal import portal_message
from ..store.base import OutboxMessage, TimelineEntry
from .timeline import event_entry


@dataclass(frozen=True)
class Prepared:
    """One pair's tick to `PreparedTicks.at`, worked out from the stored text it was decoded from."""

    #: the state decoded from the text (the unit of work is handed this very object)
    pair: PairState
    ticked: PairState
    events: tuple[Event, ...]
    #: the ticked pair's next change (`engine.next_change`): the store's due index as it is written
    next_change: dt.datetime | None
    #: the ticked pair as it is stored (`to_json`)
    ticked_text: str


class PreparedTicks:
    """The ticks to one instant worked out ahead, by stored text; at most `LIMIT` of them."""

    #: About 13 KB in memory each until the midnight is ticked (the decoded pair, its ticked copy
    #: and stored text, its events, their messages and timeline entries: +61–64 MiB of RSS for
    #: the bench's 5,000 pairs); a national midnight (about 5,000 GPs) fits with room, and a
    #: larger one prepares this many (the rest are ticked when due, as without preparing).
    LIMIT = 10_000

    def __init__(self) -> None:
        #: the instant the ticks are worked out to; None: nothing prepared
        self.at: dt.datetime | None = None
        #: the portal queue the events' messages were made for
        self._portal_queue = ""
        #: each prepared event's message and timeline entry, by the event's identity (kept with it)
        self._by_event: dict[int, tuple[Event, OutboxMessage, TimelineEntry | None]] = {}
        #: the offices of the prepared pairs, decoded, by stored text
        self._offices: dict[str, OfficeState] = {}
        self._by_text: dict[str, Prepared] = {}
        #: the same entries by the identity of their decoded pair, and of their ticked pair (each
        #: entry keeps both, so their ids are not reused while the entry lives)
        self._by_pair: dict[int, Prepared] = {}
        self._by_ticked: dict[int, Prepared] = {}

    def __len__(self) -> int:
        return len(self._by_text)

    def clear(self) -> None:
        for _ in self.forget():
            pass

    def forget(self, step: int = 512) -> Iterator[None]:
        """Forget every prepared tick at once (nothing is found any more, `at` is None), and
        return the steps that let their memory go, `step` entries a step: some 13 KB of objects an
        entry, whose freeing took 50–150 ms of the event loop at once at the end of a burst, while
        the relay still published it. Whatever is not stepped through is let go when the steps
        are dropped."""
        held: list[dict[Any, Any]] = [self._by_text, self._by_pair, self._by_ticked, self._by_event, self._offices]
        self.at = None
        self._by_text, self._by_pair, self._by_ticked, self._by_event, self._offices = {}, {}, {}, {}, {}
        return _let_go(held, step)

    def _to(self, at: dt.datetime, portal_queue: str) -> None:
        """Ticks to another instant (or for another queue) are forgotten: one midnight at a time."""
        if at != self.at or portal_queue != self._portal_queue:
            self.clear()
            self.at, self._portal_queue = at, portal_queue

    def add(self, at: dt.datetime, text: str, portal_queue: str) -> None:
        """Work out the tick to `at` of the pair stored as `text`, and its events' messages to
        `portal_queue` and timeline entries."""
        self._to(at, portal_queue)
        if text in self._by_text or len(self._by_text) >= self.LIMIT:
            return
        pair = PairState.from_json(text)
        ticked, events = engine.tick(pair, at)
        entry = Prepared(pair, ticked, tuple(events), engine.next_change(ticked), ticked.to_json())
        self._by_text[text] = entry
        self._by_pair[id(pair)] = entry
        self._by_ticked[id(ticked)] = entry
        for event in entry.events:
            self._by_event[id(event)] = (event, portal_message(event, portal_queue), event_entry(event))

    def add_office(self, at: dt.datetime, text: str, portal_queue: str) -> None:
        """Decode ahead the office stored as `text` (a prepared pair's)."""
        self._to(at, portal_queue)
        if text not in self._offices and len(self._offices) < self.LIMIT:
            self._offices[text] = OfficeState.from_json(text)

    def messages(self) -> list[OutboxMessage]:
        """The prepared events' outbox messages (what the midnight's commits will add)."""
        return [message for _, message, _ in self._by_event.values()]

    def office(self, text: str, decode: Callable[[str], OfficeState] = OfficeState.from_json) -> OfficeState:
        """The office stored as `text`: decoded ahead when it was (the same object), else by `decode`."""
        office = self._offices.get(text)
        return office if office is not None else decode(text)

    def decode(self, text: str, decode: Callable[[str], PairState] = PairState.from_json) -> PairState:
        """The pair stored as `text`: the prepared one when that text was prepared (the same
        object, so `of` finds its tick), else by `decode` (the processor's `DecodedStates`)."""
        entry = self._by_text.get(text)
        return entry.pair if entry is not None else decode(text)

    def of(self, pair: PairState, at: dt.datetime) -> Prepared | None:
        """What was prepared for this very pair (decoded by `decode`) ticked to `at`, if anything."""
        if at != self.at:
            return None
        entry = self._by_pair.get(id(pair))
        return entry if entry is not None and entry.pair is pair else None

    def published(self, event: Event, portal_queue: str, timeline: bool) -> tuple[OutboxMessage, TimelineEntry | None]:
        """The event's outbox message to `portal_queue` (`portal_message`) and, where `timeline`s
        are kept, its timeline entry (`event_entry`): made ahead when this very event is a
        prepared tick's."""
        known = self._by_event.get(id(event))
        if known is not None and known[0] is event and portal_queue == self._portal_queue:
            return known[1], known[2] if timeline else None
        return portal_message(event, portal_queue), event_entry(event) if timeline else None

    def text_of(self, pair: PairState) -> str:
        """`pair.to_json()`: written ahead when this very pair is a prepared tick's result."""
        entry = self._by_ticked.get(id(pair))
        return entry.ticked_text if entry is not None and entry.ticked is pair else pair.to_json()


def _let_go(held: list[dict[Any, Any]], step: int) -> Iterator[None]:
    """Empty these dicts, `step` entries between two yields (an entry's objects are freed with the
    last dict that holds them)."""
    for entries in held:
        while entries:
            for _ in range(min(step, len(entries))):
                entries.popitem()
            yield
