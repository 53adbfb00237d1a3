"""`parse_xml` walks a document with a Python handler per element only when it is refused.

Before issue 14's parsing work every document was walked by `_vet` (expat with a handler per
element: the DOCTYPE, the depth, the syntax) and only then given to lxml. Now expat reads it
without those handlers, lxml builds the tree and one XPath measures its depth; whatever either
parser refuses is walked by `_vet` as before. These tests hold the two to the same answer: the same
tree, or the same refusal with the same words, on hostile, damaged and generated documents.
"""

from __future__ import annotations

import pytest
from hypothesis import example as hypothesis_example
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from msgsupport import XML_EXAMPLES, example

from adapter.messages import xmlsafe
from adapter.messages.errors import InboundError, NotWellFormed, TooLarge
from adapter.messages.xmlsafe import Limits, parse_xml

Outcome = tuple[str, object]


def vetted_first(body: bytes, limits: Limits) -> etree._Element:
    """`parse_xml` as it was: every document walked by `_vet` before lxml parses it."""
    if len(body) > limits.max_bytes:
        raise TooLarge(f"{len(body)} bytes; the limit is {limits.max_bytes}")
    xmlsafe._check_encoding(body)
    xmlsafe._vet(body, limits)
    try:
        return etree.fromstring(body, parser=xmlsafe._PARSER)
    except etree.XMLSyntaxError as exc:
        raise NotWellFormed(str(exc)) from None


def outcome(parse: object, body: bytes, limits: Limits) -> Outcome:
    try:
        root = parse(body, limits)  # type: ignore[operator]
    except InboundError as error:
        return type(error).__name__, error.description
    return "tree", etree.tostring(root)


def assert_same(body: bytes, limits: Limits) -> Outcome:
    now = outcome(parse_xml, body, limits)
    assert now == outcome(vetted_first, body, limits)
    return now


# --- what takes which path ----------------------------------------------------------------------


@pytest.mark.parametrize("name", XML_EXAMPLES)
def test_a_document_that_passes_is_never_walked_element_by_element(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    def walked(body: bytes, limits: Limits) -> None:
        raise AssertionError("_vet walked a document that passes")

    body = example(name)
    monkeypatch.setattr(xmlsafe, "_vet", walked)
    assert parse_xml(body).tag.endswith("MsgHead")


def test_expat_alone_tells_a_clean_document_from_one_it_stops_at() -> None:
    assert xmlsafe._passes_expat(example("tjenestestatus-epj.xml"))
    assert not xmlsafe._passes_expat(b"<a><b></a>")
    assert not xmlsafe._passes_expat(b'<?xml version="1.0" encoding="Shift_JIS"?><a>\x82\xa0</a>')


def test_a_too_deep_document_that_only_lxml_refuses_is_refused_as_too_deep() -> None:
    """An unbound prefix is well-formed to expat (no namespaces) but not to lxml; the element too
    deep comes first in the document, so that is the refusal, as when `_vet` went first."""
    body = b"<a>" * 6 + b"<p:b/>" + b"</a>" * 6
    assert xmlsafe._passes_expat(body)
    assert assert_same(body, Limits(max_depth=5)) == ("TooDeep", "elements nested deeper than 5 levels")
    assert assert_same(body, Limits(max_depth=7))[0] == "NotWellFormed"


def test_deeper_than_libxml2_builds_is_refused_as_too_deep() -> None:
    """lxml refuses more than 256 levels itself; the refusal is still the depth limit's."""
    body = b"<a>" * 300 + b"</a>" * 300
    assert assert_same(body, Limits()) == ("TooDeep", "elements nested deeper than 64 levels")
    assert assert_same(body, Limits(max_depth=1000))[0] == "NotWellFormed"


@pytest.mark.parametrize("depth", [1, 2, 5, 63, 64, 65, 66, 200])
def test_the_depth_xpath_counts_as_expat_does(depth: int) -> None:
    body = b"<a>" * depth + b"</a>" * depth
    for limit in (depth - 1, depth, depth + 1):
        assert assert_same(body, Limits(max_depth=limit))[0] == ("tree" if depth <= limit else "TooDeep")


# --- the same answers on every kind of input ------------------------------------------------------

HOSTILE = [
    b"<!DOCTYPE a><a/>",
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
    b'<?xml version="1.0" foo?><!DOCTYPE a><a/>',
    b"<a><!DOCTYPE a></a>",
    b"<!-- <!DOCTYPE a> --><a/>",
    b"<a><![CDATA[<!DOCTYPE a>]]></a>",
    b"<a>&undeclared;</a>",
    b"<a>&#0;</a>",
    b"<a>\x01</a>",
    b'<a x="1" x="2"/>',
    b'<a xmlns:p=""/>',
    b'<?xml version="1.1"?><a/>',
    b'<?xml version="2.0"?><a/>',
    b'<?xml version="1.0" standalone="maybe"?><a/>',
    b"<a/><?xml version='1.0'?>",
    b"<a><?xml version='1.0'?></a>",
    b"\xef\xbb\xbf<a/>",
    "<a>PÅ</a>".encode("utf-16"),
    "<a>PÅ</a>".encode("latin-1"),
    b"<\xc3\xa6/>",
    "<\U00010000/>".encode(),
    "<a\u0300b/>".encode(),
    "<\u0e33/>".encode(),
    b"<a>" * 70 + b"<!DOCTYPE a>",
    b"<a>" * 70 + b"</b>",
    b"<r>" + b"<a><b/></a>" * 3 + b"</r>",
]


@pytest.mark.parametrize("body", HOSTILE)
@pytest.mark.parametrize("max_depth", [1, 2, 64])
def test_hostile_and_odd_documents_get_the_same_answer(body: bytes, max_depth: int) -> None:
    assert_same(body, Limits(max_depth=max_depth))


FRAGMENTS = [
    "<a>",
    "</a>",
    "<b>",
    "</b>",
    "<c/>",
    "<p:d/>",
    '<e x="1"/>',
    "text",
    "&amp;",
    "&lt;",
    "&x;",
    "&#65;",
    "<!-- note -->",
    "<?pi data?>",
    "<![CDATA[<]]>",
    "<!DOCTYPE a>",
    '<?xml version="1.0"?>',
    " ",
    "<",
    ">",
    "Å",
]


@settings(max_examples=600, deadline=None)
@given(
    parts=st.lists(st.sampled_from(FRAGMENTS), max_size=30),
    max_depth=st.integers(min_value=0, max_value=6),
)
@hypothesis_example(parts=["<a>", "<a>", "<a>", "<b>"], max_depth=2)
def test_generated_documents_get_the_same_answer(parts: list[str], max_depth: int) -> None:
    assert_same("".join(parts).encode(), Limits(max_depth=max_depth))


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(XML_EXAMPLES),
    cut=st.integers(min_value=0, max_value=4000),
    byte=st.integers(min_value=0, max_value=255),
    max_depth=st.integers(min_value=5, max_value=10),
)
def test_damaged_examples_get_the_same_answer(name: str, cut: int, byte: int, max_depth: int) -> None:
    body = bytearray(example(name))
    cut = min(cut, len(body) - 1)
    body[cut] = byte
    for candidate in (bytes(body), bytes(body[:cut])):
        assert_same(candidate, Limits(max_depth=max_depth))
