"""Parses untrusted XML without ever resolving, loading or fetching anything.

Two passes. First expat, with our own handlers, vets the bytes: it stops at the `<!DOCTYPE` token,
before a single entity or DTD declaration is read (so XXE, "billion laughs" and external DTDs are
refused without being looked at), and it stops at the first element nested deeper than the limit.
The size limit and the encoding check come before even that. Only a document that passed is given
to lxml, itself configured to resolve nothing, for the tree that XPath and XML Schema need.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from xml.parsers import expat

from lxml import etree

from adapter.messages.errors import BadEncoding, DoctypeForbidden, NotWellFormed, TooDeep, TooLarge


@dataclass(frozen=True)
class Limits:
    """What the adapter is willing to parse: a KITH message is a few kilobytes, ten levels deep."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 64


_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)

_BYTE_SIGNATURES = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)
_DECLARATION = re.compile(r"<\?xml\s[^>]*?\bencoding\s*=\s*[\"']([A-Za-z][A-Za-z0-9._-]*)[\"']")
_EXPAT_ENCODING_ERRORS = frozenset(
    expat.errors.codes[message]
    for message in (
        expat.errors.XML_ERROR_UNKNOWN_ENCODING,
        expat.errors.XML_ERROR_INCORRECT_ENCODING,
    )
)


def parse_xml(body: bytes, limits: Limits = Limits()) -> etree._Element:
    """Return the root element of `body`, or raise the `InboundError` that says why not."""
    if len(body) > limits.max_bytes:
        raise TooLarge(f"{len(body)} bytes; the limit is {limits.max_bytes}")
    _check_encoding(body)
    _vet(body, limits)
    try:
        return etree.fromstring(body, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise NotWellFormed(str(exc)) from None


def _check_encoding(body: bytes) -> None:
    """Refuse bytes that are not text in the encoding the document claims (XML 1.0 appendix F).

    A byte order mark or UTF-16's zero bytes say what the bytes are; the XML declaration says
    what the sender claims. They must agree, and the whole body must decode.
    """
    by_bytes = next((name for mark, name in _BYTE_SIGNATURES if body.startswith(mark)), None)
    prologue = body[:512].decode(by_bytes or "latin-1", errors="replace").lstrip("\ufeff")
    declaration = _DECLARATION.match(prologue)
    declared = declaration.group(1) if declaration else None
    try:
        encoding = codecs.lookup(declared or by_bytes or "utf-8").name
    except LookupError:
        raise BadEncoding(f"unknown encoding {declared!r}") from None
    if by_bytes and _family(encoding) != _family(by_bytes):
        raise BadEncoding(f"declares {declared} but the bytes are {by_bytes}")
    if not by_bytes and _family(encoding) in ("utf-16", "utf-32"):
        raise BadEncoding(f"declares {declared} but the bytes are not")
    try:
        body.decode(by_bytes or encoding)
    except UnicodeDecodeError as exc:
        raise BadEncoding(f"not valid {declared or by_bytes or 'UTF-8'} at byte {exc.start}") from None


def _family(codec_name: str) -> str:
    """'utf-16-le' and 'utf-16' are one family; a BOM and a declaration need only agree on that."""
    return codec_name[:6] if codec_name.startswith("utf-") else codec_name


def _vet(body: bytes, limits: Limits) -> None:
    """Walk the document with expat: refuse a DOCTYPE, too deep a nesting, or broken syntax."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.ordered_attributes = True
    depth = 0

    def start(_name: str, _attributes: list[str]) -> None:
        nonlocal depth
        depth += 1
        if depth > limits.max_depth:
            raise TooDeep(f"elements nested deeper than {limits.max_depth} levels")

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    def doctype(*_declaration: object) -> None:
        raise DoctypeForbidden("the document has a DOCTYPE; messages must not carry a DTD")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(body, True)
    except ValueError as exc:  # pyexpat's word for a multi-byte encoding it cannot read
        raise BadEncoding(str(exc)) from None
    except expat.ExpatError as exc:
        where = f"line {exc.lineno}, column {exc.offset}: {expat.errors.messages[exc.code]}"
        if exc.code in _EXPAT_ENCODING_ERRORS:
            raise BadEncoding(where) from None
        raise NotWellFormed(where) from None
