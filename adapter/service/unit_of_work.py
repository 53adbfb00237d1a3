"""One batch of work in one store transaction, with every item isolated from the others.

Items read states through a cache over the transaction and stage what they change through its
verbs — `save_office`, `save_pair`, `close_conversation`, `publish_event`, `reply`,
`record_receipt`, `record_timeline` — never through its staging. Each published event is also
entered in its pair's timeline (issue 13), where timelines are kept (not in a replay's private
store), so what a pair's timeline says was published always was. Only when an item is handled
without an unexpected exception are its changes merged into the batch; at the end the batch
writes everything once and commits: the inbox rows, the states and the outbox rows of every item
together, or nothing (exactly-once effects). A pair touched by many items in a batch is loaded
and written once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..domain import engine
from ..domain.engine import due_by, next_change, published_at
from ..domain.events import Availability, Event
from ..domain.model import Practitioner
from ..domain.state import OfficeState, PairState
from ..store.base import InboxEntry, OutboxMessage, PairKey, TimelineEntry, Transaction
from .decoded import DecodedStates
from .prepared import PreparedTicks


class Unknown:
    """Not given (None is a value: time alone changes nothing)."""


UNKNOWN = Unknown()


@dataclass
class Staged:
    """What one item changes; merged into the batch only if the item completes."""

    offices: dict[int, OfficeState] = field(default_factory=dict)
    pairs: dict[PairKey, PairState] = field(default_factory=dict)
    #: (sender, msg_id) → (outcome JSON, the reply's body, kept once beside it)
    inbox: dict[tuple[str, str], InboxEntry] = field(default_factory=dict)
    #: when each of `inbox` was received, and each of `closed` closed (the item's instant)
    received: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)
    closed: dict[tuple[int, str], dt.datetime] = field(default_factory=dict)
    outbox: list[OutboxMessage] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    #: how many of `outbox` are portal events
    events: int = 0


class BatchUnitOfWork:
    """Reads through a cache; `begin_item`/`commit_item`/`discard_item` stage one item's changes,
    kept only if it completes; `flush()` writes what the completed items changed."""

    def __init__(
        self,
        tx: Transaction,
        directory: dict[int, dict[str, Practitioner]] | None,
        now: dt.datetime,
        portal_queue: str,
        timeline: bool = True,
        prepared: PreparedTicks | None = None,
        decoded: DecodedStates | None = None,
    ):
        self._tx = tx
        #: ticks worked out ahead of their midnight (`prepared`): a pair stored as a prepared text
        #: is that entry's pair, and its tick to that midnight the prepared one
        self._prepared = prepared if prepared is not None else PreparedTicks()
        #: stored texts decoded, across batches when the processor keeps them (`decoded`): each
        #: read here is still made in this transaction, and reuses a state only for the very text
        self._decoded = decoded if decoded is not None else DecodedStates()
        #: whether the pairs' timelines are written (issue 13); handlers skip building their entries
        #: where they are not
        self.keeps_timeline = timeline
        self._directory = directory or {}
        self._now = now
        self._portal_queue = portal_queue
        self._offices: dict[int, OfficeState] = {}
        self._pairs: dict[PairKey, PairState | None] = {}
        #: stored rows (state text, next change) read for their availability only, not decoded
        #: whole (valid while the pair is not changed: a changed pair is staged or in `_pairs`,
        #: which come first)
        self._rows: dict[PairKey, tuple[str, dt.datetime | None] | None] = {}
        self._closed: dict[tuple[int, str], bool] = {}
        self._inbox: dict[tuple[str, str], InboxEntry | None] = {}
        #: a saved pair's next change, as the item that saved it knew it (the very state it was
        #: worked out for): `flush` writes it instead of working it out again at the batch's end,
        #: when the rules' remembered answers for the batch's first pairs have been forgotten
        self._next_changes: dict[PairKey, tuple[PairState, dt.datetime | None]] = {}
        self._committed = Staged()
        self._staged = Staged()
        self._item_now = now

    # -- reads: staged first, then what earlier items of the batch wrote, then the store --------

    async def office(self, her_id: int) -> OfficeState:
        if her_id in self._staged.offices:
            return self._staged.offices[her_id]
        if her_id not in self._offices:
            text = await self._tx.get_office(her_id)
            if text is not None:
                self._offices[her_id] = self._prepared.office(text, self._decoded.offices.decoder(her_id))
            else:  # R13: until a behandleroversikt arrives, the directory the adapter was started with
                self._offices[her_id] = OfficeState(her_id=her_id, roster=self._directory.get(her_id))
        return self._offices[her_id]

    async def pairs(self, office_her_id: int, hprs: set[str]) -> dict[str, PairState]:
        missing = [(office_her_id, h) for h in hprs if (office_her_id, h) not in self._pairs]
        if missing:
            rows = {key: self._rows.pop(key) for key in missing if key in self._rows}
            unread = [key for key in missing if key not in rows]
            found = await self._tx.get_pairs(unread) if unread else {}
            for key in missing:
                row = rows.get(key)
                text = row[0] if row is not None else found.get(key)
                self._pairs[key] = (
                    self._prepared.decode(text, self._decoded.pairs.decoder(key)) if text is not None else None
                )
        result: dict[str, PairState] = {}
        for hpr in hprs:
            pair = self._staged.pairs.get((office_her_id, hpr)) or self._pairs[(office_her_id, hpr)]
            if pair is not None:
                result[hpr] = pair
        return result

    async def availabilities_at(self, office_her_id: int, hprs: set[str], at: dt.datetime) -> dict[str, Availability]:
        """What each of these practitioners' pairs shows at `at` (R11: a change due by then applied
        on a copy), for those with a pair. A pair this batch has read or changed is ticked on a copy;
        any other is read as the store holds it, and parsed whole only when its next change is due
        by `at` (as `engine.stored_at` reads for the read API): the booking list asks this of every
        pair of an office, per item."""
        result: dict[str, Availability] = {}
        keys = [(office_her_id, h) for h in hprs]
        missing = [k for k in keys if k not in self._pairs and k not in self._staged.pairs and k not in self._rows]
        if missing:
            found = await self._tx.get_pair_rows(missing)
            self._rows.update((key, found.get(key)) for key in missing)
        for hpr in hprs:
            key = (office_her_id, hpr)
            pair = self._staged.pairs.get(key) or self._pairs.get(key)
            if pair is None and key not in self._pairs and (row := self._rows.get(key)) is not None:
                text, due = row
                if not due_by(due, at):  # nothing due: what was last published holds
                    result[hpr] = self._decoded.published.decoded(key, text)
                    continue
                pair = self._pairs[key] = self._prepared.decode(
                    text, self._decoded.pairs.decoder(key)
                )  # due: parsed whole
                del self._rows[key]
            if pair is not None:
                prepared = self._prepared.of(pair, at)
                # ticked on a copy only when a change is due
                result[hpr] = prepared.ticked.published if prepared is not None else published_at(pair, at)
        return result

    def tick(self, pair: PairState, until: dt.datetime) -> tuple[PairState, list[Event], dt.datetime | None]:
        """R11: `engine.tick` of the pair to `until`, and the ticked pair's next change (worked out
        at once, while the rules still remember what the tick evaluated: at the batch's end the
        answers for its first pairs are forgotten, `remembered.SIZE`); or, for a pair read from a
        text whose tick to `until` was prepared, that tick (the same answers, worked out ahead)."""
        if (prepared := self._prepared.of(pair, until)) is not None:
            return prepared.ticked, list(prepared.events), prepared.next_change
        ticked, events = engine.tick(pair, until)
        return ticked, events, next_change(ticked)

    async def pair(self, key: PairKey) -> PairState | None:
        return (await self.pairs(key[0], {key[1]})).get(key[1])

    async def conversation_closed(self, office_her_id: int, ref: str) -> bool:
        key = (office_her_id, ref)
        if key in self._staged.closed:
            return True
        if key not in self._closed:
            self._closed[key] = await self._tx.conversation_closed(office_her_id, ref)
        return self._closed[key]

    async def inbox_entry(self, sender: str, msg_id: str) -> InboxEntry | None:
        """What the inbox holds of that message (outcome and reply body), or None."""
        key = (sender, msg_id)
        if key in self._staged.inbox:
            return self._staged.inbox[key]
        if key not in self._inbox:
            self._inbox[key] = await self._tx.inbox_entry(sender, msg_id)
        return self._inbox[key]

    # -- verbs: what an item changes, kept only if the item completes -------------------------

    def save_office(self, office: OfficeState) -> None:
        self._staged.offices[office.her_id] = office

    def save_pair(self, pair: PairState, *, next_change_at: dt.datetime | Unknown | None = UNKNOWN) -> None:
        """`next_change_at`: the pair's next change (`engine.next_change`) when the caller has it
        at hand (a tick has just worked it out); otherwise `flush` works it out."""
        self._staged.pairs[pair.key] = pair
        if not isinstance(next_change_at, Unknown):
            self._next_changes[pair.key] = (pair, next_change_at)

    def close_conversation(self, office_her_id: int, ref: str) -> None:
        self._staged.closed[(office_her_id, ref)] = self._item_now

    def publish_event(self, event: Event) -> None:
        """A portal event, published after the commit (message id = event id)."""
        message, entry = self._prepared.published(event, self._portal_queue, self.keeps_timeline)
        self._staged.outbox.append(message)
        if entry is not None:
            self._staged.timeline.append(entry)
        self._staged.events += 1

    def reply(self, message: OutboxMessage) -> None:
        """Anything else sent after the commit: an AppRec, an error report, an invalid command."""
        self._staged.outbox.append(message)

    def record_receipt(self, sender: str, msg_id: str, record: str, reply_body: bytes | None = None) -> None:
        """The inbox row of an inbound message: a later copy of it is a duplicate (R12, R15).
        The AppRec's body is kept here once (the outbox's copy is pruned a day after sending)."""
        self._staged.inbox[(sender, msg_id)] = InboxEntry(record, reply_body)
        self._staged.received[(sender, msg_id)] = self._item_now

    def record_timeline(self, entries: list[TimelineEntry]) -> None:
        """Inputs that touched pairs, for their timelines (metadata only; see `timeline`)."""
        self._staged.timeline.extend(entries)

    # -- items ---------------------------------------------------------------------------------

    def begin_item(self, now: dt.datetime | None = None) -> None:
        """`now`: the instant this item is processed at, when not the batch's."""
        self._staged = Staged()
        self._item_now = now or self._now

    def commit_item(self) -> tuple[int, int]:
        """Keep the item's changes; returns how many portal events it published, and how many other
        outbox rows (replies)."""
        staged, into = self._staged, self._committed
        into.offices.update(staged.offices)
        into.pairs.update(staged.pairs)
        into.inbox.update(staged.inbox)
        into.received.update(staged.received)
        into.closed.update(staged.closed)
        into.outbox.extend(staged.outbox)
        into.timeline.extend(staged.timeline)
        self._offices.update(staged.offices)
        self._pairs.update(staged.pairs)
        self._inbox.update(staged.inbox)
        self._closed.update(dict.fromkeys(staged.closed, True))
        self._staged = Staged()
        return staged.events, len(staged.outbox) - staged.events

    def discard_item(self) -> None:
        self._staged = Staged()

    # -- the end of the batch --------------------------------------------------------------------

    def _next_change(self, key: PairKey, pair: PairState) -> dt.datetime | None:
        known = self._next_changes.get(key)
        return known[1] if known is not None and known[0] is pair else next_change(pair)

    async def flush(self) -> int:
        """Write everything the completed items changed; returns how many outbox rows were new."""
        done, tx = self._committed, self._tx
        decoded = self._decoded
        for her_id, office in done.offices.items():
            await tx.put_office(her_id, text := office.to_json())
            decoded.offices.remember(her_id, text, office)
        rows = [(*key, self._prepared.text_of(pair), self._next_change(key, pair)) for key, pair in done.pairs.items()]
        await tx.put_pairs(rows)
        # what the next batch reads of them, unless another writer changes them first (or this
        # transaction does not commit): then it reads another text, and decodes it
        for (her_id, hpr, text, _), pair in zip(rows, done.pairs.values(), strict=True):
            decoded.pairs.remember((her_id, hpr), text, pair)
            decoded.published.remember((her_id, hpr), text, pair.published)
        await tx.inbox_put_many(
            (sender, msg_id, entry.outcome, done.received[(sender, msg_id)], entry.reply_body)
            for (sender, msg_id), entry in done.inbox.items()
        )
        for office_her_id, ref in sorted(done.closed):
            await tx.close_conversation(office_her_id, ref, done.closed[(office_her_id, ref)])
        await tx.timeline_add(done.timeline)
        return await tx.outbox_add(*done.outbox) if done.outbox else 0
