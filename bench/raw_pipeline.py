"""The broker work of the adapter without its logic, as the baselines of bench/throughput.py:
consume a message, publish two messages with publisher confirms, then acknowledge the input.

    python bench/raw_pipeline.py AMQP_URL INPUT_QUEUE OUT_A OUT_B COUNT PREFETCH [pipelined|naive]

pipelined (default): a consuming channel and a confirming channel; each delivery's two publishes
    are awaited together, deliveries are handled concurrently up to PREFETCH.
naive: the loop as this field's own tools write it: one channel with confirms for everything, each
    publish awaited before the next, then the ack (run it with a prefetch of 100).
"""

from __future__ import annotations

import asyncio
import sys

import aio_pika


async def main(url: str, queue: str, out_a: str, out_b: str, count: int, prefetch: int, mode: str) -> None:
    connection = await aio_pika.connect_robust(url)
    consume = await connection.channel(publisher_confirms=mode == "naive")
    await consume.set_qos(prefetch_count=prefetch)
    publish = consume if mode == "naive" else await connection.channel(publisher_confirms=True)
    done = asyncio.Event()
    seen = 0

    def outputs(body: bytes) -> list[tuple[aio_pika.Message, str]]:
        return [
            (aio_pika.Message(body[:600], delivery_mode=aio_pika.DeliveryMode.PERSISTENT), out_a),
            (aio_pika.Message(body[:1200], delivery_mode=aio_pika.DeliveryMode.PERSISTENT), out_b),
        ]

    async def pipelined(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await asyncio.gather(*(publish.default_exchange.publish(m, routing_key=k) for m, k in outputs(message.body)))

    async def naive(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        for m, k in outputs(message.body):
            await publish.default_exchange.publish(m, routing_key=k)

    publish_all = naive if mode == "naive" else pipelined

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal seen
        await publish_all(message)
        await message.ack()
        seen += 1
        if seen >= count:
            done.set()

    input_queue = await consume.get_queue(queue)
    await input_queue.consume(handle)
    print("READY", flush=True)
    await done.wait()
    await connection.close()


if __name__ == "__main__":
    url, queue, out_a, out_b, count, prefetch = sys.argv[1:7]
    mode = sys.argv[7] if len(sys.argv) > 7 else "pipelined"
    if mode not in ("pipelined", "naive"):
        raise SystemExit(f"unknown mode {mode!r}")
    try:  # the same event loop as `ddfl-adapter run`, for a fair comparison
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(url, queue, out_a, out_b, int(count), int(prefetch), mode))
