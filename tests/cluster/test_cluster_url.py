"""The multi-node `DDFL_AMQP_URL` and the node rotation, without a broker: local sockets stand in
for nodes (a listening one is alive, a closed port is a dead node)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiormq.exceptions import AMQPConnectionError
from yarl import URL

from adapter.worker.cluster import NodeRotation, amqp_urls


def test_one_node_is_the_url_itself_with_its_port() -> None:
    assert amqp_urls("amqp://guest:guest@127.0.0.1:5672/") == ["amqp://guest:guest@127.0.0.1:5672/"]
    assert amqp_urls("amqp://guest:guest@rabbit/") == ["amqp://guest:guest@rabbit:5672/"]
    assert amqp_urls("amqps://u:p@rabbit/") == ["amqps://u:p@rabbit:5671/"]


def test_several_nodes_share_credentials_vhost_and_query() -> None:
    assert amqp_urls("amqp://u:p@h1:5672,h2:5673,h3/v?heartbeat=10&name=ddfl") == [
        "amqp://u:p@h1:5672/v?heartbeat=10&name=ddfl",
        "amqp://u:p@h2:5673/v?heartbeat=10&name=ddfl",
        "amqp://u:p@h3:5672/v?heartbeat=10&name=ddfl",
    ]


def test_ipv6_hosts_an_encoded_password_and_no_path() -> None:
    assert amqp_urls("amqp://u:p%40ss@[::1]:5000,h2") == ["amqp://u:p%40ss@[::1]:5000", "amqp://u:p%40ss@h2:5672"]


@pytest.mark.parametrize(
    "url",
    [
        "amqp://user:s3cret@h1,,h2/",
        "amqp://user:s3cret@h1:port/",
        "http://user:s3cret@h1/",
        "amqp://user:s3cret@h1, /",
    ],
)
def test_a_malformed_url_is_refused_without_showing_the_password(url: str) -> None:
    with pytest.raises(ValueError) as refused:
        amqp_urls(url)
    assert "s3cret" not in str(refused.value)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def live_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_rotation_skips_a_dead_node_and_starts_after_the_last_node_used(live_port: int) -> None:
    dead = _dead_port()
    rotation = NodeRotation([URL(f"amqp://127.0.0.1:{dead}"), URL(f"amqp://127.0.0.1:{live_port}")])
    base = URL("amqp://guest:guest@127.0.0.1:1/")

    _, writer = await rotation.create(base)
    writer.close()
    assert rotation.current is not None and rotation.current.port == live_port

    # The next connection (the live node's connection died) tries the dead node first, then the
    # live one again: every node is tried once per attempt, the last one used last.
    _, writer = await rotation.create(base)
    writer.close()
    assert rotation.current.port == live_port


async def test_no_live_node_is_a_connection_error_naming_each_node() -> None:
    ports = [_dead_port(), _dead_port()]
    rotation = NodeRotation([URL(f"amqp://127.0.0.1:{p}") for p in ports])
    with pytest.raises(AMQPConnectionError) as refused:
        await rotation.create(URL("amqp://guest:guest@127.0.0.1:1/"))
    assert all(f"127.0.0.1:{p}" in str(refused.value) for p in ports)
    assert rotation.current is None


async def test_a_node_that_does_not_answer_is_given_up_after_the_timeout(live_port: int) -> None:
    # 192.0.2.0/24 is TEST-NET-1: never routed, so the handshake hangs or fails at once.
    rotation = NodeRotation([URL("amqp://192.0.2.1:5672"), URL(f"amqp://127.0.0.1:{live_port}")], connect_timeout=0.3)
    started = asyncio.get_running_loop().time()
    _, writer = await rotation.create(URL("amqp://guest:guest@127.0.0.1:1/"))
    writer.close()
    assert rotation.current is not None and rotation.current.port == live_port
    assert asyncio.get_running_loop().time() - started < 3
