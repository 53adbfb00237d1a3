"""Catalogue details docs/errors.md's byte comparison cannot see (issue 15's survivors).

`_absence_reasons` runs at import, so only a direct call reaches its mutants; operational entries'
code and answer, a `|` inside a cell, and an XML refusal placed after a non-XML entry are not in
today's document, so each is pinned here against `adapter.messages.catalogue` itself.
"""

from __future__ import annotations

import pytest

from adapter.messages import catalogue as cat
from adapter.messages.errors import CODE_NAMES_8221


def test_absence_reasons_are_the_parse_reasons_then_the_domains_refusals_r13_r14() -> None:
    """Each reason key once, parse reasons first; two refusals sharing a key are joined with "Or:"."""
    reasons = cat._absence_reasons()
    assert reasons == cat.ABSENCE_REASONS
    assert reasons[: len(cat._ABSENCE_PARSE_REASONS)] == cat._ABSENCE_PARSE_REASONS
    assert dict(reasons)["too_long"] == "The absence is longer than 366 days, both ends counted (R14)."
    assert dict(reasons)["not_authorised"] == (
        "The absence was registered by someone not listed at the office (R13). "
        "Or: The absence was deleted by someone not listed at the office (R13)."
    )
    assert not any(code in CODE_NAMES_8221 for code, _ in reasons), "X99/E20 are XML refusals, not reason keys"


def test_operational_events_have_no_code_and_are_log_only() -> None:
    """Entry.code is "" for operational events (not None), and their answer is exactly "log only"."""
    operational = [e for e in cat.catalogue() if e.event_id in {ev for ev, _, _ in cat.OPERATIONAL_EVENTS}]
    assert len(operational) == len(cat.OPERATIONAL_EVENTS)
    assert {(e.code, e.answer) for e in operational} == {("", "log only")}


def test_a_pipe_in_a_cell_is_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A `|` in a meaning would split the Markdown row; it is written `\\|`."""
    monkeypatch.setattr(cat, "OPERATIONAL_EVENTS", (("DDFL-TEST", "a | b", "c|d"),))
    assert "\n| `DDFL-TEST` | a \\| b | c\\|d |\n" in cat.render_markdown()


def test_every_xml_refusal_is_listed_wherever_it_sits_in_the_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-XML entry before the XML refusals is skipped, not the end of the XML table."""
    original = cat.inbound_refusals()
    first = cat.Entry("DDFL-TEST-FIRST", "", "log only", "first", "nothing")
    monkeypatch.setattr(cat, "inbound_refusals", lambda: [first, *original])
    doc = cat.render_markdown()
    xml_table = doc.split("## Absence commands")[0]
    xml_refusals = [e for e in cat.catalogue() if cat.is_xml_refusal(e)]
    assert xml_refusals
    for e in xml_refusals:
        assert f"| `{e.event_id}` |" in xml_table
    assert "DDFL-TEST-FIRST" not in xml_table


def test_a_refusals_meaning_is_the_first_paragraph_of_its_docstring_on_one_line() -> None:
    """docs/errors.md's meaning column: a wrapped first paragraph is one line with single spaces,
    whatever its indentation; later paragraphs stay out; no docstring, no meaning."""
    doc = """The payload is not what its
        schema says.

        More detail for developers."""
    assert cat._first_line(doc) == "The payload is not what its schema says."
    assert cat._first_line("\n    One line.\n    ") == "One line."
    assert cat._first_line(None) == ""
