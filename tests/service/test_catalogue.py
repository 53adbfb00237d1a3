"""Refusals as a catalogue: every event id the adapter logs is listed, and docs/errors.md is what
the code generates (`ddfl-adapter contracts` rewrites it)."""

from __future__ import annotations

import re
from pathlib import Path

from adapter import contracts
from adapter.messages import absences
from adapter.messages.catalogue import (
    ABSENCE_REASONS,
    DOMAIN_REJECTIONS,
    RESYNC_REASONS,
    catalogue,
    is_xml_refusal,
    render_markdown,
)
from adapter.messages.errors import CODE_NAMES_8221

ADAPTER = Path(__file__).resolve().parents[2] / "adapter"


def _sources() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(ADAPTER.rglob("*.py")))


def test_docs_errors_md_is_what_the_code_generates() -> None:
    assert contracts.ERRORS_DOC.read_text(encoding="utf-8") == render_markdown(), "run `ddfl-adapter contracts`"
    assert "errors.md" not in contracts.stale()


def test_every_literal_event_id_in_the_code_is_in_the_catalogue() -> None:
    listed = {entry.event_id for entry in catalogue()}
    logged = set(re.findall(r"\"(DDFL-[A-Z0-9-]*[A-Z0-9])\"", _sources()))
    assert logged, "the scan found no event ids: it is broken"
    assert logged - listed == set(), "add these to adapter/messages/catalogue.py"


def test_event_ids_are_unique_and_codes_are_kodeverk_8221() -> None:
    entries = catalogue()
    assert len({e.event_id for e in entries}) == len(entries)
    xml_codes = {e.code for e in entries if is_xml_refusal(e)}
    assert xml_codes <= set(CODE_NAMES_8221)
    assert {code for code, _, _ in DOMAIN_REJECTIONS} <= set(CODE_NAMES_8221)
    assert all(e.meaning and e.action for e in entries)


def test_every_absence_reason_the_code_gives_is_listed() -> None:
    listed = {reason for reason, _ in ABSENCE_REASONS}
    given = set(re.findall(r"reject\(\"([a-z_]+)\"", Path(absences.__file__).read_text(encoding="utf-8")))
    given |= set(re.findall(r"AbsenceRejected\(\"([a-z_]+)\"", Path(absences.__file__).read_text(encoding="utf-8")))
    # the domain's (R13, R14): Rejection("code", …) and rejected("code", …) with a lower-case key
    engine = (ADAPTER / "domain").rglob("*.py")
    for path in engine:
        given |= set(re.findall(r"[Rr]eject(?:ion|ed)\(\s*\"([a-z_]+)\"", path.read_text(encoding="utf-8")))
    assert given, "the scan found no reasons: it is broken"
    assert given - listed == set(), "add these to ABSENCE_REASONS"


def test_every_resync_reason_the_edge_gives_is_listed() -> None:
    from adapter.service import commands

    listed = {reason for reason, _ in RESYNC_REASONS}
    given = set(re.findall(r"return \"([a-z_]+)\", ", Path(commands.__file__).read_text(encoding="utf-8")))
    assert given == {"invalid_json", "missing_field", "unknown_type", "invalid_field"}, "the scan is broken"
    assert given <= listed, "add these to RESYNC_REASONS"
