"""A database written by an older release opens and is migrated in place (schema version in
meta.store.schema_version); what it held stays readable."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import psycopg

from adapter.store import open_store
from adapter.store.sql import SCHEMA_VERSION, SCHEMA_VERSION_KEY

SCHEMA_V1 = Path(__file__).parent / "data" / "schema-v1.sqlite3"
T0 = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)


async def test_a_store_of_release_0_1_0_opens_migrated_with_everything_it_held(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    shutil.copy(SCHEMA_V1, path)
    store = await open_store(f"sqlite:///{path}")
    try:
        async with store.transaction() as tx:
            assert await tx.get_meta(SCHEMA_VERSION_KEY) == str(SCHEMA_VERSION) == "3"
            assert await tx.get_office(8141333) == '{"roster":null}'
            assert await tx.get_pair(8141333, "9144900") == '{"seq":1}'
            assert await tx.conversation_closed(8141333, "conv-1")
            # A version-1 inbox row: the reply's body inside the outcome, none beside it.
            entry = await tx.inbox_entry("8141333", "msg-1")
            assert entry is not None and entry.reply_body is None
            assert json.loads(entry.outcome)["reply"]["body"] == "<AppRec><Status V='1'/></AppRec>"
            await tx.inbox_put("8141333", "msg-2", '{"receipt":{}}', T0, reply_body=b"<AppRec/>")
            second = await tx.inbox_entry("8141333", "msg-2")
            assert second is not None and second.reply_body == b"<AppRec/>"
        assert [row.message_id for row in await store.outbox_pending(10)] == ["apprec-msg-1"]
        assert await store.next_due() == T0 + dt.timedelta(days=1)
        assert await store.prune_outbox(T0 + dt.timedelta(seconds=1)) == 1
        assert await store.prune_inbox(T0 + dt.timedelta(seconds=1)) == 2
    finally:
        await store.close()
    again = await open_store(f"sqlite:///{path}")  # migrated once: opening again changes nothing
    try:
        async with again.transaction() as tx:
            assert await tx.get_meta(SCHEMA_VERSION_KEY) == "3"
    finally:
        await again.close()


async def test_a_version_1_postgresql_store_is_migrated(postgres_schema_url: str) -> None:
    store = await open_store(postgres_schema_url)
    await store.close()
    with psycopg.connect(postgres_schema_url, autocommit=True) as db:  # back to what 0.1.0 created
        db.execute("ALTER TABLE inbox DROP COLUMN reply_body")
        db.execute("DROP INDEX inbox_received_at")
        db.execute("UPDATE meta SET value = '1' WHERE key = %s", (SCHEMA_VERSION_KEY,))
        db.execute("INSERT INTO inbox (sender, msg_id, outcome, received_at) VALUES ('1', 'm', '{}', 0)")
    store = await open_store(postgres_schema_url)
    try:
        async with store.transaction() as tx:
            assert await tx.get_meta(SCHEMA_VERSION_KEY) == "3"
            entry = await tx.inbox_entry("1", "m")
            assert entry is not None and (entry.outcome, entry.reply_body) == ("{}", None)
            await tx.inbox_put("1", "n", "{}", T0, reply_body=b"<AppRec/>")
            assert (await tx.inbox_entry("1", "n")) == type(entry)("{}", b"<AppRec/>")
    finally:
        await store.close()


async def test_a_version_2_store_gains_the_timeline(tmp_path: Path, postgres_schema_url: str) -> None:
    """Schema 3 (issue 13) adds the timeline table; a version-2 store keeps what it held and gains it."""
    import sqlite3

    from adapter.store.base import TimelineEntry

    sqlite_url = f"sqlite:///{tmp_path / 'v2.sqlite3'}"
    for url in (sqlite_url, postgres_schema_url):
        store = await open_store(url)
        async with store.transaction() as tx:
            await tx.put_pair(1, "a", "{}", None)
        await store.close()
        statements = ("DROP TABLE timeline", f"UPDATE meta SET value = '2' WHERE key = '{SCHEMA_VERSION_KEY}'")
        if url == sqlite_url:
            with sqlite3.connect(tmp_path / "v2.sqlite3") as lite:
                for statement in statements:
                    lite.execute(statement)
        else:
            with psycopg.connect(url, autocommit=True) as db:
                for statement in statements:
                    db.execute(statement)
        store = await open_store(url)
        try:
            async with store.transaction() as tx:
                assert await tx.get_meta(SCHEMA_VERSION_KEY) == "3"
                assert await tx.get_pair(1, "a") == "{}"
                await tx.timeline_add([TimelineEntry(1, "a", T0, "clock", {"events": 1})])
            assert [e.detail for e in await store.timeline(1, "a", 5)] == [{"events": 1}]
        finally:
            await store.close()
