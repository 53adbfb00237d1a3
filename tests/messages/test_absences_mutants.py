"""The exact words of every absence refusal (R14), and the edges the mutation run found unpinned.

A refused absence command's description is the `reason` of the "absence command refused" log line
and travels with it to the invalid-absence queue, where Tilpass Helsenorge's operators read it
(docs/errors.md, "Absence commands"): the wording is behaviour, so each one is pinned to the letter
beside its reason key (issue 15).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from msgsupport import example
from pydantic import Field, create_model

from adapter.domain.model import DeleteAbsence, RegisterAbsence
from adapter.messages import absences
from adapter.messages.absences import AbsenceRejected, parse_absence

ABSENCE_ID = "f3a9c2d1-5b7e-4c8a-9d10-2e4f6a8b0c13"


def command(name: str, **changes: Any) -> bytes:
    """A contract example (absence-registered.json or absence-deleted.json) with fields changed."""
    document = json.loads(example(name))
    document.update(changes)
    return json.dumps(document).encode()


def registered(**changes: Any) -> bytes:
    return command("absence-registered.json", **changes)


def refusal(body: bytes) -> tuple[str, str, str | None]:
    """What the handler logs and forwards: the reason key, the description and the absence id."""
    with pytest.raises(AbsenceRejected) as caught:
        parse_absence(body)
    return caught.value.reason, caught.value.description, caught.value.absence_id


def test_r14_a_body_that_is_not_json_names_the_decoder_error() -> None:
    assert refusal(b'{"type": ') == ("invalid_json", "not JSON: JSONDecodeError", None)


def test_r14_json_that_is_not_an_object_is_refused_in_these_words() -> None:
    assert refusal(b'["absence.registered"]') == ("invalid_json", "not a JSON object", None)


def test_r14_a_blank_absence_id_is_refused_in_these_words() -> None:
    assert refusal(registered(absence_id="  ")) == ("invalid_field", "absence_id is empty", "  ")


def test_r14_a_malformed_hpr_number_is_refused_in_these_words() -> None:
    """DOMAIN.md: an HPR-nummer is 6 to 9 digits; the description says so, not the value."""
    assert refusal(registered(practitioner_hpr="12345")) == (
        "invalid_field",
        "practitioner_hpr must be a string of 6 to 9 digits",
        ABSENCE_ID,
    )


@pytest.mark.parametrize("value", ["2024/01/01", "2024-02-30"], ids=["wrong-form", "no-such-day"])
def test_r14_a_bad_date_is_refused_in_the_same_words_whether_its_form_or_its_day_is_wrong(value: str) -> None:
    assert refusal(registered(**{"from": value})) == ("invalid_date", "from must be a date YYYY-MM-DD", ABSENCE_ID)


@pytest.mark.parametrize(
    "value", ["2023-12-20T15:05:00", "2023-12-20T25:05:00+01:00"], ids=["no-offset", "no-such-hour"]
)
def test_r14_a_bad_instant_is_refused_in_the_same_words_whether_its_form_or_its_time_is_wrong(value: str) -> None:
    assert refusal(registered(registered_at=value)) == (
        "invalid_date",
        "registered_at must be an ISO 8601 instant with an offset",
        ABSENCE_ID,
    )


def test_r14_an_absence_naming_no_service_is_refused_in_these_words() -> None:
    assert refusal(registered(services=[])) == ("no_services", "services is empty", ABSENCE_ID)


HER_ID_REFUSED = "office_her_id must be a HER-id: a positive integer of at most 9 digits"


def test_r14_her_id_1_is_the_smallest_office_and_0_is_refused_in_these_words() -> None:
    """A HER-id is a positive integer (DOMAIN.md; identifiers.HER_ID_PATTERN admits one digit)."""
    assert parse_absence(registered(office_her_id=1)).office_her_id == 1
    assert refusal(registered(office_her_id=0)) == ("invalid_field", HER_ID_REFUSED, ABSENCE_ID)


@pytest.mark.parametrize("name", ["absence-registered.json", "absence-deleted.json"], ids=["registered", "deleted"])
def test_r14_her_id_999999999_is_the_largest_office_and_a_wider_integer_is_refused(name: str) -> None:
    """JSON integers have no size limit, a HER-id has 9 digits at most (HER_ID_PATTERN, as the XML
    edge and the resync requests read it): a wider one names no office and is refused as an invalid
    field, in both commands, before it reaches the store."""
    assert parse_absence(command(name, office_her_id=999_999_999)).office_her_id == 999_999_999
    for wider in (1_000_000_000, 2**63, 10**4000):
        assert refusal(command(name, office_her_id=wider)) == ("invalid_field", HER_ID_REFUSED, ABSENCE_ID)
    assert refusal(command(name, office_her_id=-8141333)) == ("invalid_field", HER_ID_REFUSED, ABSENCE_ID)


LONE_SURROGATE = b'"f3a9c2d1-\\ud800"'


@pytest.mark.parametrize("name", ["absence-registered.json", "absence-deleted.json"], ids=["registered", "deleted"])
def test_r14_an_absence_id_with_a_lone_surrogate_is_refused_without_naming_it(name: str) -> None:
    """JSON's `\\uD800` escape spells a string UTF-8 cannot carry: stored, logged or written to a
    receipt it would fail and the command be redelivered until dead-lettered. It is an invalid field,
    and the refusal names no absence id (the log line and the receipt are written as UTF-8)."""
    body = command(name, absence_id="@").replace(b'"@"', LONE_SURROGATE)
    assert json.loads(body)["absence_id"] == "f3a9c2d1-\ud800"
    assert refusal(body) == ("invalid_field", "absence_id is not Unicode text: it holds a lone surrogate", None)


def test_r14_a_lone_surrogate_absence_id_is_named_by_no_other_refusal_either() -> None:
    """The type is read before the absence id; its refusal, too, names no id UTF-8 cannot write."""
    body = registered(absence_id="@", type="absence.moved").replace(b'"@"', LONE_SURROGATE)
    assert refusal(body) == ("unknown_type", "type 'absence.moved' is not absence.registered or absence.deleted", None)


def test_r14_an_absence_id_beyond_ascii_is_still_an_absence_id() -> None:
    """Only what UTF-8 cannot carry is refused: a paired surrogate escape is one character."""
    body = registered(absence_id="@").replace(b'"@"', b'"frav\\u00e6r-\\ud83d\\ude00"')
    assert parse_absence(body).absence_id == "frav\u00e6r-\U0001f600"


@pytest.mark.parametrize(
    ("name", "model"),
    [("absence-registered.json", RegisterAbsence), ("absence-deleted.json", DeleteAbsence)],
    ids=["registered", "deleted"],
)
def test_r14_a_model_stricter_than_the_field_checks_still_refuses_as_an_invalid_field(
    monkeypatch: pytest.MonkeyPatch, name: str, model: type[RegisterAbsence | DeleteAbsence]
) -> None:
    """building.build's guarantee: no pydantic error escapes parse_absence, whatever the model adds.

    No input passing today's checks is refused by today's models, so a stricter model stands in.
    """
    strict = create_model(model.__name__, __base__=model, absence_id=(str, Field(max_length=1)))
    monkeypatch.setattr(absences, model.__name__, strict)
    assert refusal(command(name)) == (
        "invalid_field",
        "absence_id: String should have at most 1 character",
        ABSENCE_ID,
    )
