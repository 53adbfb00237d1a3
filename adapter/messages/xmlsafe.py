"""Parses untrusted XML without ever resolving, loading or fetching anything.

Two passes. First expat vets the bytes: it stops at the `<!DOCTYPE` token, before a single entity
or DTD declaration is read (so XXE, "billion laughs" and external DTDs are refused without being
looked at). The size limit and the encoding check come before even that. Only a document that
passed is given to lxml, itself configured to resolve nothing, for the tree that XPath and XML
Schema need; then one XPath in C says whether any element is nested deeper than the limit.

A document expat or lxml refuses is read again by the full vetting (`_vet`: expat with a handler
per element, which stops at the first element too deep), so every refusal is the one it always
was: the first of a DOCTYPE, too deep a nesting or a syntax error, in document order. Only the
documents that pass skip that handler per element: it was a third of parsing a message (issue 14).
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass
from xml.parsers import expat

from lxml import etree

from adapter.messages.errors import BadEncoding, DoctypeForbidden, NotWellFormed, TooDeep, TooLarge


@dataclass(frozen=True)
class Limits:
    """What the adapter is willing to parse: a KITH message is a few kilobytes, ten levels deep."""

    max_bytes: int = 1024 * 1024
    #: lxml itself refuses more than 256 levels (libxml2's limit); `_vet` then says TooDeep.
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
    if not _passes_expat(body):
        _vet(body, limits)  # raises what stopped expat, unless an element too deep came first
    try:
        root = etree.fromstring(body, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        _vet(body, limits)  # an element too deep, before lxml's error, is what is refused
        raise NotWellFormed(str(exc)) from None
    if _deeper_than(root, limits.max_depth):
        raise _too_deep(limits)
    return root


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


def _passes_expat(body: bytes) -> bool:
    """Whether expat reads `body` to its end: no syntax error, no encoding it lacks. A DOCTYPE
    stops it at the token, refused. No handler runs per element: this pass is expat's C alone."""
    try:
        _expat().Parse(body, True)
    except (ValueError, expat.ExpatError):
        return False
    return True


#: Compiled XPath expressions by their text: one per depth limit in use.
_XPATHS = functools.cache(etree.XPath)


def _deeper_than(root: etree._Element, max_depth: int) -> bool:
    """Whether the tree has an element at depth `max_depth + 1` (the root is at depth 1, as expat
    counts in `_vet`): a path of that many child steps, evaluated in C."""
    return bool(_XPATHS(f"boolean({'/*' * (max_depth + 1)})")(root))


def _too_deep(limits: Limits) -> TooDeep:
    return TooDeep(f"elements nested deeper than {limits.max_depth} levels")


def _expat() -> expat.XMLParserType:
    """An expat parser that reads no parameter entity and stops at a DOCTYPE token, refused."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _doctype
    return parser


def _doctype(*_declaration: object) -> None:
    raise DoctypeForbidden("the document has a DOCTYPE; messages must not carry a DTD")


def _vet(body: bytes, limits: Limits) -> None:
    """Walk the document with expat: refuse a DOCTYPE, too deep a nesting, or broken syntax."""
    parser = _expat()
    parser.ordered_attributes = True
    depth = 0

    def start(_name: str, _attributes: list[str]) -> None:
        nonlocal depth
        depth += 1
        if depth > limits.max_depth:
            raise _too_deep(limits)

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(body, True)
    except ValueError as exc:  # pyexpat's word for a multi-byte encoding it cannot read
        raise BadEncoding(str(exc)) from None
    except expat.ExpatError as exc:
        where = f"line {exc.lineno}, column {exc.offset}: {expat.errors.messages[exc.code]}"
        if exc.code in _EXPAT_ENCODING_ERRORS:
            raise BadEncoding(where) from None
        raise NotWellFormed(where) from None
