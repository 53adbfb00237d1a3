"""Counts the midnight burst's events on the portal's queue in a process of its own, as the portal
would, so its per-message cost (aio-pika builds a message object for each delivery) is not spent
on the adapter's event loop, which the burst measures (`bench/throughput.py --only midnight`).

    python bench/burst_counter.py AMQP_URL QUEUE

Prints `ready` once it consumes; then reads one line from stdin, the number of events to wait
for, and prints one JSON line when that many distinct message ids have arrived (or after 120 s):
how many deliveries, how many distinct ids, by `type` header, and `last`, the `time.perf_counter()`
of the last delivery (CLOCK_MONOTONIC: the same clock as the bench's own on Linux).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

import aio_pika

WAIT = 120.0


async def main(url: str, queue_name: str) -> None:
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=2000)
    ids: set[str | None] = set()
    by_type: Counter[str] = Counter()
    received, last = 0, 0.0
    arrived = asyncio.Event()

    async def count(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal received, last
        received += 1
        last = time.perf_counter()
        ids.add(message.message_id)
        by_type[str(message.headers.get("type", ""))] += 1
        arrived.set()

    queue = await channel.get_queue(queue_name)
    await queue.consume(count, no_ack=True)
    print("ready", flush=True)
    expected = int(await asyncio.to_thread(sys.stdin.readline))
    deadline = time.perf_counter() + WAIT
    while len(ids) < expected and time.perf_counter() < deadline:
        arrived.clear()
        try:
            await asyncio.wait_for(arrived.wait(), timeout=1.0)
        except TimeoutError:
            pass
    print(json.dumps({"received": received, "distinct": len(ids), "by_type": by_type, "last": last}), flush=True)
    await connection.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
