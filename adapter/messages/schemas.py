"""The project's published payload schemas (`schemas/` at the project root), compiled once.

Compiling an XMLSchema takes milliseconds; validating against a compiled one, microseconds.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

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
    return [f"line {error.line}: {error.message}" for error in schema.error_log]
