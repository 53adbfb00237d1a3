"""The broker work of the adapter without its logic, as the baseline of bench/throughput.py:
consume a message, publish two messages with publisher confirms, then acknowledge the input.

    python bench/raw_pipeline.py AMQP_URL INPUT_QUEUE OUT_A OUT_B COUNT PREFETCH
"""

from __future__ import annotations

import asyncio
import sys

import aio_pika


async def main(url: str, queue: str, out_a: str, out_b: str, count: int, prefetch: int) -> None:
    connection = await aio_pika.connect_robust(url)
    consume = await connection.channel()
    await consume.set_qos(prefetch_count=prefetch)
    publish = await connection.channel(publisher_confirms=True)
    done = asyncio.Event()
    seen = 0

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal seen
        body = message.body
        await asyncio.gather(
            publish.default_exchange.publish(
                aio_pika.Message(body[:600], delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=out_a
            ),
            publish.default_exchange.publish(
                aio_pika.Message(body[:1200], delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=out_b
            ),
        )
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
    try:  # the same event loop as `ddfl-adapter run`, for a fair comparison
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(url, queue, out_a, out_b, int(count), int(prefetch)))
