"""Serving the read API with uvicorn: as its own process (`ddfl-adapter api`) or inside the worker.

Either way it reads the store through a connection of its own (`reads.open_reader`), so it can run
beside `ddfl-adapter run` on the same store, and as many API processes as reads need. Inside the
worker the same app serves `/health` and `/metrics` (`ddfl-adapter run`, DDFL_HTTP_PORT); alone,
its `/health` checks its own store connection.

The listening socket is bound before uvicorn starts, so a port in use is an ordinary OSError
(EADDRINUSE) for the caller to report in one line: uvicorn itself would log and `sys.exit(1)`.
uvicorn logs through the adapter's handler (`log_config=None`; see `configure_logging`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
import socket
from collections.abc import Callable, Iterator

import uvicorn
from fastapi import FastAPI

from .app import Healthy, create_app
from .reads import Reader, open_reader


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process that embeds the API owns SIGTERM/SIGINT
    (uvicorn's own would re-raise the signal after shutting down: exit status -15, not 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """The API on a port, started and stopped with the process that embeds it."""

    def __init__(
        self,
        reader: Reader,
        now: Callable[[], dt.datetime],
        port: int,
        host: str = "127.0.0.1",
        healthy: Healthy | None = None,
        console_token: str | None = None,
    ) -> None:
        app = create_app(reader, now, healthy=healthy, console_token=console_token)
        self._server = _EmbeddedServer(_config(app, host, port))
        self._host, self._port = host, port
        self._reader = reader
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        servers = self._server.servers
        return int(servers[0].sockets[0].getsockname()[1]) if servers else 0

    async def start(self) -> None:
        listening = bind(self._host, self._port)  # OSError (EADDRINUSE) here, not sys.exit in uvicorn
        self._task = asyncio.create_task(self._server.serve(sockets=[listening]), name="ddfl-api")
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it (e.g. the port is taken)
                raise RuntimeError("the read API stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            await self._task
            self._task = None
        await self._reader.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); OSError when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


def _config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    # No access log: the paths carry only ids, but the adapter logs its own outcomes.
    return uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None, lifespan="off")


async def serve(store_url: str, port: int, host: str = "127.0.0.1", console_token: str | None = None) -> None:
    """`ddfl-adapter api`: the read API alone, until SIGTERM/SIGINT (then it finishes the requests
    in flight and returns: exit status 0); its /health says whether its store connection answers; with `console_token`, the support console is served too."""
    from ..worker.clock import SystemClock

    reader = await open_reader(store_url)
    try:
        listening = bind(host, port)

        async def healthy() -> dict[str, bool]:
            return {"store": await reader.answers()}

        server = _EmbeddedServer(
            _config(create_app(reader, SystemClock().now, healthy=healthy, console_token=console_token), host, port)
        )
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, setattr, server, "should_exit", True)
        await server.serve(sockets=[listening])
    finally:
        await reader.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m adapter.api.server`: what `ddfl-adapter api` runs (until the CLI wires it)."""
    import argparse

    from ..config import Settings

    parser = argparse.ArgumentParser(prog="python -m adapter.api.server", description=__doc__)
    parser.add_argument("--store-url", default=None, help="default: DDFL_STORE_URL")
    settings = Settings()
    parser.add_argument("--host", default=settings.api_host, help="default: DDFL_API_HOST")
    parser.add_argument("--port", type=int, default=settings.api_port, help="default: DDFL_API_PORT")
    args = parser.parse_args(argv)
    token = settings.console_token.get_secret_value() if settings.console_token else None
    asyncio.run(serve(args.store_url or settings.store_url, args.port, args.host, token))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
