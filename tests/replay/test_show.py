"""The citizen's view in Norwegian: exact strings, as Helsenorge words them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from adapter.replay.show import norwegian_date, render, render_office

OFFICE = 8141333
ASTRID = "9144900"


def availability(
    statuses: dict[str, str] | str = "AVAILABLE",
    *,
    reopens_on: str | None = None,
    booking_mode: str | None = "CALENDAR",
    accepts_replies: bool = True,
    substitute: dict[str, Any] | None = None,
    office: int = OFFICE,
    hpr: str = ASTRID,
    effective_at: str = "2023-12-20T14:00:00+01:00",
) -> dict[str, Any]:
    """An availability.changed event as the portal receives it (contract example's shape)."""
    keys = ("TIMEBESTILLING", "RESEPTFORNYELSE", "E_KONSULTASJON", "KONTAKT_LEGEKONTORET")
    if isinstance(statuses, str):
        statuses = dict.fromkeys(keys, statuses)
    services: dict[str, dict[str, Any]] = {}
    for key in keys:
        status = statuses[key]
        view: dict[str, Any] = {
            "status": status,
            "reopens_on": reopens_on if status == "TEMPORARILY_CLOSED" else None,
            "info_visible": status != "NOT_OFFERED",
        }
        if key == "TIMEBESTILLING":
            view["booking_mode"] = booking_mode if status == "AVAILABLE" else None
        if key == "E_KONSULTASJON":
            view["accepts_replies"] = accepts_replies and status != "NOT_OFFERED"
        services[key] = view
    return {
        "type": "availability.changed",
        "event_id": f"{office}-{hpr}-1",
        "office_her_id": office,
        "practitioner_hpr": hpr,
        "sequence": 1,
        "effective_at": effective_at,
        "changed": [],
        "services": services,
        "panel_info_visible": any(s != "NOT_OFFERED" for s in statuses.values()),
        "substitute": substitute,
        "caused_by": {"kind": "clock", "id": None},
    }


def test_closed_with_reopen_date_as_the_contract_example_of_22_december() -> None:
    event = availability("TEMPORARILY_CLOSED", reopens_on="2024-01-02", accepts_replies=False)
    assert render(event, practitioner_name="Astrid Info", office_name="Lysaker legesenter") == (
        "Fastlegen din er Astrid Info ved Lysaker legesenter\n"
        "Bestill time: midlertidig stengt – åpner igjen 2. januar 2024\n"
        "Forny resept: midlertidig stengt – åpner igjen 2. januar 2024\n"
        "Start e-konsultasjon: midlertidig stengt – åpner igjen 2. januar 2024\n"
        "Kontakt legekontoret: midlertidig stengt – åpner igjen 2. januar 2024\n"
        "Informasjonsmeldingen vises"
    )


def test_closed_e_konsultasjon_that_accepts_replies_says_existing_conversations_can_be_answered() -> None:
    event = availability("TEMPORARILY_CLOSED", reopens_on="2024-07-29", accepts_replies=True)
    lines = render(event, practitioner_name="Ingrid Haugen").splitlines()
    assert lines[0] == "Fastlegen din er Ingrid Haugen"
    assert lines[3:5] == [
        "Start e-konsultasjon: midlertidig stengt – åpner igjen 29. juli 2024",
        "  Du kan svare på eksisterende samtaler, men ikke starte nye.",
    ]


@pytest.mark.parametrize(
    ("mode", "line"),
    [
        ("CALENDAR", "Bestill time: vises og kan brukes (timebestilling i kalender)"),
        ("REQUEST_ONLY", "Bestill time: vises og kan brukes (timeønske)"),
        ("CALENDAR_AND_REQUEST", "Bestill time: vises og kan brukes (timebestilling i kalender og timeønske)"),
    ],
)
def test_available_with_booking_mode(mode: str, line: str) -> None:
    text = render(availability("AVAILABLE", booking_mode=mode), practitioner_name="Astrid Info")
    assert text == (
        "Fastlegen din er Astrid Info\n"
        f"{line}\n"
        "Forny resept: vises og kan brukes\n"
        "Start e-konsultasjon: vises og kan brukes\n"
        "Kontakt legekontoret: vises og kan brukes\n"
        "Informasjonsmeldingen vises"
    )


def test_recommended_solution_1_only_kontakt_legekontoret_is_shown_and_the_panel_message_too() -> None:
    statuses = {
        "TIMEBESTILLING": "NOT_OFFERED",
        "RESEPTFORNYELSE": "NOT_OFFERED",
        "E_KONSULTASJON": "NOT_OFFERED",
        "KONTAKT_LEGEKONTORET": "AVAILABLE",
    }
    assert render(availability(statuses), practitioner_name="Astrid Info") == (
        "Fastlegen din er Astrid Info\n"
        "Bestill time: vises ikke\n"
        "Forny resept: vises ikke\n"
        "Start e-konsultasjon: vises ikke\n"
        "Kontakt legekontoret: vises og kan brukes\n"
        "Informasjonsmeldingen vises"
    )


def test_nothing_offered_hides_every_button_and_the_panel_message_with_helsenorges_sentence() -> None:
    text = render(availability("NOT_OFFERED"), practitioner_name="Mathias Lund", office_name="Majorstuen legekontor")
    assert text == (
        "Fastlegen din er Mathias Lund ved Majorstuen legekontor\n"
        "Din fastlege tilbyr ikke timebestilling og dialog på Helsenorge, "
        "men kan ha andre digitale kontaktmuligheter på sin hjemmeside.\n"
        "Bestill time: vises ikke\n"
        "Forny resept: vises ikke\n"
        "Start e-konsultasjon: vises ikke\n"
        "Kontakt legekontoret: vises ikke\n"
        "Informasjonsmeldingen vises ikke"
    )


def test_substitute_line_with_its_period() -> None:
    substitute = {"hpr": "5522113", "name": "Ingar Vik", "from": "2024-07-01", "to": "2024-07-31"}
    lines = render(availability(substitute=substitute), practitioner_name="Astrid Info").splitlines()
    assert lines[-2:] == [
        "Ingar Vik (vikar for fastlege), fra og med 1. juli 2024 til og med 31. juli 2024",
        "Informasjonsmeldingen vises",
    ]


def test_substitute_with_an_open_end() -> None:
    substitute = {"hpr": "5522113", "name": "Ingar Vik", "from": "2024-07-01", "to": None}
    text = render(availability(substitute=substitute), practitioner_name="Astrid Info")
    assert "Ingar Vik (vikar for fastlege), fra og med 1. juli 2024\n" in text


def test_without_a_name_the_hpr_nummer_stands_in() -> None:
    assert (
        render(availability(), practitioner_name=None).splitlines()[0]
        == "Fastlegen din er fastlege med HPR-nummer 9144900"
    )


@pytest.mark.parametrize(
    ("day", "text"),
    [
        ("2024-01-02", "2. januar 2024"),
        ("2024-03-31", "31. mars 2024"),
        ("2024-05-17", "17. mai 2024"),
        (dt.date(2024, 10, 28), "28. oktober 2024"),
        ("2023-12-22", "22. desember 2023"),
    ],
)
def test_norwegian_dates(day: str | dt.date, text: str) -> None:
    assert norwegian_date(day) == text


def test_render_office_shows_each_practitioners_latest_availability_in_order_of_appearance() -> None:
    events = [
        availability("AVAILABLE", hpr="5567120", office=8149274),
        availability("AVAILABLE", hpr="6678231", office=8149274),
        {"type": "availability.warning", "office_her_id": 8149274, "practitioner_hpr": "5567120"},
        availability("NOT_OFFERED", hpr="5567120", office=8149274, effective_at="2024-08-15T08:00:00+02:00"),
    ]
    text = render_office(events, {"5567120": "Tor Eide", "6678231": "Hilde Myhre"}, office_name="Bodø legesenter")
    blocks = text.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [
        "Fastlegen din er Tor Eide ved Bodø legesenter",
        "Fastlegen din er Hilde Myhre ved Bodø legesenter",
    ]
    assert blocks[0].endswith("Informasjonsmeldingen vises ikke")
    assert blocks[1].endswith("Informasjonsmeldingen vises")


def test_render_office_at_an_instant_and_for_one_of_several_offices() -> None:
    events = [
        availability("AVAILABLE", hpr="3384920", office=8146112, effective_at="2024-07-01T08:30:00+02:00"),
        availability("AVAILABLE", hpr="3384920", office=8146390, booking_mode="REQUEST_ONLY"),
        availability(
            "TEMPORARILY_CLOSED",
            hpr="3384920",
            office=8146112,
            reopens_on="2024-08-10",
            effective_at="2024-08-05T00:00:00+02:00",
        ),
    ]
    with pytest.raises(ValueError, match="several offices"):
        render_office(events, {})
    before = render_office(
        events,
        {"3384920": "Lars Bakken"},
        office_her_id=8146112,
        at=dt.datetime.fromisoformat("2024-08-04T12:00:00+02:00"),
    )
    during = render_office(events, {"3384920": "Lars Bakken"}, office_her_id=8146112)
    assert "Bestill time: vises og kan brukes (timebestilling i kalender)" in before
    assert "Bestill time: midlertidig stengt – åpner igjen 10. august 2024" in during
    other = render_office(events, {}, office_her_id=8146390)
    assert "Bestill time: vises og kan brukes (timeønske)" in other
    assert render_office([], {}) == ""
