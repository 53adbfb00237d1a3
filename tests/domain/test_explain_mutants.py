"""Explanations (`adapter/domain/explain.py`, issue 13): behaviour the mutation run of issue 15 found
unpinned (`bench/mutation.py`), grouped by rule. Each explanation must cite exactly the facts
DOMAIN.md's rules rest on."""

from __future__ import annotations

from adapter.domain.model import Process

from .builders import (
    ALL,
    KONTAKT,
    MIDWIFE,
    NO,
    RESEPT,
    TC,
    TIME,
    World,
    absence,
    oslo,
    roster,
    status,
)
from .test_explain import explained, texts


def absent_names(reasons) -> list[str]:
    """The absence ids the R3 reasons name, in order ("Fravær <id> (...)")."""
    return [t.split(" ")[1] for t in texts(reasons, "R3") if t.startswith("Fravær ")]


def test_r3_the_run_names_only_absences_that_cover_the_service_in_its_dates() -> None:
    """R3: an absence covers S only when S is among its services; the run is its dates, no later."""
    world = World(now=oslo(2024, 1, 2))
    world.send(status(world.now, on=[Process.TIMERESERVASJON, Process.RESEPTFORNYELSE]))
    world.send(absence("time", "2024-01-10", "2024-01-12", [TIME]))
    world.send(absence("resept", "2024-01-10", "2024-01-12", [RESEPT]))
    world.send(absence("senere", "2024-01-20", "2024-01-21", [TIME]))
    why = explained(world, oslo(2024, 1, 11, 12))
    assert why.services[TIME].status is TC and why.services[RESEPT].status is TC
    assert absent_names(why.services[TIME].reasons) == ["time"]
    assert absent_names(why.services[RESEPT].reasons) == ["resept"]


def test_r4_the_report_that_makes_a_service_normally_on_held_until_the_next_report() -> None:
    """R1/R4: what a report says holds from its GenDate to the next report's."""
    world = World(now=oslo(2024, 1, 2))
    world.send(status(oslo(2024, 1, 1), off=[Process.RESEPTFORNYELSE], msg_id="m-off"))
    world.send(status(oslo(2024, 1, 2), on=[Process.RESEPTFORNYELSE], msg_id="m-on"))
    world.send(status(oslo(2024, 1, 5, 16), off=[Process.RESEPTFORNYELSE], msg_id="m-off-2"), at=oslo(2024, 1, 5, 16))
    world.send(absence("ferie", "2024-01-08", "2024-01-09", [RESEPT]), at=oslo(2024, 1, 5, 16))
    why = explained(world, oslo(2024, 1, 8, 12))
    assert why.services[RESEPT].status is TC
    (r4,) = texts(why.services[RESEPT].reasons, "R4")
    assert "var på fra 02.01.2024 kl. 00.00 til 05.01.2024 kl. 16.00 (melding m-on)" in r4


def test_r10_only_the_services_own_absences_end_its_run() -> None:
    """R10: Forny resept's run (its own absence) ended; a later absence of another service is not its run."""
    world = World(now=oslo(2024, 1, 2))
    world.send(status(world.now, on=[Process.RESEPTFORNYELSE, Process.EKONTAKT]))
    world.send(status(oslo(2024, 1, 5), off=[Process.RESEPTFORNYELSE]), at=oslo(2024, 1, 5))
    world.send(absence("resept", "2024-01-10", "2024-01-12", [RESEPT]), at=oslo(2024, 1, 5))
    world.send(absence("kontakt", "2024-01-15", "2024-01-16", [KONTAKT]), at=oslo(2024, 1, 5))
    world.tick(oslo(2024, 1, 20))
    assert [w.service for w in world.warnings("SERVICE_STILL_OFF_AFTER_ABSENCE")] == [RESEPT]
    why = explained(world, oslo(2024, 1, 20))
    assert why.services[RESEPT].status is NO
    assert texts(why.warnings, "R10") == [
        "Fraværet er slutt, men Forny resept er fortsatt skrudd av i journalsystemet."
    ]


def test_r10_no_warning_for_a_service_the_absence_never_showed() -> None:
    """R4/R10: a service the GP did not offer was never TEMPORARILY_CLOSED, so its run's end warns of nothing."""
    world = World(now=oslo(2024, 1, 2))
    world.send(status(world.now, on=[Process.EKONTAKT]))
    world.send(absence("ferie", "2024-01-10", "2024-01-12", ALL))
    world.tick(oslo(2024, 1, 20))
    assert world.warnings() == []
    why = explained(world, oslo(2024, 1, 20))
    assert why.services[TIME].status is NO and why.warnings == ()


def test_r16_a_practitioner_who_left_is_explained_in_words() -> None:
    world = World(now=oslo(2024, 1, 2))
    world.send(status(world.now, on=[Process.EKONTAKT]))
    world.send(roster(oslo(2024, 1, 3), MIDWIFE), at=oslo(2024, 1, 3))
    (left,) = explained(world, oslo(2024, 1, 3)).listed
    assert left.text == (
        "Behandleren (HPR 9144900) står ikke lenger i behandleroversikten ved kontoret 8141333: "
        "ingen tjenester vises, og nye meldinger om behandleren avvises (E20)."
    )
