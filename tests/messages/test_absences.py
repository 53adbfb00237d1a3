"""Absence commands (R14): the examples parse, every invalid one is refused with its reason."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgsupport import example

from adapter.domain.model import DeleteAbsence, RegisterAbsence, Service
from adapter.messages.absences import AbsenceRejected, parse_absence

ABSENCE_ID = "f3a9c2d1-5b7e-4c8a-9d10-2e4f6a8b0c13"


#: In `registered(...)`, drops the field.
REMOVE = object()


def registered(**changes: Any) -> bytes:
    """The registration example with fields changed, or dropped with `REMOVE`."""
    command = json.loads(example("absence-registered.json"))
    command.update(changes)
    return json.dumps({key: value for key, value in command.items() if value is not REMOVE}).encode()


def rejection(body: bytes) -> AbsenceRejected:
    with pytest.raises(AbsenceRejected) as caught:
        parse_absence(body)
    return caught.value


def test_absence_registered() -> None:
    oslo = dt.timezone(dt.timedelta(hours=1))
    assert parse_absence(example("absence-registered.json")) == RegisterAbsence(
        absence_id=ABSENCE_ID,
        office_her_id=8141333,
        practitioner_hpr="9144900",
        from_date=dt.date(2023, 12, 22),
        to_date=dt.date(2024, 1, 1),
        services=frozenset(Service),
        registered_by_hpr="9144900",
        registered_at=dt.datetime(2023, 12, 20, 15, 5, tzinfo=oslo),
    )


def test_absence_deleted() -> None:
    oslo = dt.timezone(dt.timedelta(hours=1))
    assert parse_absence(example("absence-deleted.json")) == DeleteAbsence(
        absence_id=ABSENCE_ID,
        office_her_id=8141333,
        deleted_by_hpr="9144900",
        deleted_at=dt.datetime(2023, 12, 21, 8, 0, tzinfo=oslo),
    )


def test_a_one_day_absence_is_valid() -> None:
    command = parse_absence(registered(**{"from": "2024-01-01", "to": "2024-01-01"}))
    assert command.from_date == command.to_date


def test_366_days_counting_both_ends_is_the_longest_absence() -> None:
    assert parse_absence(registered(**{"from": "2024-01-01", "to": "2024-12-31"}))  # leap year
    assert parse_absence(registered(**{"from": "2023-01-01", "to": "2024-01-01"}))
    assert rejection(registered(**{"from": "2024-01-01", "to": "2025-01-01"})).reason == "too_long"


def test_unknown_fields_are_ignored() -> None:
    assert parse_absence(registered(comment="God jul"))


def test_duplicate_services_count_once() -> None:
    command = parse_absence(registered(services=["E_KONSULTASJON", "E_KONSULTASJON"]))
    assert command.services == frozenset({Service.E_KONSULTASJON})


@pytest.mark.parametrize(
    "body, reason",
    [
        pytest.param(b"{", "invalid_json", id="not-json"),
        pytest.param(b"\xff\xfe\x00", "invalid_json", id="not-text"),
        pytest.param(b"[]", "invalid_json", id="not-an-object"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "invalid_json", id="nested-too-deep"),
        pytest.param(b'{"absence_id": "x"}', "missing_field", id="no-type"),
        pytest.param({"type": "absence.extended"}, "unknown_type", id="unknown-type"),
        pytest.param({"type": 7}, "invalid_field", id="type-not-a-string"),
        pytest.param({"from": REMOVE}, "missing_field", id="no-from"),
        pytest.param({"services": REMOVE}, "missing_field", id="no-services-field"),
        pytest.param({"practitioner_hpr": None}, "missing_field", id="null-hpr"),
        pytest.param({"from": "2024-01-02"}, "from_after_to", id="from-after-to"),
        pytest.param({"services": []}, "no_services", id="no-services"),
        pytest.param({"services": ["BESTILL_TIME"]}, "unknown_service", id="unknown-service"),
        pytest.param({"services": [["E_KONSULTASJON"]]}, "unknown_service", id="service-not-a-string"),
        pytest.param({"services": "E_KONSULTASJON"}, "invalid_field", id="services-not-a-list"),
        pytest.param({"to": "2024-02-30"}, "invalid_date", id="no-such-date"),
        pytest.param({"to": "01.01.2024"}, "invalid_date", id="norwegian-date"),
        pytest.param({"to": 20240101}, "invalid_field", id="date-not-a-string"),
        pytest.param(
            {"registered_at": "2023-12-20T15:05:00"},
            "invalid_date",
            id="instant-without-offset",
        ),
        pytest.param({"office_her_id": "8141333"}, "invalid_field", id="her-id-as-string"),
        pytest.param({"office_her_id": True}, "invalid_field", id="her-id-as-boolean"),
        pytest.param({"office_her_id": 0}, "invalid_field", id="her-id-zero"),
        pytest.param({"practitioner_hpr": "91449"}, "invalid_field", id="hpr-too-short"),
        pytest.param({"absence_id": " "}, "invalid_field", id="blank-id"),
    ],
)
def test_an_invalid_command_is_refused_with_its_reason(body: bytes | dict[str, Any], reason: str) -> None:
    error = rejection(body if isinstance(body, bytes) else registered(**body))
    assert error.reason == reason
    assert error.description
    assert str(error).startswith(f"{reason}: ")


def test_the_rejection_names_the_absence_when_it_can() -> None:
    assert rejection(registered(services=[])).absence_id == ABSENCE_ID
    assert rejection(registered(absence_id=42, services=[])).absence_id is None


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
FIELDS = ["type", "absence_id", "office_her_id", "practitioner_hpr", "from", "to", "services"]


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(FIELDS), value=JSON_VALUES)
def test_any_value_in_any_field_gets_a_typed_answer(field: str, value: object) -> None:
    with contextlib.suppress(AbsenceRejected):
        parse_absence(registered(**{field: value}))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_get_a_typed_answer(body: bytes) -> None:
    with pytest.raises(AbsenceRejected):
        parse_absence(body)
