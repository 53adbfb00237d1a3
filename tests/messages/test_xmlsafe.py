"""Hostile XML is refused with the right code, and nothing it points at is ever opened.

"Never opened" is proven with tripwires: a named pipe and a local TCP listener, each of which
records an open/connect before the opener could go on, so a parser that touched one could not
have returned without it being recorded. "Fast" is proven by where the refusal happens: at the
DOCTYPE token or before parsing at all, shown by documents that would fail differently had the
parser read further.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgsupport import NOW, example, variant

from adapter.messages.errors import (
    BadEncoding,
    DoctypeForbidden,
    InboundError,
    InvalidMessage,
    NotWellFormed,
    TooDeep,
    TooLarge,
)
from adapter.messages.inbound import parse_message
from adapter.messages.xmlsafe import Limits, parse_xml

MSGHEAD_OPEN = '<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24">'
TS_OPEN = '<Tjenestestatus xmlns="urn:no:ddfl-adapter:tjenestestatus:1">'


class PipeTripwire:
    """A named pipe that records whether anyone opened it for reading.

    A helper thread blocks opening the write end; a reader's open releases it, and it records the
    open before closing, which is what a reader would wait for before seeing end of file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._wait_for_reader, daemon=True)
        self._thread.start()

    def _wait_for_reader(self) -> None:
        descriptor = os.open(self.path, os.O_WRONLY)
        self._opened.set()
        os.close(descriptor)

    def was_opened(self) -> bool:
        opened = self._opened.is_set()
        release = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._thread.join(timeout=5)
        os.close(release)
        return opened


class ListenerTripwire:
    """A TCP listener on 127.0.0.1 that counts connections, closing each one at once."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def pipe(tmp_path: Path) -> Iterator[PipeTripwire]:
    if not hasattr(os, "mkfifo"):
        pytest.skip("named pipes need a POSIX system")
    tripwire = PipeTripwire(tmp_path / "tripwire")
    yield tripwire
    tripwire.was_opened()


@pytest.fixture
def listener() -> Iterator[ListenerTripwire]:
    tripwire = ListenerTripwire()
    yield tripwire
    tripwire.close()


def test_the_pipe_tripwire_notices_a_reader(pipe: PipeTripwire) -> None:
    assert pipe.path.read_bytes() == b""
    assert pipe.was_opened()


def test_the_listener_tripwire_notices_a_connection(listener: ListenerTripwire) -> None:
    port = int(listener.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as connection:
        assert connection.recv(1) == b""
    assert listener.connections == 1


def refusal(body: bytes, limits: Limits = Limits()) -> InboundError:  # noqa: B008 (frozen)
    with pytest.raises(InboundError) as caught:
        parse_xml(body, limits)
    return caught.value


def test_a_well_formed_document_parses() -> None:
    assert parse_xml(example("tjenestestatus-epj.xml")).tag.endswith("MsgHead")


# --- entities and DTDs -----------------------------------------------------------------------


def test_xxe_to_a_file_is_refused_without_opening_it(pipe: PipeTripwire) -> None:
    body = (
        f'<?xml version="1.0"?><!DOCTYPE MsgHead [<!ENTITY xxe SYSTEM "file://{pipe.path}">]>'
        f"{MSGHEAD_OPEN}&xxe;</MsgHead>"
    ).encode()
    error = refusal(body)
    assert isinstance(error, DoctypeForbidden)
    assert (error.code, error.error_condition) == ("T02", "transport:not-well-formed-xml")
    assert not pipe.was_opened()


def test_xxe_never_shows_the_files_content(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    entity = f'<!ENTITY xxe SYSTEM "{secret.as_uri()}">'
    body = f"<!DOCTYPE MsgHead [{entity}]>{MSGHEAD_OPEN}&xxe;</MsgHead>".encode()
    with pytest.raises(DoctypeForbidden) as caught:
        parse_message(body, now=NOW)
    assert "TOP-SECRET" not in str(caught.value)
    assert "TOP-SECRET" not in caught.value.description


def test_parameter_entity_xxe_is_refused_without_a_connection(listener: ListenerTripwire) -> None:
    body = (
        f'<!DOCTYPE MsgHead [<!ENTITY % remote SYSTEM "{listener.url}/evil.dtd"> %remote;]>{MSGHEAD_OPEN}</MsgHead>'
    ).encode()
    assert isinstance(refusal(body), DoctypeForbidden)
    assert listener.connections == 0


def test_an_external_dtd_on_the_network_is_never_fetched(listener: ListenerTripwire) -> None:
    body = f'<!DOCTYPE MsgHead SYSTEM "{listener.url}/msghead.dtd">{MSGHEAD_OPEN}</MsgHead>'.encode()
    assert isinstance(refusal(body), DoctypeForbidden)
    assert listener.connections == 0


def test_an_external_dtd_in_a_file_is_never_opened(pipe: PipeTripwire) -> None:
    body = f'<!DOCTYPE MsgHead SYSTEM "{pipe.path}">{MSGHEAD_OPEN}</MsgHead>'.encode()
    assert isinstance(refusal(body), DoctypeForbidden)
    assert not pipe.was_opened()


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    + "]><lolz>&lol9;</lolz>"
)


def test_billion_laughs_is_refused_as_a_doctype() -> None:
    assert "&lol8;" in BILLION_LAUGHS
    error = refusal(BILLION_LAUGHS.encode())
    assert isinstance(error, DoctypeForbidden)


def test_the_refusal_comes_at_the_doctype_token_before_any_declaration_is_read() -> None:
    # Cut off inside the internal subset: a parser that read one declaration further would report
    # a syntax error; refusing it as a DOCTYPE shows that nothing after the token was looked at.
    truncated = BILLION_LAUGHS[: BILLION_LAUGHS.index("<!ENTITY lol3") + 20]
    assert isinstance(refusal(truncated.encode()), DoctypeForbidden)


def test_xinclude_is_never_processed(pipe: PipeTripwire) -> None:
    body = variant(
        "tjenestestatus-epj.xml",
        (
            TS_OPEN,
            f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{pipe.path}" parse="text"/>{TS_OPEN}',
        ),
    )
    with pytest.raises(InvalidMessage):
        parse_message(body, now=NOW)
    assert not pipe.was_opened()


def test_a_schema_location_hint_is_never_fetched(listener: ListenerTripwire) -> None:
    body = variant(
        "tjenestestatus-epj.xml",
        (
            TS_OPEN,
            '<Tjenestestatus xmlns="urn:no:ddfl-adapter:tjenestestatus:1" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:schemaLocation="urn:no:ddfl-adapter:tjenestestatus:1 {listener.url}/t.xsd">',
        ),
    )
    assert parse_message(body, now=NOW).command.practitioner_hpr == "9144900"
    assert listener.connections == 0


# --- size and depth --------------------------------------------------------------------------


def test_an_oversized_document_is_refused_before_parsing() -> None:
    # Not text at all: had it been parsed, the refusal would have been about its encoding.
    error = refusal(b"\xff" * (1024 * 1024 + 1))
    assert isinstance(error, TooLarge)
    assert (error.code, error.error_condition) == ("T01", "transport:not-well-formed-xml")


def test_the_size_limit_is_configurable_and_inclusive() -> None:
    body = example("tjenestestatus-epj.xml")
    assert parse_xml(body, Limits(max_bytes=len(body))) is not None
    assert isinstance(refusal(body, Limits(max_bytes=len(body) - 1)), TooLarge)


def test_two_hundred_levels_of_nesting_are_refused() -> None:
    error = refusal(b"<a>" * 200 + b"</a>" * 200)
    assert isinstance(error, TooDeep)
    assert error.code == "T01"


def test_the_depth_limit_is_inclusive() -> None:
    assert parse_xml(b"<a>" * 64 + b"</a>" * 64) is not None
    assert isinstance(refusal(b"<a>" * 65 + b"</a>" * 65), TooDeep)


def test_the_depth_limit_stops_at_the_first_element_too_deep() -> None:
    # Never closed: a parser that read to the end would have reported a syntax error.
    assert isinstance(refusal(b"<a>" * 10, Limits(max_depth=5)), TooDeep)


# --- encodings -------------------------------------------------------------------------------

DECLARED = '<?xml version="1.0" encoding="{}"?><a>PÅ</a>'


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(DECLARED.format("UTF-8").encode("latin-1"), id="invalid-utf-8"),
        pytest.param(b"<a>\xc3\x28</a>", id="invalid-utf-8-undeclared"),
        pytest.param(DECLARED.format("UTF-16").encode("utf-8"), id="declares-utf-16-is-utf-8"),
        pytest.param(DECLARED.format("UTF-8").encode("utf-16"), id="declares-utf-8-is-utf-16"),
        pytest.param(DECLARED.format("US-ASCII").encode("utf-8"), id="declares-ascii-has-8-bit"),
        pytest.param(
            b"\xef\xbb\xbf" + DECLARED.format("ISO-8859-1").encode("latin-1"),
            id="utf-8-bom-declares-latin-1",
        ),
        pytest.param(DECLARED.format("x-unheard-of").encode(), id="unknown-encoding"),
        pytest.param(
            b'<?xml version="1.0" encoding="Shift_JIS"?><a>\x82\xa0</a>',
            id="encoding-the-parser-lacks",
        ),
    ],
)
def test_bad_encodings_are_refused(body: bytes) -> None:
    error = refusal(body)
    assert isinstance(error, BadEncoding)
    assert (error.code, error.error_condition) == ("T01", "transport:not-well-formed-xml")


@pytest.mark.parametrize("encoding", ["UTF-8", "ISO-8859-1", "UTF-16", "windows-1252"])
def test_honest_encodings_are_read(encoding: str) -> None:
    root = parse_xml(DECLARED.format(encoding).encode(encoding))
    assert root.text == "PÅ"


@pytest.mark.parametrize(
    "body",
    [b"", b"not xml", b"<a>", b"<a></b>", b"<a>&undeclared;</a>", b"<p:a/>", b"<a/><b/>"],
)
def test_malformed_documents_are_refused_as_t01(body: bytes) -> None:
    error = refusal(body)
    assert isinstance(error, NotWellFormed)
    assert error.code == "T01"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_get_a_typed_answer(body: bytes) -> None:
    with contextlib.suppress(InboundError):
        parse_message(body, now=NOW)


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(min_value=0, max_value=2600), byte=st.integers(min_value=0, max_value=255))
def test_damaged_examples_get_a_typed_answer(cut: int, byte: int) -> None:
    body = bytearray(example("dialog-avsluttet.xml"))
    cut = min(cut, len(body) - 1)
    body[cut] = byte
    for candidate in (bytes(body), bytes(body[:cut])):
        with contextlib.suppress(InboundError):
            parse_message(candidate, now=NOW)


# --- pinned by mutation testing (issue 15) ----------------------------------------------------


def test_the_depth_count_goes_down_after_a_closed_sibling() -> None:
    """Depth is nesting, not the number of elements seen: siblings at the limit are fine."""
    siblings = b"<r>" + b"<a><b/></a>" * 100 + b"</r>"
    assert len(parse_xml(siblings, Limits(max_depth=3))) == 100
    assert isinstance(refusal(b"<r><a><b><c/></b></a></r>", Limits(max_depth=3)), TooDeep)


def test_a_body_of_exactly_the_size_limit_is_read_and_one_byte_more_is_not() -> None:
    body = b"<a>" + b" " * 93 + b"</a>"
    assert len(body) == 100
    assert parse_xml(body, Limits(max_bytes=100)) is not None
    assert isinstance(refusal(body + b" ", Limits(max_bytes=100)), TooLarge)


def test_utf_16_with_a_byte_order_mark_declaring_utf_16le_is_read() -> None:
    """XML 1.0 appendix F: the BOM says UTF-16 little-endian and the declaration agrees."""
    body = codecs.BOM_UTF16_LE + DECLARED.format("UTF-16LE").encode("utf-16-le")
    assert parse_xml(body).text == "PÅ"
    big_endian = codecs.BOM_UTF16_BE + DECLARED.format("UTF-16LE").encode("utf-16-be")
    assert isinstance(refusal(big_endian), BadEncoding)
