"""Writes schema-v1.sqlite3: a store as release 0.1.0 (schema version 1) left it.

Run it with a checkout of that release first on the path (the store code of the release, not
this one): `PYTHONPATH=/path/to/0.1.0 python tests/store/data/make_schema_v1.py`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path

from adapter.store import OutboxMessage, open_store

T0 = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
APPREC = b"<AppRec><Status V='1'/></AppRec>"


async def main(path: Path) -> None:
    path.unlink(missing_ok=True)
    store = await open_store(f"sqlite:///{path}")
    outcome = {
        "receipt": {"kind": "xml", "id": "msg-1", "outcome": "OK", "codes": [], "error_condition": None},
        "reply": {
            "routing_key": "8141333_async",
            "message_id": "apprec-msg-1",
            "body": APPREC.decode(),
            "headers": {"fromHerId": 8093244, "toHerId": 8141333},
            "content_type": "application/xml",
        },
    }
    async with store.transaction() as tx:
        await tx.put_office(8141333, '{"roster":null}')
        await tx.put_pair(8141333, "9144900", '{"seq":1}', T0 + dt.timedelta(days=1))
        await tx.inbox_put("8141333", "msg-1", json.dumps(outcome), T0)
        await tx.close_conversation(8141333, "conv-1", T0)
        await tx.outbox_add(
            OutboxMessage("portal.availability", "8141333-9144900-1", b"{}", created_at=T0),
            OutboxMessage("8141333_async", "apprec-msg-1", APPREC, content_type="application/xml", created_at=T0),
        )
    rows = await store.outbox_pending(10)
    await store.outbox_mark_sent([rows[0].id], T0)
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("schema-v1.sqlite3")))
