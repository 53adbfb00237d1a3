"""Operations: Prometheus metrics, the health checks' parts, and structured logs without personal
data. /health and /metrics are served by the read API's app (`adapter.api.app`, on DDFL_HTTP_PORT)."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any

from aio_pika.abc import AbstractRobustConnection
from prometheus_client import Counter, Gauge, Histogram

from ..config import Settings, redacted
from ..messages.privacy import PersonalDataFilter, mask
from ..store.base import OutboxRow, Store

log = logging.getLogger("ddfl.worker")

MESSAGES = Counter("ddfl_messages_total", "Inbound items by kind and outcome", ["kind", "outcome"])
EVENTS = Counter("ddfl_events_published_total", "Portal events confirmed by the broker, by event type", ["type"])
REPLIES = Counter(
    "ddfl_replies_total",
    "Replies to senders by kind (apprec, error_report, absence_invalid, resync_invalid) and outcome "
    "(delivered, undeliverable)",
    ["kind", "outcome"],
)
UNDELIVERABLE = Counter("ddfl_undeliverable_total", "Outbox messages the broker had no queue for (not delivered)")
OUTBOX_BACKLOG = Gauge("ddfl_outbox_backlog", "Outbox rows not yet published")
LATENCY = Histogram(
    "ddfl_processing_seconds",
    "From receipt of an item to its commit",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH = Histogram("ddfl_batch_size", "Items per committed batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
BROKER_CONNECTED = Gauge("ddfl_broker_connected", "1 while the broker connection is open, else 0")
RECONNECTS = Counter("ddfl_broker_reconnects_total", "Broker connections re-established after a loss")


# A labelled child looked up once per label set, not per message (`labels` takes a lock and
# builds its key every time): the label sets are the metric's own, so these stay as bounded.


@functools.cache
def messages_counted(kind: str, outcome: str) -> Counter:
    return MESSAGES.labels(kind=kind, outcome=outcome)


@functools.cache
def events_counted(event_type: str) -> Counter:
    return EVENTS.labels(type=event_type)


@functools.cache
def replies_counted(kind: str, outcome: str) -> Counter:
    return REPLIES.labels(kind=kind, outcome=outcome)


def count_published(
    rows: Iterable[OutboxRow],
    undeliverable: Iterable[OutboxRow],
    *,
    portal_queue: str,
    resync_invalid_queue: str | None = None,
) -> None:
    """What the relay handed to the broker: portal events by type; replies by kind and outcome.
    An undeliverable message is not counted as published (nothing received it)."""
    lost = {id(row) for row in undeliverable}
    for row in rows:
        outcome = "undeliverable" if id(row) in lost else "delivered"
        if row.routing_key == portal_queue:
            if outcome == "delivered":
                events_counted(str(row.headers.get("type", "unknown"))).inc()
            continue
        kind = "resync_invalid" if row.routing_key == resync_invalid_queue else reply_kind(row)
        replies_counted(kind, outcome).inc()
    UNDELIVERABLE.inc(len(lost))


def reply_kind(row: OutboxRow) -> str:
    """apprec (to `{her}_async`), error_report (to `{her}_error`), or absence_invalid."""
    if row.routing_key.endswith("_error"):
        return "error_report"
    if "reason" in row.headers:
        return "absence_invalid"
    return "apprec"


#: Attributes every LogRecord has; anything else came in through `extra=` and is logged as a field.
#: (uvicorn adds `color_message`, a copy of the message with terminal colours: not a field.)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}

#: Fields that are identifiers: always strings, whatever type the caller logged them with, so a
#: log query (`sender == "8141333"`) matches every line.
IDENTIFIERS = frozenset(
    {"sender", "msg_id", "message_id", "absence_id", "office_her_id", "practitioner_hpr", "code", "routing_key"}
)

#: Libraries that log on their own; their lines go through our handler, at WARNING unless DEBUG is
#: asked for (and even then never the AMQP frames aiormq logs at DEBUG).
LIBRARIES = ("faststream", "aio_pika", "aiormq", "pamqp", "asyncio", "psycopg", "uvicorn")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _STANDARD or key.startswith("_"):
            continue
        if key in IDENTIFIERS and value is not None:
            value = str(value)
        if isinstance(value, str):
            value = mask(value)
        fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(self.formatException(record.exc_info))
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {record.getMessage()} {fields}".rstrip()
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(self.formatException(record.exc_info))
        return f"{line}\n{record.exc_text}" if record.exc_text else line


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """One format for every line: JSON when stderr is not a terminal (or asked for); every record
    passes the personal-data filter. FastStream's and the libraries' loggers lose their own
    handlers (FastStream's writes coloured text) and propagate to ours."""
    import faststream  # noqa: F401  (creates FastStream's logger, with its own handler, at import)

    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.addFilter(PersonalDataFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    library_level = max(logging.INFO if level.upper() == "DEBUG" else logging.WARNING, root.level)
    for name in LIBRARIES:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
        library.setLevel(library_level)
    # aiormq logs every failed connection attempt at ERROR, beside aio-pika's own warning and ours.
    logging.getLogger("aiormq.connection").setLevel(max(library_level, logging.CRITICAL if level != "DEBUG" else 0))


class ConnectionWatch:
    """The broker connection's real state. aio-pika's robust connection says `is_closed == False`
    while it is reconnecting; its `connected` event and the transport tell the truth. Disconnects
    and reconnects are logged once each and counted."""

    def __init__(self, connection: AbstractRobustConnection) -> None:
        self.connection = connection
        self.disconnected_at: float | None = None
        connection.close_callbacks.add(self._closed)
        connection.reconnect_callbacks.add(self._reconnected)
        BROKER_CONNECTED.set(1 if self.connected else 0)

    @property
    def connected(self) -> bool:
        """Open, and usable again after a loss: aio-pika sets `connected` before it restores the
        channels and consumers; only its reconnect callback says they are back."""
        connection = self.connection
        transport = connection.transport
        return (
            self.disconnected_at is None
            and not connection.is_closed
            and connection.connected.is_set()
            and transport is not None
            and not transport.connection.is_closed
        )

    def _closed(self, _: object, error: BaseException | None = None) -> None:
        BROKER_CONNECTED.set(0)
        if self.disconnected_at is None and not self.connection.close_called:
            self.disconnected_at = time.monotonic()
            log.warning(
                "broker connection lost; reconnecting",
                extra={"event": "DDFL-BROKER-DISCONNECTED", "error": _describe(error)},
            )

    def _reconnected(self, _: object) -> None:
        BROKER_CONNECTED.set(1)
        RECONNECTS.inc()
        down = time.monotonic() - self.disconnected_at if self.disconnected_at is not None else None
        self.disconnected_at = None
        log.warning(
            "broker connection re-established",
            extra={"event": "DDFL-BROKER-RECONNECTED", "down_seconds": round(down, 3) if down is not None else None},
        )


def _describe(error: BaseException | None) -> str | None:
    if error is None:
        return None
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def started_fields(settings: Settings, http_port: int | None) -> dict[str, Any]:
    """What the start-up line names: where the adapter listens and writes, without credentials."""
    return {
        "broker": redacted(settings.amqp_url),
        "store": redacted(settings.store_url),
        "http_port": http_port,
        "inbound": settings.inbound_queue,
        "absences": settings.absence_queue,
        "portal": settings.portal_queue,
    }


async def store_commits(store: Store, now: dt.datetime, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
    """Can the store commit? A one-row write in a transaction of its own, within `timeout`."""
    try:
        async with asyncio.timeout(timeout), store.transaction() as tx:
            await tx.put_meta("health_checked_at", now.isoformat())
    except Exception as error:
        log.warning("store health check failed", extra={"event": "DDFL-STORE-UNHEALTHY", "error": _describe(error)})
        return False
    return True


# -- replicas and retention -------------------------------------------------------------------------

RELAY_LEADER = Gauge("ddfl_relay_leader", "1 while this process's relay publishes the outbox (holds the relay role)")
STORE_RETRIES = Counter(
    "ddfl_store_contention_retries_total", "Batches run again because another transaction got in the way"
)
STORE_ROWS = Gauge("ddfl_store_rows", "Rows the store holds, by table", ["table"])
RETENTION_PRUNED = Counter("ddfl_retention_pruned_total", "Rows deleted by retention, by table", ["table"])
