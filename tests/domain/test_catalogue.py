"""The domain's refusals and warnings are catalogues: typed, each code stated once, stable."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

from adapter.domain import engine
from adapter.domain.events import AvailabilityWarning, WarningCode
from adapter.domain.model import SERVICE_LABELS, Service
from adapter.domain.rejections import Refusal

DOMAIN = Path(engine.__file__).resolve().parent


def test_every_refusal_has_a_stable_code_and_a_meaning_citing_its_rule():
    assert {r.name: r.code for r in Refusal} == {
        "GEN_DATE_AHEAD": "X99",
        "PRACTITIONER_NOT_LISTED": "E20",
        "ABSENCE_FROM_AFTER_TO": "from_after_to",
        "ABSENCE_WITHOUT_SERVICES": "no_services",
        "ABSENCE_TOO_LONG": "too_long",
        "REGISTERED_BY_UNLISTED": "not_authorised",
        "DELETED_BY_UNLISTED": "not_authorised",
        "ABSENCE_FOR_UNLISTED": "unknown_practitioner",
    }
    assert all("(R" in r.meaning for r in Refusal)


def test_no_code_is_written_as_a_string_at_a_call_site():
    """Codes live in `rejections.py` only: the engine names conditions."""
    codes = {r.code for r in Refusal}
    tree = ast.parse((DOMAIN / "engine.py").read_text(encoding="utf-8"))
    literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert not literals & codes


def test_warning_codes_are_an_enum_matching_the_published_model():
    (literal,) = [typing.get_args(AvailabilityWarning.model_fields["code"].annotation)]
    assert set(literal) == {c.value for c in WarningCode}


def test_one_table_of_service_labels_names_every_button():
    assert set(SERVICE_LABELS) == set(Service)
    assert SERVICE_LABELS[Service.E_KONSULTASJON].button == "Start e-konsultasjon"  # DOMAIN.md, "Services"
