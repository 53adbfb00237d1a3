"""The contracts the project publishes in `schemas/`, generated from the code so they cannot drift:
the portal events' JSON Schema (from the wire models) and the application's AsyncAPI document
(from FastStream). `ddfl-adapter contracts` rewrites them; a test fails when they differ."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from .messages.portal import PortalEvent

__all__ = ["PortalEvent", "asyncapi_document", "events_schema", "rendered", "stale", "write"]

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
EVENTS_FILE = "portal-events.schema.json"
ASYNCAPI_FILE = "asyncapi.json"
#: The catalogue of error codes and log events, generated beside the schemas (in docs/).
ERRORS_DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def events_schema() -> dict[str, Any]:
    schema = _open(TypeAdapter(PortalEvent).json_schema(by_alias=True, mode="serialization"))
    return {
        **schema,
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:no:ddfl-adapter:portal-events:1",
        "title": "ddfl-adapter portal events",
        "description": "One JSON object per AMQP message on portal.availability (see contract/README.md). "
        "Fields may be added, never silently changed: consumers should accept properties they do not know.",
    }


def _open(node: Any) -> Any:
    """Drop `additionalProperties: false`: the adapter sends exactly these fields, but the contract
    lets events grow, so a consumer validating with this schema must not reject new ones."""
    if isinstance(node, dict):
        return {k: _open(v) for k, v in node.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(node, list):
        return [_open(v) for v in node]
    return node


def asyncapi_document() -> dict[str, Any]:
    from .bootstrap import build, default_settings

    runtime = build(default_settings(http_port=None))  # the defaults, not this machine's env
    document: dict[str, Any] = runtime.app.schema.to_specification().to_jsonable()
    return document


def rendered() -> dict[str, str]:
    """File name -> exact text, as published."""
    return {
        EVENTS_FILE: json.dumps(events_schema(), indent=2, ensure_ascii=False) + "\n",
        ASYNCAPI_FILE: json.dumps(asyncapi_document(), indent=2, ensure_ascii=False, sort_keys=True) + "\n",
    }


def _documents(directory: Path, errors_doc: Path) -> dict[Path, str]:
    from .messages.catalogue import render_markdown

    return {directory / name: text for name, text in rendered().items()} | {errors_doc: render_markdown()}


def write(directory: Path = SCHEMA_DIR, errors_doc: Path = ERRORS_DOC) -> list[Path]:
    paths = []
    for path, text in _documents(directory, errors_doc).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def stale(directory: Path = SCHEMA_DIR, errors_doc: Path = ERRORS_DOC) -> list[str]:
    """The published files that differ from what the code generates."""
    return [
        path.name
        for path, text in _documents(directory, errors_doc).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
