"""Parse at the edge, decide in the transaction; handlers registered by command type."""

from __future__ import annotations

import datetime as dt
import json
import typing
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapter.bootstrap import default_settings, processor, routing
from adapter.domain.model import DeleteAbsence, RegisterAbsence
from adapter.messages.payloads import MessageCommand
from adapter.service import commands, handlers
from adapter.service.commands import Command, ResyncRequested, Work
from adapter.service.unit_of_work import BatchUnitOfWork
from adapter.store import Store, open_store
from adapter.worker.clock import ManualClock
from tests.support.synthetic import roster_xml, status_xml

NOW = dt.datetime(2024, 1, 8, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
OFFICE = 8200001


class WatchedStore:
    """A store that says whether a transaction is open (the test's eye on the edge)."""

    def __init__(self, store: Store):
        self._store = store
        self.in_transaction = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @asynccontextmanager
    async def transaction(self) -> Any:
        async with self._store.transaction() as tx:
            self.in_transaction = True
            try:
                yield tx
            finally:
                self.in_transaction = False


async def test_bytes_are_parsed_before_the_transaction_begins(monkeypatch: pytest.MonkeyPatch) -> None:
    store = WatchedStore(await open_store("sqlite:///:memory:"))
    parsed_inside: list[bool] = []
    real_parse = commands.parse_message

    def watched(*args: Any, **kwargs: Any) -> Any:
        parsed_inside.append(store.in_transaction)
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(commands, "parse_message", watched)
    service = processor(store, default_settings(), ManualClock(NOW))  # type: ignore[arg-type]
    batch = [
        Work(kind="xml", body=roster_xml(OFFICE, ["1000001"], msg_id="r1", gen_date=NOW, ack="J")),
        Work(
            kind="xml",
            body=status_xml(OFFICE, "1000001", {"Dialog_Innbygger_Timereservasjon": True}, msg_id="s1", gen_date=NOW),
        ),
        Work(kind="xml", body=b"<not-xml"),
    ]
    done = await service.process(batch)
    assert [d.receipt.status for d in done if d.receipt] == ["OK", "OK", "ERROR_QUEUE"]
    assert parsed_inside == [False, False, False], "parsing ran inside the store transaction"
    await store.close()


async def test_an_item_prepared_at_the_edge_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    store = await open_store("sqlite:///:memory:")
    service = processor(store, default_settings(), ManualClock(NOW))
    work = service.prepare(Work(kind="xml", body=roster_xml(OFFICE, ["1000001"], msg_id="r1", gen_date=NOW)))
    assert isinstance(work.parsed, commands.XmlMessage)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed twice")

    monkeypatch.setattr(commands, "parse_message", fail)
    assert (await service.process([work]))[0].ok
    await store.close()


async def test_a_parser_bug_hands_the_item_back_and_the_batch_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    store = await open_store("sqlite:///:memory:")
    service = processor(store, default_settings(), ManualClock(NOW))
    real_parse = commands.parse_message

    def buggy(body: bytes, **kwargs: Any) -> Any:
        if b"BUG" in body:
            raise KeyError("a bug in a parser")
        return real_parse(body, **kwargs)

    monkeypatch.setattr(commands, "parse_message", buggy)
    good = roster_xml(OFFICE, ["1000001"], msg_id="r1", gen_date=NOW)
    done = await service.process([Work(kind="xml", body=b"<BUG/>"), Work(kind="xml", body=good)])
    assert [d.ok for d in done] == [False, True]
    assert done[0].error_id == "unparsed"
    await store.close()


def test_every_command_the_edge_makes_has_one_handler() -> None:
    """All but a valid resync request, which is not handled inside a batch: the processor runs it
    between batches, in transactions of its own (`adapter.service.resync`)."""
    assert set(typing.get_args(Command)) == set(handlers.COMMAND_HANDLERS) | {ResyncRequested}
    assert ResyncRequested not in handlers.COMMAND_HANDLERS


def test_every_domain_command_has_one_decider() -> None:
    domain_commands = set(typing.get_args(MessageCommand)) | {RegisterAbsence, DeleteAbsence}
    assert domain_commands == set(handlers.DECIDERS)


def test_handlers_stage_through_the_unit_of_works_verbs_only() -> None:
    source = Path(handlers.__file__).read_text(encoding="utf-8")
    assert "uow.staged" not in source and "uow._" not in source
    assert not hasattr(BatchUnitOfWork, "staged")


def test_the_offices_a_batch_touches_are_known_before_its_transaction() -> None:
    from adapter.service.processor import offices

    clock = ManualClock(NOW)  # no store: parsing alone names the offices
    items = [
        Work(kind="xml", body=roster_xml(8200002, ["1000001"], msg_id="r1", gen_date=NOW)),
        Work(kind="xml", body=roster_xml(8200001, ["1000001"], msg_id="r2", gen_date=NOW)),
        Work(kind="xml", body=b"<not-xml"),  # nobody's office
        Work(kind="tick", key=(8200003, "1000001"), until=NOW),
    ]
    parsed = [commands.parse(work, clock.now(), routing(default_settings())) for work in items]
    assert offices(parsed) == [8200001, 8200002, 8200003]


async def test_items_of_one_batch_are_each_processed_at_their_own_instant() -> None:
    """A replay's batch holds a day of steps (Work.at): each item is parsed and decided at its
    own instant — its AppRec's GenDate, its events' effective_at, its inbox row's received time
    (from which R12's deduplication window runs) — and says how many portal events it published."""
    store = await open_store("sqlite:///:memory:")
    service = processor(store, default_settings(), ManualClock(NOW))
    later = NOW + dt.timedelta(hours=5)
    roster = roster_xml(OFFICE, ["1000001"], msg_id="r1", gen_date=NOW, ack="J")
    status = status_xml(OFFICE, "1000001", {"Dialog_Innbygger_Timereservasjon": True}, msg_id="s1", gen_date=later)
    done = await service.process([Work(kind="xml", body=roster), Work(kind="xml", body=status, at=later)])
    assert [d.receipt.status for d in done if d.receipt] == ["OK", "OK"]  # s1's GenDate is not in its future (R1)
    assert done[1].events == 2, "the GP's availability and the office's booking list"
    rows = await store.outbox_pending(100)
    events = [json.loads(r.body) for r in rows if r.routing_key == service.routing.portal_queue]
    assert [e["type"] for e in events] == ["availability.changed", "office.practitioners.changed"]
    assert {dt.datetime.fromisoformat(e["effective_at"]) for e in events} == {later}
    assert await store.prune_inbox(NOW + dt.timedelta(hours=1)) == 1, "only r1 was received before"
    await store.close()
