"""A RabbitMQ cluster behind one `DDFL_AMQP_URL`: the adapter connects to a live node and, when that
node dies, reconnects to another.

The URL names every node the way libpq and MongoDB do, one authority with comma-separated hosts;
credentials, vhost and query are shared, as they are across a cluster's nodes:

    amqp://user:pass@rabbit1:5672,rabbit2:5672,rabbit3/vhost?heartbeat=10     (a port defaults to 5672, amqps 5671)

Why this way: neither FastStream nor aio-pika takes several hosts (aio-pika issue #141), but aiormq,
underneath both, opens its socket through a replaceable `transport_factory`. `NodeRotation` is one:
each time a connection is needed it tries the nodes in turn, starting after the node of the last
connection (so the node that just died is tried last), with a short timeout per node. Everything
else stays the libraries' own and unchanged: aio-pika's robust connection notices the loss (at
once when the node's process dies and its socket is reset; after missed heartbeats when its machine
or network goes, so keep `heartbeat` short in the URL), reconnects, and restores channels, queues
and consumers on the new node; FastStream still owns the connection. The factory is handed to aiormq
by a two-line `RobustConnection` subclass, and that class to aio-pika's `connect_robust` through its
documented `connection_class` argument (FastStream keeps that call's arguments in
`_connection_kwargs`; a test pins it). Needs aiormq's `TransportFactory` (tested with aiormq 7.2.4).
The alternatives were worse: rotating `RobustConnection.url` has no hook between failed attempts,
wrapping aio-pika's private reconnect loop copies library internals, and a load balancer or DNS
name in front of the cluster is another moving part to run.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, cast

from aio_pika import RobustConnection, connect_robust
from aio_pika.abc import AbstractRobustConnection
from aiormq.connection import TCPTransportFactory, TLSTransportFactory, TransportFactory
from aiormq.exceptions import AMQPConnectionError
from faststream.rabbit import RabbitBroker
from yarl import URL

log = logging.getLogger("ddfl.broker")

NODE_CONNECT_TIMEOUT = 5.0
"""Seconds to wait for one node's TCP (and TLS) handshake before trying the next one: a dead host
on a real network drops packets instead of refusing them."""

DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671}


def amqp_urls(url: str) -> list[str]:
    """The URL of each node named in `url` (one URL per node, same credentials, vhost and query).

    >>> amqp_urls("amqp://u:p@h1:5672,h2:5673,h3/v?heartbeat=10")
    ['amqp://u:p@h1:5672/v?heartbeat=10', 'amqp://u:p@h2:5673/v?heartbeat=10', 'amqp://u:p@h3:5672/v?heartbeat=10']
    """
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in DEFAULT_PORTS:
        raise ValueError(f"not an AMQP URL (amqp:// or amqps://): {_redacted(url)}")
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    userinfo, at, hosts = authority.rpartition("@")
    nodes = []
    for host in hosts.split(","):
        host = host.strip()
        if not host:
            raise ValueError(f"empty host in AMQP URL: {_redacted(url)}")
        try:
            node = URL(f"{scheme}://{userinfo}{at}{host}{tail}")  # yarl validates host and port
        except ValueError as error:
            raise ValueError(f"{error} in AMQP URL: {_redacted(url)}") from None
        if node.explicit_port is None:
            node = node.with_port(DEFAULT_PORTS[scheme])
        nodes.append(str(node))
    return nodes


def _redacted(url: str) -> str:
    scheme, separator, rest = url.partition("://")
    _, at, after = rest.rpartition("@")
    return f"{scheme}{separator}***@{after}" if at else url


class NodeRotation(TransportFactory):
    """aiormq's transport factory over several nodes: the first that accepts the connection wins."""

    def __init__(self, nodes: list[URL], connect_timeout: float = NODE_CONNECT_TIMEOUT):
        if not nodes:
            raise ValueError("no nodes")
        self.nodes = nodes
        self.connect_timeout = connect_timeout
        self.current: URL | None = None
        self._next = 0

    async def create(self, url: URL, **kwargs: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        failures = []
        for step in range(len(self.nodes)):
            index = (self._next + step) % len(self.nodes)
            node = self.nodes[index]
            address = url.with_host(node.host or "").with_port(node.port)
            inner = TLSTransportFactory() if url.scheme == "amqps" else TCPTransportFactory()
            try:
                streams = await asyncio.wait_for(inner.create(address, **kwargs), self.connect_timeout)
            except (OSError, AMQPConnectionError, TimeoutError) as error:
                failures.append(f"{_node(node)}: {type(error).__name__}")
                log.info(
                    "broker node unreachable; trying the next",
                    extra={"event": "DDFL-BROKER-NODE-DOWN", "node": _node(node), "error": type(error).__name__},
                )
                continue
            self._next = (index + 1) % len(self.nodes)  # a reconnection starts after this node
            self.current = node
            log.info("connected to broker node", extra={"event": "DDFL-BROKER-NODE", "node": _node(node)})
            return streams
        raise AMQPConnectionError("no broker node reachable: " + ", ".join(failures))


def _node(url: URL) -> str:
    return f"{url.host}:{url.port}"


class ClusterConnection(RobustConnection):
    """aio-pika's robust connection, opening its sockets through a `NodeRotation`."""

    def __init__(self, url: URL, *, nodes: list[URL], **kwargs: Any):
        super().__init__(url, **kwargs)
        self.rotation = NodeRotation(nodes)
        self.kwargs["transport_factory"] = self.rotation  # passed on to aiormq.connect


def _connection_class(nodes: list[URL]) -> type[ClusterConnection]:
    """What aio_pika.connect_robust's `connection_class` is given: the class with its nodes bound."""
    return cast("type[ClusterConnection]", functools.partial(ClusterConnection, nodes=nodes))


def rabbit_broker(url: str, **kwargs: Any) -> RabbitBroker:
    """FastStream's RabbitBroker on every node `url` names (one node or several); `kwargs` are
    RabbitBroker's own. Its connection is a `ClusterConnection`, which `node()` reads."""
    nodes = [URL(u) for u in amqp_urls(url)]
    broker = RabbitBroker(str(nodes[0]), **kwargs)
    # FastStream passes these to aio_pika.connect_robust, whose `connection_class` is documented.
    broker._connection_kwargs["connection_class"] = _connection_class(nodes)
    return broker


async def connect(url: str, **kwargs: Any) -> AbstractRobustConnection:
    """aio_pika.connect_robust on every node `url` names, for code outside FastStream (replay, bench)."""
    nodes = [URL(u) for u in amqp_urls(url)]
    connection: AbstractRobustConnection = await connect_robust(
        str(nodes[0]), connection_class=_connection_class(nodes), **kwargs
    )
    return connection


def node(connection: AbstractRobustConnection | None) -> str | None:
    """The `host:port` of the node a connection (`ClusterConnection`) is on (for logs and tests), if any."""
    rotation = getattr(connection, "rotation", None)
    if connection is None or connection.is_closed or rotation is None or rotation.current is None:
        return None
    return _node(rotation.current)
