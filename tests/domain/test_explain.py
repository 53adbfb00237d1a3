"""Explanations (issue 13): why a pair shows what it shows, rule by rule, and never disagreeing with
`evaluate` (hypothesis property over the rules' own strategies)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given

from adapter.domain import rules
from adapter.domain.calendar import midnight, norwegian_date
from adapter.domain.explain import INFO_TEXT, STATUS_TEXT, PairExplanation, Reason, explain, known_at
from adapter.domain.model import Process, Service, Source, Status
from adapter.domain.state import Absence, PairFacts, ProcessHistory, StatusReport

from .builders import (
    ALL_FOUR_ON,
    ASTRID,
    AV,
    EKONS,
    INGAR,
    KONTAKT,
    MIDWIFE,
    NO,
    NOW,
    OFFICE,
    RESEPT,
    TC,
    TIME,
    World,
    absence,
    d,
    gp,
    offering,
    oslo,
    roster,
    status,
    switched_on,
    vikar,
)
from .test_properties import PROPERTIES, facts_and_instants


def rules_cited(reasons: tuple[Reason, ...]) -> list[str]:
    return [r.rule for r in reasons]


def texts(reasons: tuple[Reason, ...], rule: str | None = None) -> list[str]:
    return [r.text for r in reasons if rule in (None, r.rule)]


def explained(world: World, at: dt.datetime, hpr: str = ASTRID) -> PairExplanation:
    pair = world.pair(hpr)
    return explain(pair.facts, at, pair)


def christmas() -> World:
    """DOMAIN.md's worked example: all four on from AR, EPJ switches three off on 12-20 15:00, absence
    2023-12-22 – 2024-01-01 registered the same day."""
    world = World(gp(), vikar(start=d("2024-07-01"), end=d("2024-07-31")), MIDWIFE, now=oslo(2023, 12, 20, 8))
    world.send(status(oslo(2023, 12, 1, 7, 30), on=ALL_FOUR_ON, complete=True, source=Source.AR, msg_id="ar-1"))
    world.send(
        status(
            oslo(2023, 12, 20, 15),
            off=(Process.TIMERESERVASJON, Process.RESEPTFORNYELSE, Process.EKONSULTASJON),
            msg_id="epj-42",
        ),
        at=oslo(2023, 12, 20, 15),
    )
    world.send(absence("ferie", "2023-12-22", "2024-01-01", at=oslo(2023, 12, 20, 15, 5)), at=oslo(2023, 12, 20, 15, 5))
    return world


# --- R1, R2 ------------------------------------------------------------------------------------


def test_r1_names_the_winning_report_with_source_msgid_and_gendate():
    world = christmas()
    why = explained(world, oslo(2023, 12, 20, 16))
    bestill = why.services[TIME]
    assert bestill.status is NO
    (calendar, request) = [r for r in bestill.reasons if r.rule == "R1"]
    assert calendar.text == (
        "Prosessen Dialog_Innbygger_Timereservasjon er slått av i journalsystemet "
        "(EPJ, melding epj-42, 20.12.2023 kl. 15.00)."
    )
    assert calendar.at == oslo(2023, 12, 20, 15)
    assert "slått av i Adresseregisteret (AR, melding ar-1, 01.12.2023 kl. 07.30)" in request.text  # complete
    kontakt = why.services[KONTAKT]
    assert texts(kontakt.reasons, "R1") == [
        "Prosessen Dialog_Innbygger_Ekontakt er slått på i Adresseregisteret (AR, melding ar-1, 01.12.2023 kl. 07.30)."
    ]


def test_r1_a_process_never_reported_counts_as_off():
    world = World(now=NOW)
    switched_on(world, NOW, Process.EKONTAKT)
    why = explained(world, NOW)
    assert "Prosessen Dialog_Innbygger_Reseptfornyelse er aldri meldt" in texts(why.services[RESEPT].reasons, "R1")[0]


def test_r2_bestill_time_is_on_when_either_process_is_on():
    world = offering(Process.TIMEONSKE)
    reasons = explained(world, NOW).services[TIME].reasons
    assert texts(reasons, "R2") == ["Bestill time er på i EPJ/AR fordi minst én av prosessene bak tjenesten er på."]
    assert texts(reasons, "R5") == ["Bestill time vises og kan brukes."]


# --- R3, R4, R5 --------------------------------------------------------------------------------


def test_r3_r4_r5_worked_example_during_the_absence():
    world = christmas()
    why = explained(world, oslo(2023, 12, 27, 12))
    bestill = why.services[TIME]
    assert (bestill.status, bestill.reopens_on) == (TC, d("2024-01-02"))
    r3 = [r for r in bestill.reasons if r.rule == "R3"]
    assert r3[0].text == (
        "Fravær ferie (22. desember 2023–1. januar 2024) gjelder Bestill time, registrert 20.12.2023 kl. 15.05."
    )
    assert r3[0].at == oslo(2023, 12, 20, 15, 5)
    assert r3[1].text == "Fraværet varer 22. desember 2023–1. januar 2024, så Bestill time åpner igjen 2. januar 2024."
    (r4,) = [r for r in bestill.reasons if r.rule == "R4"]
    assert (
        "regnes som normalt på: prosessen Dialog_Innbygger_Timereservasjon var på fra 01.12.2023 kl. 07.30" in r4.text
    )
    assert "til 20.12.2023 kl. 15.00 (melding ar-1)" in r4.text
    assert r4.at == oslo(2023, 12, 1, 7, 30)
    assert bestill.reasons[-1] == Reason(
        "R5", "Bestill time vises som midlertidig stengt – åpner igjen 2. januar 2024."
    )
    kontakt_r4 = texts(why.services[KONTAKT].reasons, "R4")[0]
    assert "og er fortsatt på" in kontakt_r4  # on now counts (R4)


def test_r3_touching_absences_form_one_run_and_both_are_named():
    world = offering()
    world.send(absence("a1", "2024-01-15", "2024-01-20"))
    world.send(absence("a2", "2024-01-21", "2024-01-25"))
    reasons = explained(world, oslo(2024, 1, 16)).services[RESEPT].reasons
    r3 = texts(reasons, "R3")
    assert [t.split(" (")[0] for t in r3[:2]] == ["Fravær a1", "Fravær a2"]
    assert r3[2] == (
        "Fraværene henger sammen til én periode 15. januar 2024–25. januar 2024, "
        "så Forny resept åpner igjen 26. januar 2024."
    )


def test_r3_no_absence_covering_the_day():
    world = offering()
    world.send(absence("a1", "2024-01-15", "2024-01-20", [KONTAKT]))
    reasons = explained(world, oslo(2024, 1, 16)).services[RESEPT].reasons
    assert texts(reasons, "R3") == ["Ingen registrert fravær dekker Forny resept 16. januar 2024."]
    assert "R4" not in rules_cited(reasons)


def test_r4_a_service_off_for_longer_than_30_days_is_not_shown_by_an_absence():
    world = World(now=oslo(2023, 11, 1))
    switched_on(world, oslo(2023, 11, 1), Process.EKONTAKT)
    world.send(absence("a1", "2024-01-15", "2024-01-20"), at=NOW)
    why = explained(world, oslo(2024, 1, 16))
    resept = why.services[RESEPT]
    assert resept.status is NO
    (r4,) = texts(resept.reasons, "R4")
    assert r4.startswith("Forny resept regnes ikke som normalt på")
    assert "fra 16.12.2023 kl. 00.00, 30 dager før fraværet begynte 15. januar 2024" in r4


def test_r4_a_folded_history_answers_with_the_instant_it_was_on_until():
    """Older reports folded into "on until" (issue 10) still make the service count as normally on."""
    off = StatusReport(gen_date=oslo(2024, 1, 5), msg_id="m-off", on=False, source=Source.EPJ)
    history = ProcessHistory(reports=(off,), on_until=oslo(2024, 1, 4, 12), folded=True)
    facts = PairFacts(
        office_her_id=OFFICE,
        practitioner_hpr=ASTRID,
        processes={Process.RESEPTFORNYELSE: history},
        absences={
            "a1": Absence(
                absence_id="a1",
                from_date=d("2024-01-20"),
                to_date=d("2024-01-25"),
                services=frozenset([RESEPT]),
                registered_at=oslo(2024, 1, 6),
            )
        },
    )
    resept = explain(facts, oslo(2024, 1, 21)).services[RESEPT]
    assert resept.status is TC
    (r4,) = [r for r in resept.reasons if r.rule == "R4"]
    assert "var på fram til 04.01.2024 kl. 12.00 (eldre meldinger, oppsummert)" in r4.text
    assert r4.at == oslo(2024, 1, 4, 12)
    before = explain(known_at(facts, oslo(2024, 1, 4, 18)), oslo(2024, 1, 4, 18)).services[RESEPT]
    assert "bare kjent fra eldre, oppsummerte meldinger" in texts(before.reasons, "R1")[0]


# --- R6, R7, R8 --------------------------------------------------------------------------------


def test_r6_r7_replies_accepted_during_an_absence_while_still_on():
    world = offering()
    world.send(absence("a1", "2024-01-15", "2024-01-20", [EKONS]))
    ekons = explained(world, oslo(2024, 1, 16)).services[EKONS]
    assert ekons.status is TC
    (r6,) = texts(ekons.reasons, "R6")
    assert r6.startswith("Svar i eksisterende samtaler tas imot") and "selv om fraværet stenger" in r6
    (r7,) = texts(ekons.reasons, "R7")
    assert "13 «Dialog avsluttet»" in r7


def test_r6_no_replies_when_the_process_is_off():
    world = christmas()
    ekons = explained(world, oslo(2023, 12, 27)).services[EKONS]
    assert texts(ekons.reasons, "R6") == [
        "Svar i eksisterende samtaler tas ikke imot: prosessen Dialog_Innbygger_Ekonsultasjon er av i EPJ/AR."
    ]
    assert "R7" not in rules_cited(ekons.reasons)


def test_r8_panel_names_the_services_shown_or_says_none_is():
    world = christmas()
    assert texts(explained(world, oslo(2023, 12, 20, 16)).panel) == [
        "Informasjonsmeldingen på fastlegepanelet vises fordi minst én tjeneste vises: Kontakt legekontoret."
    ]
    nothing = World(now=NOW)
    switched_on(nothing, NOW)  # a report with no process on
    assert texts(explained(nothing, NOW).panel) == [
        "Informasjonsmeldingen på fastlegepanelet vises ikke fordi ingen tjeneste vises."
    ]


# --- R9, R10 -----------------------------------------------------------------------------------


def test_r9_the_substitute_shown_and_the_warning_when_an_absence_overrides_it():
    world = World(gp(), vikar(start=d("2024-01-15"), end=d("2024-01-31")), now=NOW)
    switched_on(world, NOW, *ALL_FOUR_ON)
    before = explained(world, NOW)
    assert texts(before.substitute) == [
        "Ingen vikarperiode dekker 10. januar 2024 (vikarer i behandleroversikten: "
        "Ingar Vik 15. januar 2024–31. januar 2024)."
    ]
    world.send(absence("a1", "2024-01-20", "2024-01-22"))
    why = explained(world, oslo(2024, 1, 20, 9))
    assert texts(why.substitute) == [
        f"Ingar Vik (HPR {INGAR}) er vikar for fastlegen 15. januar 2024–31. januar 2024 "
        "og vises som «Ingar Vik (vikar for fastlege)» ved timebestilling."
    ]
    (warning,) = why.warnings
    assert warning.rule == "R9"
    assert warning.text.startswith("Fraværet 20.01.2024–22.01.2024 stenger tjenestene, selv om Ingar Vik er vikar")
    assert warning.text.endswith("Varselet er sendt til fastlegen.")
    assert why.services[TIME].status is TC  # R9: statuses follow R5 unchanged
    after = explained(world, oslo(2024, 1, 23))
    assert after.warnings == ()  # the absence is over


def test_r10_the_forgotten_switch_is_warned_after_the_run_ends():
    world = christmas()
    during = explained(world, oslo(2023, 12, 27))
    assert during.warnings == ()
    why = explained(world, oslo(2024, 1, 2))
    assert [(w.rule, w.at) for w in why.warnings] == [("R10", midnight(d("2024-01-02")))] * 3
    assert texts(why.warnings) == [
        "Fraværet er slutt, men Bestill time er fortsatt skrudd av i journalsystemet.",
        "Fraværet er slutt, men Forny resept er fortsatt skrudd av i journalsystemet.",
        "Fraværet er slutt, men E-konsultasjon er fortsatt skrudd av i journalsystemet.",
    ]
    # The engine published the same three texts at that midnight.
    world.tick(oslo(2024, 1, 2))
    assert [w.text for w in world.warnings("SERVICE_STILL_OFF_AFTER_ABSENCE")] == texts(why.warnings)


def test_r10_no_warning_once_the_service_is_switched_back_on():
    world = christmas()
    switched_on(world, oslo(2024, 1, 2, 8), Process.TIMERESERVASJON)
    why = explained(world, oslo(2024, 1, 2, 9))
    assert [w.text.split(", men ")[1].split(" er ")[0] for w in why.warnings] == ["Forny resept", "E-konsultasjon"]


# --- R13, R16 ----------------------------------------------------------------------------------


def test_r13_listed_practitioner():
    world = offering()
    assert rules_cited(explained(world, NOW).listed) == ["R13"]


def test_r16_a_practitioner_who_left_offers_nothing_and_every_section_says_why():
    world = christmas()
    world.send(roster(oslo(2023, 12, 21), MIDWIFE), at=oslo(2023, 12, 21))
    why = explained(world, oslo(2023, 12, 27))
    assert rules_cited(why.listed) == ["R16"]
    assert all(e.status is NO and rules_cited(e.reasons) == ["R16", "R8", "R5"] for e in why.services.values())
    assert rules_cited(why.panel) == ["R16", "R8"]
    assert why.warnings == ()


# --- against evaluate --------------------------------------------------------------------------


@PROPERTIES
@given(facts_and_instants())
def test_the_explanation_always_names_the_status_evaluate_returns(case):
    facts, instant = case
    availability = rules.evaluate(facts, instant).availability
    why = explain(facts, instant)
    assert list(why.services) == list(Service)
    for service, explanation in why.services.items():
        view = availability.services.of(service)
        assert (explanation.status, explanation.reopens_on) == (view.status, view.reopens_on)
        *_, info, last = explanation.reasons
        assert last.rule == "R5" and STATUS_TEXT[view.status] in last.text
        assert info == Reason("R8", INFO_TEXT[view.info_visible])
        cited = rules_cited(explanation.reasons)
        if not facts.listed:
            assert cited == ["R16", "R8", "R5"]
        elif view.status is Status.TEMPORARILY_CLOSED:
            assert "R4" in cited and "regnes som normalt på" in texts(explanation.reasons, "R4")[0]
            assert f"åpner igjen {norwegian_date(view.reopens_on)}" in texts(explanation.reasons, "R3")[-1]  # R3
        elif view.status is Status.AVAILABLE:
            assert any(" slått på " in t for t in texts(explanation.reasons, "R1"))
    shown = any(v.status is not Status.NOT_OFFERED for v in why.services.values())
    assert (" vises fordi " in why.panel[-1].text) is shown is availability.panel_info_visible
    substitute = availability.substitute
    assert (substitute is not None and f"HPR {substitute.hpr}" in why.substitute[-1].text) or substitute is None
    assert all(w.rule in ("R9", "R10") for w in why.warnings)
    if any(w.rule == "R10" for w in why.warnings):
        assert any(availability.services.of(s).status is NO for s in Service)


# --- looking back ------------------------------------------------------------------------------


def test_known_at_shows_what_citizens_saw_then_in_the_worked_example():
    """DOMAIN.md's table, row by row, from the state as it is after 2 January."""
    world = christmas()
    world.tick(oslo(2024, 1, 3))
    facts = world.pair().facts
    reopen = d("2024-01-02")
    rows = {
        oslo(2023, 12, 20, 14, 30): ((AV, AV, AV, AV), None),
        oslo(2023, 12, 20, 15, 0): ((NO, NO, NO, AV), None),
        oslo(2023, 12, 27, 12, 0): ((TC, TC, TC, TC), reopen),
        oslo(2024, 1, 2, 0, 0): ((NO, NO, NO, AV), None),
    }
    for instant, (statuses, reopens) in rows.items():
        why = explain(known_at(facts, instant), instant)
        assert tuple(why.services[s].status for s in Service) == statuses, instant
        assert {why.services[s].reopens_on for s in Service} == {reopens}, instant
    # At 14:30 the report that switched three services off was not yet sent: the explanation cites
    # the AR report that had them on.
    earlier = explain(known_at(facts, oslo(2023, 12, 20, 14, 30)), oslo(2023, 12, 20, 14, 30))
    assert "slått på i Adresseregisteret (AR, melding ar-1" in texts(earlier.services[TIME].reasons, "R1")[0]
    assert earlier.warnings == ()


def test_known_at_leaves_out_an_absence_registered_later():
    world = offering()
    world.send(absence("late", "2024-01-10", "2024-01-20", at=oslo(2024, 1, 12)), at=oslo(2024, 1, 12))
    facts = world.pair().facts
    assert explain(known_at(facts, oslo(2024, 1, 11)), oslo(2024, 1, 11)).services[RESEPT].status is AV
    assert explain(known_at(facts, oslo(2024, 1, 13)), oslo(2024, 1, 13)).services[RESEPT].status is TC


@PROPERTIES
@given(facts_and_instants())
def test_known_at_the_latest_instant_changes_nothing(case):
    facts, instant = case
    latest = max(
        [instant]
        + [r.gen_date for h in facts.processes.values() for r in h.reports]
        + [a.registered_at for a in facts.absences.values()]
        + [h.on_until for h in facts.processes.values() if h.on_until is not None]
    )
    assert rules.evaluate(known_at(facts, latest), instant) == rules.evaluate(facts, instant)
