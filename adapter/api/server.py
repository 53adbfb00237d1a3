"""Serving the read API with uvicorn: as its own process (`ddfl-adapter api`) or inside the worker.

Either way it reads the store through a connection of its own (`reads.open_reader`), so it can run
beside `ddfl-adapter run` on the same store, and as many API processes as reads need.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Iterator

import uvicorn

from .app import create_app
from .reads import Reader, open_reader


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process that embeds the API owns SIGTERM/SIGINT."""

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
        healthy: Callable[[], dict[str, bool]] | None = None,
        console_token: str | None = None,
    ) -> None:
        app = create_app(reader, now, healthy=healthy, console_token=console_token)
        # No access log: the paths carry only ids, but the adapter logs its own outcomes.
        config = uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None, lifespan="off")
        self._server = _EmbeddedServer(config)
        self._reader = reader
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        servers = self._server.servers
        return int(servers[0].sockets[0].getsockname()[1]) if servers else 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(), name="ddfl-api")
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


async def serve(store_url: str, port: int, host: str = "127.0.0.1", console_token: str | None = None) -> None:
    """`ddfl-adapter api`: the read API alone, until SIGTERM/SIGINT (uvicorn's handlers); with
    `console_token`, the support console too."""
    from ..worker.clock import SystemClock

    reader = await open_reader(store_url)
    try:
        app = create_app(reader, SystemClock().now, console_token=console_token)
        config = uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None, lifespan="off")
        await uvicorn.Server(config).serve()
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
