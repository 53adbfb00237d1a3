"""One log format: every record, FastStream's and the libraries' included, as one JSON line when
not on a terminal; identifiers always strings; libraries at WARNING unless DEBUG is asked for,
and never aiormq's AMQP frames; one line per refusal."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adapter.worker.observability import LIBRARIES, configure_logging


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Configure logging as `run` does, onto the captured stderr; give back the JSON lines."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    libraries = {name: (logging.getLogger(name).level, logging.getLogger(name).propagate) for name in LIBRARIES}

    def lines() -> list[dict]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines()]

    yield lines
    root.handlers[:], root.level = saved
    for name, (level, propagate) in libraries.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).propagate = propagate


def test_identifiers_are_always_strings_and_extras_are_fields(logs) -> None:
    configure_logging("INFO", "json")
    log = logging.getLogger("ddfl.test")
    log.warning("message refused", extra={"event": "DDFL-T01-NOT-WELL-FORMED", "sender": 8141333, "code": "T01"})
    log.info("duplicate", extra={"event": "DDFL-DUPLICATE", "sender": "8141333", "msg_id": 7})
    first, second = logs()
    assert first["sender"] == second["sender"] == "8141333"
    assert second["msg_id"] == "7" and first["event"] == "DDFL-T01-NOT-WELL-FORMED"


def test_faststream_and_library_lines_go_through_the_same_formatter_at_warning(logs) -> None:
    import faststream  # noqa: F401  (its logger writes coloured text to its own handler)

    configure_logging("INFO", "json")
    logging.getLogger("faststream").info("FastStream app starting...")
    logging.getLogger("faststream").warning("FastStream app shut down with a warning")
    logging.getLogger("aio_pika.robust_connection").info("Connection closed. Reconnecting after 5 seconds.")
    logging.getLogger("aio_pika.robust_connection").warning("Connection attempt failed")
    lines = logs()
    assert [line["message"] for line in lines] == [
        "FastStream app shut down with a warning",
        "Connection attempt failed",
    ]
    assert {line["logger"] for line in lines} == {"faststream", "aio_pika.robust_connection"}


def test_the_read_apis_server_logs_like_the_rest(logs) -> None:
    """uvicorn (`ddfl-adapter api`) is a library too: WARNING and up, one JSON line, no colour copy."""
    configure_logging("INFO", "json")
    logging.getLogger("uvicorn.error").info("Started server process", extra={"color_message": "\x1b[36mStarted\x1b[0m"})
    logging.getLogger("uvicorn.error").warning(
        "Invalid HTTP request", extra={"color_message": "\x1b[33mInvalid\x1b[0m"}
    )
    (line,) = logs()
    assert line["message"] == "Invalid HTTP request" and "color_message" not in line


def test_debug_shows_the_adapter_and_library_info_but_no_amqp_frames(logs) -> None:
    configure_logging("DEBUG", "json")
    logging.getLogger("ddfl.test").debug("a debug line of ours")
    logging.getLogger("aiormq.connection").debug("Received frame <Basic.Deliver …>")
    logging.getLogger("aio_pika.robust_connection").info("Connection closed. Reconnecting after 5 seconds.")
    assert [line["message"] for line in logs()] == [
        "a debug line of ours",
        "Connection closed. Reconnecting after 5 seconds.",
    ]


def test_an_exception_is_one_json_line_with_its_traceback_masked(logs) -> None:
    configure_logging("INFO", "json")
    try:
        raise ValueError("bad fødselsnummer 01017012345")
    except ValueError:
        logging.getLogger("ddfl.test").error("failed", exc_info=True)
    (line,) = logs()
    assert "Traceback" in line["exception"] and "01017012345" not in line["exception"]


def test_a_refused_message_is_logged_once(logs) -> None:
    from adapter.service.handlers import Routing
    from adapter.service.processor import Processor, Work
    from adapter.store import open_store

    configure_logging("INFO", "json")

    async def refuse() -> None:
        store = await open_store("sqlite:///:memory:")
        now = dt.datetime(2023, 12, 20, 16, tzinfo=dt.timezone(dt.timedelta(hours=1)))
        await Processor(store, Routing(), lambda: now).process([Work(kind="xml", body=b"<not well-formed")])
        await store.close()

    asyncio.run(refuse())
    lines = logs()
    assert len(lines) == 1, lines
    assert lines[0]["event"].startswith("DDFL-T01")
