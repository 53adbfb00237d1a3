"""Explanations (`adapter/domain/explain.py`, issue 13): behaviour the mutation run of issue 15 found
unpinned (`bench/mutation.py`), grouped by rule. Each explanation must cite exactly the facts
DOMAIN.md's rules rest on."""

from __future__ import annotations

import datetime as dt

from adapter.domain.explain import Reason, explain, known_at
from adapter.domain.model import Process, Source
from adapter.domain.state import PairFacts, ProcessHistory, StatusReport

from .builders import (
    ALL,
    ASTRID,
    EKONS,
    KONTAKT,
    MIDWIFE,
    NO,
    OFFICE,
    RESEPT,
    TC,
    TIME,
    World,
    absence,
    d,
    gp,
    oslo,
    roster,
    status,
    vikar,
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


def test_r1_a_report_stored_before_its_source_was_kept_is_cited_without_one() -> None:
    world = World(now=oslo(2024, 1, 2, 9))
    world.send(status(oslo(2024, 1, 2, 9), on=[Process.RESEPTFORNYELSE], msg_id="gammel"))
    facts = world.pair().facts
    history = facts.processes[Process.RESEPTFORNYELSE]
    unsourced = history.model_copy(
        update={"reports": tuple(r.model_copy(update={"source": None}) for r in history.reports)}
    )
    facts = facts.model_copy(update={"processes": {**facts.processes, Process.RESEPTFORNYELSE: unsourced}})
    (r1,) = texts(explain(facts, oslo(2024, 1, 2, 10)).services[RESEPT].reasons, "R1")
    assert (
        r1
        == "Prosessen Dialog_Innbygger_Reseptfornyelse er slått på (meldt av EPJ/AR, melding gammel, 02.01.2024 kl. 09.00)."
    )


def test_r2_is_explained_only_for_bestill_time_the_service_with_two_processes() -> None:
    world = World(now=oslo(2024, 1, 2))
    world.send(status(world.now, on=[Process.RESEPTFORNYELSE]))
    why = explained(world, oslo(2024, 1, 2, 1))
    assert texts(why.services[TIME].reasons, "R2") == [
        "Bestill time er av i EPJ/AR: ingen av prosessene bak tjenesten er på."
    ]
    assert texts(why.services[RESEPT].reasons, "R2") == []


def test_r4_the_reasons_a_service_counts_or_does_not_count_as_normally_on_in_full() -> None:
    world = World(now=oslo(2024, 1, 2))
    world.send(status(oslo(2024, 1, 2), on=[Process.EKONTAKT], msg_id="m-1"))
    world.send(absence("ferie", "2024-01-10", "2024-01-12", [KONTAKT, RESEPT]))
    why = explained(world, oslo(2024, 1, 11, 12))
    window = "innenfor tiden som teller (fra 11.12.2023 kl. 00.00, 30 dager før fraværet begynte 10. januar 2024)"
    assert texts(why.services[KONTAKT].reasons, "R4") == [
        "Kontakt legekontoret regnes som normalt på: prosessen Dialog_Innbygger_Ekontakt var på fra "
        f"02.01.2024 kl. 00.00 og er fortsatt på (melding m-1), {window}."
    ]
    assert texts(why.services[RESEPT].reasons, "R4") == [
        "Forny resept regnes ikke som normalt på: ingen av prosessene bak tjenesten har vært på "
        "fra 11.12.2023 kl. 00.00, 30 dager før fraværet begynte 10. januar 2024, så fraværet viser ikke knappen."
    ]


def test_r6_r7_replies_explained_in_full_with_and_without_an_absence() -> None:
    world = World(now=oslo(2024, 1, 2))
    world.send(status(world.now, on=[Process.EKONSULTASJON]))
    world.send(absence("ferie", "2024-01-10", "2024-01-12", [EKONS]))
    r7 = (
        "En samtale som kontoret har avsluttet med kode 13 «Dialog avsluttet» eller "
        "27 «Attest vedlagt, dialog avsluttet» tar likevel ikke imot flere svar."
    )
    before = explained(world, oslo(2024, 1, 9)).services[EKONS].reasons
    assert texts(before, "R6") == [
        "Svar i eksisterende samtaler tas imot fordi prosessen Dialog_Innbygger_Ekonsultasjon er på i EPJ/AR."
    ]
    assert texts(before, "R7") == [r7]
    during = explained(world, oslo(2024, 1, 11)).services[EKONS].reasons
    assert texts(during, "R6") == [
        "Svar i eksisterende samtaler tas imot fordi prosessen Dialog_Innbygger_Ekonsultasjon er på i EPJ/AR, "
        "selv om fraværet stenger for nye samtaler."
    ]


def test_r13_a_listed_practitioner_is_explained_in_words() -> None:
    world = World(now=oslo(2024, 1, 2))
    world.send(status(world.now, on=[Process.EKONTAKT]))
    (listed,) = explained(world, oslo(2024, 1, 2)).listed
    assert listed.text == (
        "Behandleren (HPR 9144900) står i behandleroversikten ved kontoret 8141333, "
        "så meldinger og fravær for behandleren godtas."
    )


def test_r8_the_panel_names_the_services_shown_and_each_explanation_names_its_service_and_instant() -> None:
    world = World(now=oslo(2024, 1, 2))
    world.send(status(world.now, on=[Process.RESEPTFORNYELSE, Process.EKONTAKT]))
    at = oslo(2024, 1, 2, 1)
    why = explained(world, at)
    assert why.instant == at and all(s is e.service for s, e in why.services.items())
    assert why.panel == (
        Reason(
            "R8",
            "Informasjonsmeldingen på fastlegepanelet vises fordi minst én tjeneste vises: "
            "Forny resept, Kontakt legekontoret.",
        ),
    )


VERA = "6600001"


def two_substitutes(now: dt.datetime) -> World:
    """Vera covers Astrid 1–20 July, Ingar the whole of July (listed in that order)."""
    vera = vikar(VERA, given="Vera", family="Vikar", start=d("2024-07-01"), end=d("2024-07-20"))
    ingar = vikar(start=d("2024-06-25"), end=d("2024-07-31"))
    world = World(gp(), vera, ingar, now=now)
    world.send(status(world.now, on=[Process.EKONTAKT]))
    return world


def test_r9_the_substitute_section_in_every_case() -> None:
    assert explained(offering_kontakt(), oslo(2024, 6, 10, 1)).substitute == (
        Reason("R9", "Behandleroversikten oppfører ingen vikar for fastlegen."),
    )
    world = two_substitutes(oslo(2024, 6, 10))
    assert texts(explained(world, oslo(2024, 6, 10, 1)).substitute, "R9") == [
        "Ingen vikarperiode dekker 10. juni 2024 (vikarer i behandleroversikten: "
        "Vera Vikar 1. juli 2024–20. juli 2024; Ingar Vik 25. juni 2024–31. juli 2024)."
    ]
    assert texts(explained(world, oslo(2024, 7, 10)).substitute, "R9") == [
        "Ingar Vik (HPR 5522113) er vikar for fastlegen 25. juni 2024–31. juli 2024 og vises som "
        "«Ingar Vik (vikar for fastlege)» ved timebestilling. Flere vikarer dekker dagen; den som begynte først vises."
    ]
    world.send(roster(oslo(2024, 7, 11), MIDWIFE), at=oslo(2024, 7, 11))
    section = explained(world, oslo(2024, 7, 11, 1)).substitute
    assert [r.rule for r in section] == ["R16", "R9"]
    assert section[-1].text == "Ingen vikar vises for en behandler som har sluttet."


def offering_kontakt() -> World:
    world = World(now=oslo(2024, 6, 10))
    world.send(status(world.now, on=[Process.EKONTAKT]))
    return world


def test_r9_the_warnings_that_apply_each_absence_and_substitute_and_whether_sent() -> None:
    """R9: while an absence is not over, each substitute period it overlaps is warned about."""
    world = World(
        gp(),
        vikar(VERA, given="Vera", family="Vikar", start=d("2024-06-01"), end=d("2024-06-03")),
        vikar(start=d("2024-07-01"), end=d("2024-07-31")),
        now=oslo(2024, 6, 10),
    )
    world.send(status(world.now, on=[Process.EKONTAKT]))
    world.send(absence("a1", "2024-07-05", "2024-07-06", at=oslo(2024, 6, 10, 1)))
    world.send(absence("a2", "2024-07-10", "2024-07-12", at=oslo(2024, 6, 10, 2)))
    text = "Fraværet {} stenger tjenestene, selv om Ingar Vik er vikar for fastlegen i perioden. "
    text += "Med vikar skal det ikke registreres fravær."
    a1, a2 = text.format("05.07.2024–06.07.2024"), text.format("10.07.2024–12.07.2024")
    sent = " Varselet er sendt til fastlegen."
    on_its_last_day = explained(world, oslo(2024, 7, 6, 12)).warnings
    assert [(w.rule, w.text, w.at) for w in on_its_last_day] == [
        ("R9", a1 + sent, oslo(2024, 6, 10, 1)),
        ("R9", a2 + sent, oslo(2024, 6, 10, 2)),
    ]
    assert texts(explained(world, oslo(2024, 7, 7)).warnings) == [a2 + sent]
    pair = world.pair()
    facts = pair.facts
    assert texts(explain(facts, oslo(2024, 7, 7)).warnings) == [a2]
    not_sent = pair.model_copy(update={"warned": frozenset()})
    assert texts(explain(facts, oslo(2024, 7, 7), not_sent).warnings) == [a2 + " Varselet er ikke sendt ennå."]


def test_r1_r4_known_at_cuts_a_folded_on_until_at_the_instant_and_keeps_it_after() -> None:
    """Reports folded into "on until" (issue 10): looking back to an instant, the process was on
    until that instant at the latest; after its on_until, exactly until then."""
    off = StatusReport(gen_date=oslo(2024, 1, 5), msg_id="m-off", on=False, source=Source.EPJ)
    history = ProcessHistory(reports=(off,), on_until=oslo(2024, 1, 4, 12), folded=True)
    facts = PairFacts(office_her_id=OFFICE, practitioner_hpr=ASTRID, processes={Process.RESEPTFORNYELSE: history})
    earlier = known_at(facts, oslo(2024, 1, 3)).processes[Process.RESEPTFORNYELSE]
    assert (earlier.on_until, earlier.reports, earlier.folded) == (oslo(2024, 1, 3), (), True)
    later = known_at(facts, oslo(2024, 1, 6)).processes[Process.RESEPTFORNYELSE]
    assert (later.on_until, later.reports, later.folded) == (oslo(2024, 1, 4, 12), (off,), True)


def test_r3_known_at_the_instant_an_absence_was_registered_includes_it() -> None:
    """R3, looking back: an absence counts from the instant it was registered, that instant included
    (only the hypothesis property could hit the boundary before, so the kill depended on the draw)."""
    world = World(now=oslo(2024, 1, 2))
    world.send(status(world.now, on=[Process.RESEPTFORNYELSE]))
    registered = oslo(2024, 1, 12, 9, 30)
    world.send(absence("ferie", "2024-01-10", "2024-01-20", [RESEPT], at=registered), at=registered)
    facts = world.pair().facts
    assert set(known_at(facts, registered).absences) == {"ferie"}
    assert explain(known_at(facts, registered), registered).services[RESEPT].status is TC
    assert known_at(facts, registered - dt.timedelta(microseconds=1)).absences == {}
