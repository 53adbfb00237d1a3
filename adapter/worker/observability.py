"""Operations: Prometheus metrics, the health endpoint, and structured logs without personal data."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from ..messages.privacy import PersonalDataFilter

MESSAGES = Counter("ddfl_messages_total", "Inbound items by kind and outcome", ["kind", "outcome"])
EVENTS = Counter("ddfl_events_published_total", "Messages published by the relay, by routing class", ["type"])
UNDELIVERABLE = Counter("ddfl_undeliverable_total", "Receipts with no queue to go to")
OUTBOX_BACKLOG = Gauge("ddfl_outbox_backlog", "Outbox rows not yet published")
LATENCY = Histogram(
    "ddfl_processing_seconds",
    "From receipt of an item to its commit",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH = Histogram("ddfl_batch_size", "Items per committed batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))

#: Attributes every LogRecord has; anything else came in through `extra=` and is logged as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        return f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {record.getMessage()} {fields}".rstrip()


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """JSON when stderr is not a terminal (or asked for); every record passes the personal-data filter."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.addFilter(PersonalDataFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class HealthServer:
    """GET /health (200 when `healthy()` says so, else 503) and GET /metrics, on a tiny HTTP server."""

    def __init__(self, port: int, healthy: Callable[[], dict[str, bool]], host: str = "0.0.0.0"):
        self._port, self._host, self._healthy = port, host, healthy
        self._server: asyncio.base_events.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            path = request.split()[1].decode() if len(request.split()) > 1 else "/"
            if path.startswith("/metrics"):
                status, body, ctype = 200, generate_latest(), CONTENT_TYPE_LATEST
            elif path.startswith("/health"):
                checks = self._healthy()
                status = 200 if all(checks.values()) else 503
                body, ctype = json.dumps({"healthy": status == 200, "checks": checks}).encode(), "application/json"
            else:
                status, body, ctype = 404, b"not found\n", "text/plain"
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()


# -- replicas and retention -------------------------------------------------------------------------

RELAY_LEADER = Gauge("ddfl_relay_leader", "1 while this process's relay publishes the outbox (holds the relay role)")
STORE_RETRIES = Counter(
    "ddfl_store_contention_retries_total", "Batches run again because another transaction got in the way"
)
STORE_ROWS = Gauge("ddfl_store_rows", "Rows the store holds, by table", ["table"])
RETENTION_PRUNED = Counter("ddfl_retention_pruned_total", "Rows deleted by retention, by table", ["table"])
