"""The project's published payload schemas (`schemas/` at the project root), compiled once.

Compiling an XMLSchema takes milliseconds; validating against a compiled one, microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from adapter.messages.namespaces import BEHANDLEROVERSIKT_NS, TJENESTESTATUS_NS

__all__ = ["BEHANDLEROVERSIKT_NS", "TJENESTESTATUS_NS", "payload_schema", "schema_errors"]

SCHEMA_DIR = Path(__file__).parents[1] / "published_schemas"  # a link to schemas/ in a checkout

_FILES = {
    TJENESTESTATUS_NS: "tjenestestatus-v1.xsd",
    BEHANDLEROVERSIKT_NS: "behandleroversikt-v1.xsd",
}
#: Our own schema files are trusted, but nothing they could point at is fetched either.
_SCHEMA_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@cache
def payload_schema(namespace: str) -> etree.XMLSchema:
    """The compiled schema of one of our payload namespaces."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / _FILES[namespace]), _SCHEMA_PARSER))


def schema_errors(payload: etree._Element, namespace: str) -> list[str]:
    """Why `payload` does not validate against our schema for `namespace` (empty: it does)."""
    schema = payload_schema(namespace)
    if schema.validate(payload):
        return []
    # lxml-stubs 0.5 declares the error log without members; at run time it iterates its entries.
    entries: Iterable[Any] = schema.error_log  # type: ignore[assignment]
    return [f"line {error.line}: {error.message}" for error in entries]


class SchemaGuaranteeBroken(LookupError):
    """A value the schema requires is missing after validation: a bug in the schema or the code,
    never bad input (which validation refuses first), so it is not an `InboundError`."""


def required_text(element: etree._Element, path: str, namespaces: dict[str, str]) -> str:
    """The stripped text of the element at `path`, which the validated schema requires."""
    text = element.findtext(path, namespaces=namespaces)
    if text is None:
        raise SchemaGuaranteeBroken(path)
    return text.strip()


def required_attribute(element: etree._Element | None, name: str) -> str:
    """The stripped value of an attribute the validated schema requires."""
    value = element.get(name) if element is not None else None
    if value is None:
        raise SchemaGuaranteeBroken(name)
    return value.strip()
