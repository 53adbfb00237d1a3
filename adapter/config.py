"""Configuration from `DDFL_*` environment variables (the contract fixes the first two)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the adapter; `ddfl-adapter run --help` lists them from here."""

    model_config = SettingsConfigDict(env_prefix="DDFL_", extra="ignore", env_parse_none_str="none")

    amqp_url: str = Field(
        "amqp://guest:guest@127.0.0.1:5672/", description="the RabbitMQ to consume from and publish to"
    )
    store_url: str = Field(
        "sqlite:///ddfl-adapter.sqlite3", description="state store: sqlite:///FILE or postgresql://…"
    )
    her_id: int = Field(8093244, description="the adapter's own HER-id (Helsenorge.no): receiver of inbound XML")
    inbound_queue: str = Field("8093244_async", description="MsgHead XML from EPJ and AR")
    absence_queue: str = Field("tilpass-helsenorge.absences", description="absence commands (JSON)")
    absence_invalid_queue: str = Field(
        "tilpass-helsenorge.absences.invalid", description="refused absence commands, with the reason in headers"
    )
    portal_queue: str = Field("portal.availability", description="portal events (JSON)")
    dead_letter_queue: str = Field("8093244_dl", description="what failed unexpectedly beyond the delivery limit")
    delivery_limit: int = Field(5, ge=1, description="deliveries of a failing message before it is dead-lettered")
    prefetch: int = Field(512, ge=1, description="unacknowledged messages in flight: bounds concurrency and memory")
    batch_size: int = Field(256, ge=1, description="messages committed in one store transaction at most")
    max_message_bytes: int = Field(1024 * 1024, ge=1024, description="larger XML messages are refused before parsing")
    directory: Path | None = Field(
        None, description="YAML/JSON file of each office's practitioners, used until its behandleroversikt arrives"
    )
    clock_interval: float = Field(30.0, gt=0, description="seconds between clock checks when nothing is due sooner")
    graceful_timeout: float = Field(15.0, gt=0, description="seconds to finish in-flight work on SIGTERM/SIGINT")
    http_port: int | None = Field(8080, description="port of /health and /metrics; `none` disables them")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: str = Field("auto", description="json, text, or auto (json when stderr is not a terminal)")
    retention_outbox_sent: dt.timedelta = Field(
        dt.timedelta(days=1),
        gt=dt.timedelta(0),
        description="how long a published outbox row is kept (seconds or ISO 8601, e.g. P1D)",
    )
    retention_inbox: dt.timedelta = Field(
        dt.timedelta(days=30),
        gt=dt.timedelta(0),
        description="the deduplication window: how long a processed message is remembered",
    )
    retention_closed_conversations: dt.timedelta = Field(
        dt.timedelta(days=400), gt=dt.timedelta(0), description="how long a closed conversation is remembered"
    )
    retention_interval: float = Field(600.0, gt=0, description="seconds between retention rounds")
    retention_batch: int = Field(500, ge=1, description="rows deleted per short transaction when pruning")
