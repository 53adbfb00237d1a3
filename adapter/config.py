"""Configuration from `DDFL_*` environment variables (the contract fixes the first two)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import topology

ENV_PREFIX = "DDFL_"
#: The shortest support-console token accepted (DDFL_CONSOLE_TOKEN).
MIN_CONSOLE_TOKEN = 16
#: Settings whose value is never repeated in an error message.
_SECRETS = frozenset({"console_token"})


class Settings(BaseSettings):
    """Every knob of the adapter; `ddfl-adapter run --help` lists them from here."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_parse_none_str="none")

    amqp_url: str = Field(
        "amqp://guest:guest@127.0.0.1:5672/",
        description="the RabbitMQ to consume from and publish to; a cluster as amqp://user:pass@host1:port1,host2:port2,…/vhost",
    )
    store_url: str = Field(
        "sqlite:///ddfl-adapter.sqlite3", description="state store: sqlite:///FILE or postgresql://…"
    )
    her_id: int = Field(
        topology.HELSENORGE_HER_ID, description="the adapter's own HER-id (Helsenorge.no): receiver of inbound XML"
    )
    inbound_queue: str = Field(
        topology.receipts_queue(topology.HELSENORGE_HER_ID), description="MsgHead XML from EPJ and AR"
    )
    absence_queue: str = Field(topology.ABSENCE_QUEUE, description="absence commands (JSON)")
    absence_invalid_queue: str = Field(
        topology.ABSENCE_INVALID_QUEUE, description="refused absence commands, with the reason in headers"
    )
    portal_queue: str = Field(topology.PORTAL_QUEUE, description="portal events (JSON)")
    dead_letter_queue: str = Field(
        topology.dead_letter_queue(topology.HELSENORGE_HER_ID),
        description="what failed unexpectedly beyond the delivery limit",
    )
    resync_queue: str = Field(
        topology.RESYNC_QUEUE,
        description="the portal's resync requests (JSON): a snapshot of every pair, or an office's",
    )
    resync_invalid_queue: str = Field(
        topology.RESYNC_INVALID_QUEUE, description="refused resync requests, with the reason in headers"
    )
    replies_queue: str | None = Field(
        None,
        description="for test environments: one queue for every AppRec and error report instead of each "
        "sender's {HER-id}_async / {HER-id}_error (the contract); none in production",
    )
    delivery_limit: int = Field(5, ge=1, description="deliveries of a failing message before it is dead-lettered")
    prefetch: int = Field(512, ge=1, description="unacknowledged messages in flight: bounds concurrency and memory")
    batch_size: int = Field(256, ge=1, description="messages committed in one store transaction at most")
    parse_workers: int = Field(
        0,
        ge=0,
        description="worker processes that parse and validate the next batch while this process commits one; "
        "0 parses in this process",
    )
    max_message_bytes: int = Field(1024 * 1024, ge=1024, description="larger XML messages are refused before parsing")
    directory: Path | None = Field(
        None, description="YAML/JSON file of each office's practitioners, used until its behandleroversikt arrives"
    )
    clock_interval: float = Field(30.0, gt=0, description="seconds between clock checks when nothing is due sooner")
    graceful_timeout: float = Field(15.0, gt=0, description="seconds to finish in-flight work on SIGTERM/SIGINT")
    http_port: int | None = Field(
        8080, description="port of the worker's HTTP side: the read API (/v1), /health and /metrics; `none` disables it"
    )
    api_port: int = Field(8081, description="port of the read API (`ddfl-adapter api`, /v1)")
    api_host: str = Field(
        "127.0.0.1",
        description="address the HTTP side (`run` and `api`: read API, console, /health) listens on; 0.0.0.0 for every interface",
    )
    console_token: SecretStr | None = Field(
        None,
        description="enables the support console (/console on the read API): the password (any user name) "
        "or bearer token every request must carry; none (the default) leaves it off",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: Literal["json", "text", "auto"] = Field(
        "auto", description="json, text, or auto (json when stderr is not a terminal)"
    )
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
    retention_timeline: dt.timedelta = Field(
        dt.timedelta(days=30),
        gt=dt.timedelta(0),
        description="how far back a pair's timeline goes (the support console's inputs and events)",
    )
    retention_interval: float = Field(600.0, gt=0, description="seconds between retention rounds")
    retention_batch: int = Field(500, ge=1, description="rows deleted per short transaction when pruning")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("amqp_url")
    @classmethod
    def _amqp(cls, value: str) -> str:
        """`localhost:5672` would be read as an AMQP URL with vhost `5672`: refuse what has no
        amqp:// or amqps:// scheme (for several nodes, the first one must have it)."""
        first = value.split(",", 1)[0].strip()
        if "://" not in first or urlsplit(first).scheme not in ("amqp", "amqps"):
            raise ValueError("must be an AMQP URL: amqp://user:password@host:5672/vhost")
        return value

    @field_validator("store_url")
    @classmethod
    def _store(cls, value: str) -> str:
        """`sqlite:///FILE`, or PostgreSQL as `postgresql://…` (libpq's `postgres://` is the same)."""
        scheme = value.partition("://")[0].lower() if "://" in value else ""
        if scheme == "postgres":
            return "postgresql://" + value.partition("://")[2]
        if scheme not in ("sqlite", "postgresql") or (scheme == "sqlite" and not value.startswith("sqlite:///")):
            raise ValueError("must be sqlite:///relative/path, sqlite:////absolute/path or postgresql://user@host/db")
        return value

    @field_validator("console_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        """A guessable token would open the console to anyone who can reach the port."""
        if value is not None and len(value.get_secret_value()) < MIN_CONSOLE_TOKEN:
            raise ValueError(f"must be at least {MIN_CONSOLE_TOKEN} characters: e.g. `openssl rand -hex 16`")
        return value

    @field_validator("http_port")
    @classmethod
    def _port(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value <= 65535:
            raise ValueError("must be a TCP port (0-65535) or none")
        return value


class ConfigurationError(Exception):
    """A setting the adapter cannot use: one line naming the variable, what is wrong, what to do."""


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; a bad value is a ConfigurationError naming its variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = ENV_PREFIX + str(item["loc"][0]).upper() if item["loc"] else "?"
            value = "<hidden>" if item["loc"] and item["loc"][0] in _SECRETS else item.get("input")
            reason = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"{name}={value!r}: {reason}")
        raise ConfigurationError("; ".join(problems) + " (see `ddfl-adapter run --help`)") from None


def redacted(url: str) -> str:
    """A URL without its password, for log lines and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))
