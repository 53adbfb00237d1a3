"""`replay --amqp-url` publishes only to queues of its own, receipts included: a replay must never
put AppRecs or error reports on the real `{sender}_async` / `{sender}_error` queues of the broker
it is pointed at."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aio_pika
import pytest

from adapter.cli import main

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "examples"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
OFFICE = 8141333

pytestmark = pytest.mark.broker


async def _ready(queue: str, *, purge: bool = False) -> int:
    connection = await aio_pika.connect_robust(AMQP_URL, timeout=5)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"})
        if purge:
            await declared.purge()
        return declared.declaration_result.message_count or 0
    finally:
        await connection.close()


def test_replay_on_a_real_broker_puts_no_receipt_on_the_senders_queues(capsys: pytest.CaptureFixture[str]) -> None:
    if not EXAMPLES.is_dir():
        pytest.skip("../shared/contract/examples is not beside this checkout")
    asyncio.run(_ready(f"{OFFICE}_async", purge=True))
    assert main(["replay", str(EXAMPLES / "scenario.yaml"), "--amqp-url", AMQP_URL]) == 0
    assert "undeliverable" not in capsys.readouterr().err
    assert asyncio.run(_ready(f"{OFFICE}_async")) == 0, "the replay's AppRecs went to the office's real queue"
