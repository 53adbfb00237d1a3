"""The replicas' and retention's pieces as the composition root wires them (no broker needed): office
locks through the real processor on two PostgreSQL connections, the clock's role, retention from the
settings, the AppRec stored once, and a second process on one SQLite store refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest

from adapter.bootstrap import build, default_settings, processor
from adapter.domain.model import PROCESSES
from adapter.service.processor import Work
from adapter.store import open_store
from adapter.store.base import StoreContention, StoreInUse
from adapter.worker.clock import ManualClock
from adapter.worker.pipeline import Pipeline
from adapter.worker.scheduler import Scheduler
from tests.support.synthetic import roster_xml, status_xml

NOW = dt.datetime(2024, 1, 2, 12, tzinfo=dt.UTC)
A, B = 8141333, 8141334


def _roster(office: int, hprs: list[str], msg_id: str) -> bytes:
    return roster_xml(office, hprs, msg_id=msg_id, gen_date=NOW - dt.timedelta(days=1), ack="J")


def _status(office: int, hpr: str, msg_id: str, on: bool) -> bytes:
    statuses = {p.value: on for p in PROCESSES}
    return status_xml(office, hpr, statuses, msg_id=msg_id, gen_date=NOW - dt.timedelta(minutes=5), ack="J")


@pytest.mark.postgres
async def test_crossing_batches_on_two_replicas_lock_their_offices_in_one_order(postgres_schema_url: str) -> None:
    """Batch 1 touches A then B, batch 2 B then A, at once on two connections, many times over: the
    offices are locked in HER-id order before any read, so neither deadlocks, nothing is handed back
    and every pair ends with exactly one event per change."""
    one, two = await open_store(postgres_schema_url), await open_store(postgres_schema_url)
    try:
        clock = ManualClock(NOW)
        settings = default_settings(portal_queue="portal")
        retried: list[StoreContention] = []
        first, second = (processor(s, settings, clock, on_contention=retried.append) for s in (one, two))
        hprs = [str(9000000 + i) for i in range(20)]
        await first.process([Work(kind="xml", body=_roster(o, hprs, f"roster-{o}")) for o in (A, B)])
        for round_ in range(10):
            on = round_ % 2 == 0
            crossing = await asyncio.gather(
                first.process(
                    [
                        Work(kind="xml", body=_status(o, h, f"r{round_}-1-{o}-{h}", on))
                        for o in (A, B)
                        for h in hprs[:10]
                    ]
                ),
                second.process(
                    [
                        Work(kind="xml", body=_status(o, h, f"r{round_}-2-{o}-{h}", on))
                        for o in (B, A)
                        for h in hprs[10:]
                    ]
                ),
            )
            assert all(done.ok and done.receipt and done.receipt.status == "OK" for batch in crossing for done in batch)
        rows = await one.outbox_pending(10_000)
        published = [json.loads(r.body) for r in rows if r.routing_key == "portal"]
        events = [e for e in published if e["type"] == "availability.changed"]
        sequences: dict[tuple[int, str], list[int]] = {}
        for event in events:
            sequences.setdefault((event["office_her_id"], event["practitioner_hpr"]), []).append(event["sequence"])
        assert len(sequences) == 40 and all(s == list(range(1, 11)) for s in sequences.values())
        assert len({e["event_id"] for e in events}) == len(events) == 400
        # Each GP switched on or off changes its office's booking list once: both replicas number
        # the same office's lists, and the office lock keeps them without gaps.
        lists: dict[int, list[int]] = {}
        for event in published:
            if event["type"] == "office.practitioners.changed":
                lists.setdefault(event["office_her_id"], []).append(event["sequence"])
        assert lists == {A: list(range(1, 201)), B: list(range(1, 201))}
        assert retried == [], "the locks come first and in order: nothing to retry"
    finally:
        await one.close()
        await two.close()


@pytest.mark.postgres
async def test_only_one_replicas_clock_ticks_and_a_standby_takes_over_when_it_stops(postgres_schema_url: str) -> None:
    one, two = await open_store(postgres_schema_url), await open_store(postgres_schema_url)
    try:
        clock = ManualClock(NOW)
        settings = default_settings(portal_queue="portal")
        pipelines = [Pipeline(processor(s, settings, clock), 16) for s in (one, two)]
        for pipeline in pipelines:
            pipeline.start()
        leader, standby = (Scheduler(s, p, clock) for s, p in zip((one, two), pipelines, strict=True))
        assert await leader.catch_up() == 0 and leader.leading
        assert await standby.catch_up() == 0 and not standby.leading
        await leader.stop()  # resigns the role
        assert not leader.leading
        await standby.catch_up()
        assert standby.leading
        await standby.stop()
        for pipeline in pipelines:
            await pipeline.stop()
    finally:
        await one.close()
        await two.close()


async def test_the_apprec_is_stored_once_beside_the_inbox_record_and_a_duplicate_gets_it(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    try:
        service = processor(store, default_settings(portal_queue="portal"), ManualClock(NOW))
        roster = _roster(A, ["9144900"], "roster-1")
        (first,) = await service.process([Work(kind="xml", body=roster)])
        (again,) = await service.process([Work(kind="xml", body=roster)])
        assert (first.receipt and first.receipt.status, again.receipt and again.receipt.status) == ("OK", "DUPLICATE")
        async with store.transaction() as tx:
            entry = await tx.inbox_entry(str(A), "roster-1")
        assert entry is not None and entry.reply_body is not None
        assert "body" not in json.loads(entry.outcome)["reply"], "the AppRec is not kept twice"
        apprecs = [r for r in await store.outbox_pending(100) if r.routing_key == f"{A}_async"]
        assert [r.message_id.split("-again-")[0] for r in apprecs] == ["apprec-roster-1"] * 2
        assert apprecs[0].body == apprecs[1].body == entry.reply_body
    finally:
        await store.close()


async def test_retention_runs_with_the_settings_windows_down_to_seconds(tmp_path: Path) -> None:
    settings = default_settings(
        store_url=f"sqlite:///{tmp_path / 's.sqlite3'}",
        http_port=None,
        retention_outbox_sent=5,
        retention_inbox="PT30S",
        retention_closed_conversations=60,
        retention_interval=2.5,
        retention_batch=7,
    )
    runtime = build(settings, clock=ManualClock(NOW))
    await runtime.open()
    try:
        retention = runtime.retention
        assert retention is not None
        windows = retention.windows
        assert (windows.outbox_sent, windows.inbox, windows.closed_conversations) == (
            dt.timedelta(seconds=5),
            dt.timedelta(seconds=30),
            dt.timedelta(seconds=60),
        )
        assert await retention.prune_once() is not None  # one process on SQLite: it leads
        assert (await runtime.checks())["retention"] is False  # not started: /health says so
    finally:
        await runtime.close()


async def test_a_second_process_on_one_sqlite_store_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    settings = default_settings(store_url=f"sqlite:///{tmp_path / 's.sqlite3'}", http_port=None)
    first = build(settings, clock=ManualClock(NOW))
    await first.open()
    try:
        second = build(settings, clock=ManualClock(NOW))
        with pytest.raises(StoreInUse, match=r"in use by another process.*PostgreSQL"):
            await second.open()
    finally:
        await first.close()
