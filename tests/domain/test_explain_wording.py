"""Explanations word for word (issue 15): every sentence `explain` writes, pinned in full on each of
its paths, with the rule it cites and the instant it rests on. The texts are what support staff and
testers read, so a changed word is a changed output. mutmut 3 mutates neither the literal parts of
f-strings nor module constants (STATUS_TEXT, INFO_TEXT), so only exact expectations catch a change
in most of these texts. Two tables of transcripts, one line a reason: a service's reasons per path,
and the pair's sections (panel, substitute, warnings, roster) per case."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from adapter.domain.calendar import in_oslo
from adapter.domain.explain import PairExplanation, Reason, explain, known_at
from adapter.domain.model import Process, Service, Source
from adapter.domain.state import Absence, PairFacts, ProcessHistory, StatusReport

from .builders import (
    ALL_FOUR_ON,
    ASTRID,
    EKONS,
    KONTAKT,
    MIDWIFE,
    NOW,
    OFFICE,
    RESEPT,
    TIME,
    World,
    absence,
    d,
    gp,
    oslo,
    roster,
    status,
    switched_on,
    vikar,
)
from .test_explain import christmas, explained


def transcript(reasons: tuple[Reason, ...]) -> str:
    """One line a reason: its rule, its text, and "@ <Oslo time>" of the fact it rests on, if any."""
    return "\n".join(f"{r.rule} {r.text}" + (f" @ {in_oslo(r.at):%Y-%m-%d %H:%M}" if r.at else "") for r in reasons)


def lines(table_text: str) -> str:
    """A table's transcript without the indentation of the source."""
    return textwrap.dedent(table_text).strip()


def christmas_during() -> PairExplanation:
    """DOMAIN.md's worked example on 27 December: the absence closes all four."""
    return explained(christmas(), oslo(2023, 12, 27, 12))


def christmas_after() -> PairExplanation:
    """The worked example on 2 January: the run ended, three services are still switched off."""
    return explained(christmas(), oslo(2024, 1, 2, 12))


def all_four_on() -> World:
    """Astrid has all four services on from 10 January 12:00 (message "epj-1")."""
    world = World(now=NOW)
    world.send(status(NOW, on=ALL_FOUR_ON, msg_id="epj-1"))
    return world


def touching_absences() -> PairExplanation:
    """All four on; absences 15–20 and 21–25 January touch, so they are one run (R3)."""
    world = all_four_on()
    world.send(absence("a1", "2024-01-15", "2024-01-20"))
    world.send(absence("a2", "2024-01-21", "2024-01-25"))
    return explained(world, oslo(2024, 1, 16))


def all_on_no_absence() -> PairExplanation:
    return explained(all_four_on(), NOW)


def resept_never_reported() -> PairExplanation:
    """Only Kontakt legekontoret is on; an absence names Forny resept, whose process was never reported."""
    world = World(now=NOW)
    switched_on(world, NOW, Process.EKONTAKT)
    world.send(absence("a1", "2024-01-15", "2024-01-20", [RESEPT]))
    return explained(world, oslo(2024, 1, 16))


def folded_facts() -> PairFacts:
    """Forny resept known from a folded history (on until 4 January 12:00, issue 10) and one report off."""
    off = StatusReport(gen_date=oslo(2024, 1, 5), msg_id="m-off", on=False, source=Source.EPJ)
    history = ProcessHistory(reports=(off,), on_until=oslo(2024, 1, 4, 12), folded=True)
    a1 = Absence(
        absence_id="a1",
        from_date=d("2024-01-20"),
        to_date=d("2024-01-25"),
        services=frozenset([RESEPT]),
        registered_at=oslo(2024, 1, 6),
    )
    return PairFacts(
        office_her_id=OFFICE,
        practitioner_hpr=ASTRID,
        processes={Process.RESEPTFORNYELSE: history},
        absences={"a1": a1},
    )


def folded_during() -> PairExplanation:
    return explain(folded_facts(), oslo(2024, 1, 21))


def folded_looked_back() -> PairExplanation:
    """Looking back to before the one report kept: the process is known only from the folded ones."""
    at = oslo(2024, 1, 4, 18)
    return explain(known_at(folded_facts(), at), at)


def summer_substitute_world() -> World:
    """Ingar substitutes from 1 July 2024 with no end date; Kontakt legekontoret on since 20 June (CEST)."""
    world = World(gp(), vikar(start=d("2024-07-01"), end=None), now=oslo(2024, 6, 20))
    world.send(status(oslo(2024, 6, 20), on=[Process.EKONTAKT], msg_id="epj-1"))
    return world


def summer() -> PairExplanation:
    return explained(summer_substitute_world(), oslo(2024, 6, 20, 12))


def left_the_office() -> PairExplanation:
    """The worked example, and then a roster without Astrid (R16)."""
    world = christmas()
    world.send(roster(oslo(2023, 12, 21), MIDWIFE), at=oslo(2023, 12, 21))
    return explained(world, oslo(2023, 12, 27))


def summer_substitute_covers() -> PairExplanation:
    return explained(summer_substitute_world(), oslo(2024, 7, 2, 12))


SERVICE_CASES: dict[str, tuple[Callable[[], PairExplanation], Service, str]] = {
    # R1 from EPJ and from AR (complete report), R2 off, R3 one absence, R4 held until the next report, R5 closed.
    "closed, on until switched off": (
        christmas_during,
        TIME,
        """
        R1 Prosessen Dialog_Innbygger_Timereservasjon er slått av i journalsystemet (EPJ, melding epj-42, 20.12.2023 kl. 15.00). @ 2023-12-20 15:00
        R1 Prosessen Dialog_Innbygger_Timeonske er slått av i Adresseregisteret (AR, melding ar-1, 01.12.2023 kl. 07.30). @ 2023-12-01 07:30
        R2 Bestill time er av i EPJ/AR: ingen av prosessene bak tjenesten er på.
        R3 Fravær ferie (22. desember 2023–1. januar 2024) gjelder Bestill time, registrert 20.12.2023 kl. 15.05. @ 2023-12-20 15:05
        R3 Fraværet varer 22. desember 2023–1. januar 2024, så Bestill time åpner igjen 2. januar 2024.
        R4 Bestill time regnes som normalt på: prosessen Dialog_Innbygger_Timereservasjon var på fra 01.12.2023 kl. 07.30 til 20.12.2023 kl. 15.00 (melding ar-1), innenfor tiden som teller (fra 22.11.2023 kl. 00.00, 30 dager før fraværet begynte 22. desember 2023). @ 2023-12-01 07:30
        R8 Informasjonsmeldingen for tjenesten vises, fordi tjenesten vises.
        R5 Bestill time vises som midlertidig stengt – åpner igjen 2. januar 2024.
        """,
    ),
    # R6: closed by the absence and the process is off, so no replies either (and no R7).
    "closed, replies refused": (
        christmas_during,
        EKONS,
        """
        R1 Prosessen Dialog_Innbygger_Ekonsultasjon er slått av i journalsystemet (EPJ, melding epj-42, 20.12.2023 kl. 15.00). @ 2023-12-20 15:00
        R3 Fravær ferie (22. desember 2023–1. januar 2024) gjelder Start e-konsultasjon, registrert 20.12.2023 kl. 15.05. @ 2023-12-20 15:05
        R3 Fraværet varer 22. desember 2023–1. januar 2024, så Start e-konsultasjon åpner igjen 2. januar 2024.
        R4 Start e-konsultasjon regnes som normalt på: prosessen Dialog_Innbygger_Ekonsultasjon var på fra 01.12.2023 kl. 07.30 til 20.12.2023 kl. 15.00 (melding ar-1), innenfor tiden som teller (fra 22.11.2023 kl. 00.00, 30 dager før fraværet begynte 22. desember 2023). @ 2023-12-01 07:30
        R6 Svar i eksisterende samtaler tas ikke imot: prosessen Dialog_Innbygger_Ekonsultasjon er av i EPJ/AR.
        R8 Informasjonsmeldingen for tjenesten vises, fordi tjenesten vises.
        R5 Start e-konsultasjon vises som midlertidig stengt – åpner igjen 2. januar 2024.
        """,
    ),
    # R4: the report that makes it normally on still holds.
    "closed, still on": (
        christmas_during,
        KONTAKT,
        """
        R1 Prosessen Dialog_Innbygger_Ekontakt er slått på i Adresseregisteret (AR, melding ar-1, 01.12.2023 kl. 07.30). @ 2023-12-01 07:30
        R3 Fravær ferie (22. desember 2023–1. januar 2024) gjelder Kontakt legekontoret, registrert 20.12.2023 kl. 15.05. @ 2023-12-20 15:05
        R3 Fraværet varer 22. desember 2023–1. januar 2024, så Kontakt legekontoret åpner igjen 2. januar 2024.
        R4 Kontakt legekontoret regnes som normalt på: prosessen Dialog_Innbygger_Ekontakt var på fra 01.12.2023 kl. 07.30 og er fortsatt på (melding ar-1), innenfor tiden som teller (fra 22.11.2023 kl. 00.00, 30 dager før fraværet begynte 22. desember 2023). @ 2023-12-01 07:30
        R8 Informasjonsmeldingen for tjenesten vises, fordi tjenesten vises.
        R5 Kontakt legekontoret vises som midlertidig stengt – åpner igjen 2. januar 2024.
        """,
    ),
    # R3 no absence, R8 hidden, R5 not offered.
    "after the run, off": (
        christmas_after,
        TIME,
        """
        R1 Prosessen Dialog_Innbygger_Timereservasjon er slått av i journalsystemet (EPJ, melding epj-42, 20.12.2023 kl. 15.00). @ 2023-12-20 15:00
        R1 Prosessen Dialog_Innbygger_Timeonske er slått av i Adresseregisteret (AR, melding ar-1, 01.12.2023 kl. 07.30). @ 2023-12-01 07:30
        R2 Bestill time er av i EPJ/AR: ingen av prosessene bak tjenesten er på.
        R3 Ingen registrert fravær dekker Bestill time 2. januar 2024.
        R8 Informasjonsmeldingen for tjenesten vises ikke, fordi tjenesten ikke vises.
        R5 Bestill time vises ikke.
        """,
    ),
    # R1 never reported, R2 on, R3 two touching absences joined into one run.
    "touching absences": (
        touching_absences,
        TIME,
        """
        R1 Prosessen Dialog_Innbygger_Timereservasjon er slått på i journalsystemet (EPJ, melding epj-1, 10.01.2024 kl. 12.00). @ 2024-01-10 12:00
        R1 Prosessen Dialog_Innbygger_Timeonske er aldri meldt for behandleren, og regnes som av.
        R2 Bestill time er på i EPJ/AR fordi minst én av prosessene bak tjenesten er på.
        R3 Fravær a1 (15. januar 2024–20. januar 2024) gjelder Bestill time, registrert 01.12.2023 kl. 00.00. @ 2023-12-01 00:00
        R3 Fravær a2 (21. januar 2024–25. januar 2024) gjelder Bestill time, registrert 01.12.2023 kl. 00.00. @ 2023-12-01 00:00
        R3 Fraværene henger sammen til én periode 15. januar 2024–25. januar 2024, så Bestill time åpner igjen 26. januar 2024.
        R4 Bestill time regnes som normalt på: prosessen Dialog_Innbygger_Timereservasjon var på fra 10.01.2024 kl. 12.00 og er fortsatt på (melding epj-1), innenfor tiden som teller (fra 16.12.2023 kl. 00.00, 30 dager før fraværet begynte 15. januar 2024). @ 2024-01-10 12:00
        R8 Informasjonsmeldingen for tjenesten vises, fordi tjenesten vises.
        R5 Bestill time vises som midlertidig stengt – åpner igjen 26. januar 2024.
        """,
    ),
    # R6 replies accepted despite the absence, and R7's closing codes joined with "eller".
    "closed, replies accepted": (
        touching_absences,
        EKONS,
        """
        R1 Prosessen Dialog_Innbygger_Ekonsultasjon er slått på i journalsystemet (EPJ, melding epj-1, 10.01.2024 kl. 12.00). @ 2024-01-10 12:00
        R3 Fravær a1 (15. januar 2024–20. januar 2024) gjelder Start e-konsultasjon, registrert 01.12.2023 kl. 00.00. @ 2023-12-01 00:00
        R3 Fravær a2 (21. januar 2024–25. januar 2024) gjelder Start e-konsultasjon, registrert 01.12.2023 kl. 00.00. @ 2023-12-01 00:00
        R3 Fraværene henger sammen til én periode 15. januar 2024–25. januar 2024, så Start e-konsultasjon åpner igjen 26. januar 2024.
        R4 Start e-konsultasjon regnes som normalt på: prosessen Dialog_Innbygger_Ekonsultasjon var på fra 10.01.2024 kl. 12.00 og er fortsatt på (melding epj-1), innenfor tiden som teller (fra 16.12.2023 kl. 00.00, 30 dager før fraværet begynte 15. januar 2024). @ 2024-01-10 12:00
        R6 Svar i eksisterende samtaler tas imot fordi prosessen Dialog_Innbygger_Ekonsultasjon er på i EPJ/AR, selv om fraværet stenger for nye samtaler.
        R7 En samtale som kontoret har avsluttet med kode 13 «Dialog avsluttet» eller 27 «Attest vedlagt, dialog avsluttet» tar likevel ikke imot flere svar.
        R8 Informasjonsmeldingen for tjenesten vises, fordi tjenesten vises.
        R5 Start e-konsultasjon vises som midlertidig stengt – åpner igjen 26. januar 2024.
        """,
    ),
    # R6 without an absence, R5 available.
    "available": (
        all_on_no_absence,
        EKONS,
        """
        R1 Prosessen Dialog_Innbygger_Ekonsultasjon er slått på i journalsystemet (EPJ, melding epj-1, 10.01.2024 kl. 12.00). @ 2024-01-10 12:00
        R3 Ingen registrert fravær dekker Start e-konsultasjon 10. januar 2024.
        R6 Svar i eksisterende samtaler tas imot fordi prosessen Dialog_Innbygger_Ekonsultasjon er på i EPJ/AR.
        R7 En samtale som kontoret har avsluttet med kode 13 «Dialog avsluttet» eller 27 «Attest vedlagt, dialog avsluttet» tar likevel ikke imot flere svar.
        R8 Informasjonsmeldingen for tjenesten vises, fordi tjenesten vises.
        R5 Start e-konsultasjon vises og kan brukes.
        """,
    ),
    # R4: no process on within the window, so the absence does not show the button.
    "absence of a service never on": (
        resept_never_reported,
        RESEPT,
        """
        R1 Prosessen Dialog_Innbygger_Reseptfornyelse er aldri meldt for behandleren, og regnes som av.
        R3 Fravær a1 (15. januar 2024–20. januar 2024) gjelder Forny resept, registrert 01.12.2023 kl. 00.00. @ 2023-12-01 00:00
        R3 Fraværet varer 15. januar 2024–20. januar 2024, så Forny resept åpner igjen 21. januar 2024.
        R4 Forny resept regnes ikke som normalt på: ingen av prosessene bak tjenesten har vært på fra 16.12.2023 kl. 00.00, 30 dager før fraværet begynte 15. januar 2024, så fraværet viser ikke knappen.
        R8 Informasjonsmeldingen for tjenesten vises ikke, fordi tjenesten ikke vises.
        R5 Forny resept vises ikke.
        """,
    ),
    # R4 from a folded history's "on until" (issue 10).
    "closed, on by folded reports": (
        folded_during,
        RESEPT,
        """
        R1 Prosessen Dialog_Innbygger_Reseptfornyelse er slått av i journalsystemet (EPJ, melding m-off, 05.01.2024 kl. 00.00). @ 2024-01-05 00:00
        R3 Fravær a1 (20. januar 2024–25. januar 2024) gjelder Forny resept, registrert 06.01.2024 kl. 00.00. @ 2024-01-06 00:00
        R3 Fraværet varer 20. januar 2024–25. januar 2024, så Forny resept åpner igjen 26. januar 2024.
        R4 Forny resept regnes som normalt på: prosessen Dialog_Innbygger_Reseptfornyelse var på fram til 04.01.2024 kl. 12.00 (eldre meldinger, oppsummert), innenfor tiden som teller (fra 21.12.2023 kl. 00.00, 30 dager før fraværet begynte 20. januar 2024). @ 2024-01-04 12:00
        R8 Informasjonsmeldingen for tjenesten vises, fordi tjenesten vises.
        R5 Forny resept vises som midlertidig stengt – åpner igjen 26. januar 2024.
        """,
    ),
    # R1: looking back before the reports kept, only the folded summary is known.
    "known only from folded reports": (
        folded_looked_back,
        RESEPT,
        """
        R1 Prosessen Dialog_Innbygger_Reseptfornyelse er bare kjent fra eldre, oppsummerte meldinger, og regnes som av.
        R3 Ingen registrert fravær dekker Forny resept 4. januar 2024.
        R8 Informasjonsmeldingen for tjenesten vises ikke, fordi tjenesten ikke vises.
        R5 Forny resept vises ikke.
        """,
    ),
    # R1 at summer time: the GenDate in Oslo's wall-clock time (CEST), not UTC.
    "summer time": (
        summer,
        KONTAKT,
        """
        R1 Prosessen Dialog_Innbygger_Ekontakt er slått på i journalsystemet (EPJ, melding epj-1, 20.06.2024 kl. 00.00). @ 2024-06-20 00:00
        R3 Ingen registrert fravær dekker Kontakt legekontoret 20. juni 2024.
        R8 Informasjonsmeldingen for tjenesten vises, fordi tjenesten vises.
        R5 Kontakt legekontoret vises og kan brukes.
        """,
    ),
}

PAIR_CASES: dict[str, tuple[Callable[[], PairExplanation], str]] = {
    # R8 joins the buttons of the services shown with ", "; R9 lists the substitutes.
    "closed by an absence": (
        christmas_during,
        """
        panel:
        R8 Informasjonsmeldingen på fastlegepanelet vises fordi minst én tjeneste vises: Bestill time, Forny resept, Start e-konsultasjon, Kontakt legekontoret.
        substitute:
        R9 Ingen vikarperiode dekker 27. desember 2023 (vikarer i behandleroversikten: Ingar Vik 1. juli 2024–31. juli 2024).
        warnings:
        listed:
        R13 Behandleren (HPR 9144900) står i behandleroversikten ved kontoret 8141333, så meldinger og fravær for behandleren godtas.
        """,
    ),
    # R10: the run ended and three services are still off, warned from the midnight it ended.
    "after the run": (
        christmas_after,
        """
        panel:
        R8 Informasjonsmeldingen på fastlegepanelet vises fordi minst én tjeneste vises: Kontakt legekontoret.
        substitute:
        R9 Ingen vikarperiode dekker 2. januar 2024 (vikarer i behandleroversikten: Ingar Vik 1. juli 2024–31. juli 2024).
        warnings:
        R10 Fraværet er slutt, men Bestill time er fortsatt skrudd av i journalsystemet. @ 2024-01-02 00:00
        R10 Fraværet er slutt, men Forny resept er fortsatt skrudd av i journalsystemet. @ 2024-01-02 00:00
        R10 Fraværet er slutt, men E-konsultasjon er fortsatt skrudd av i journalsystemet. @ 2024-01-02 00:00
        listed:
        R13 Behandleren (HPR 9144900) står i behandleroversikten ved kontoret 8141333, så meldinger og fravær for behandleren godtas.
        """,
    ),
    # R9: a substitute period without an end date, not yet begun.
    "substitute not yet begun, open-ended": (
        summer,
        """
        panel:
        R8 Informasjonsmeldingen på fastlegepanelet vises fordi minst én tjeneste vises: Kontakt legekontoret.
        substitute:
        R9 Ingen vikarperiode dekker 20. juni 2024 (vikarer i behandleroversikten: Ingar Vik fra 1. juli 2024, uten sluttdato).
        warnings:
        listed:
        R13 Behandleren (HPR 9144900) står i behandleroversikten ved kontoret 8141333, så meldinger og fravær for behandleren godtas.
        """,
    ),
    # R9: the open-ended substitute, shown at booking.
    "substitute shown, open-ended": (
        summer_substitute_covers,
        """
        panel:
        R8 Informasjonsmeldingen på fastlegepanelet vises fordi minst én tjeneste vises: Kontakt legekontoret.
        substitute:
        R9 Ingar Vik (HPR 5522113) er vikar for fastlegen fra 1. juli 2024, uten sluttdato og vises som «Ingar Vik (vikar for fastlege)» ved timebestilling.
        warnings:
        listed:
        R13 Behandleren (HPR 9144900) står i behandleroversikten ved kontoret 8141333, så meldinger og fravær for behandleren godtas.
        """,
    ),
    # R8 with one service shown; R9: no substitute on the roster.
    "no substitute on the roster": (
        resept_never_reported,
        """
        panel:
        R8 Informasjonsmeldingen på fastlegepanelet vises fordi minst én tjeneste vises: Kontakt legekontoret.
        substitute:
        R9 Behandleroversikten oppfører ingen vikar for fastlegen.
        warnings:
        listed:
        R13 Behandleren (HPR 9144900) står i behandleroversikten ved kontoret 8141333, så meldinger og fravær for behandleren godtas.
        """,
    ),
    # R16: every section says the practitioner left; no warnings.
    "left the office": (
        left_the_office,
        """
        panel:
        R16 Behandleren (HPR 9144900) står ikke lenger i behandleroversikten ved kontoret 8141333: ingen tjenester vises, og nye meldinger om behandleren avvises (E20).
        R8 Informasjonsmeldingen på fastlegepanelet vises ikke fordi ingen tjeneste vises.
        substitute:
        R16 Behandleren (HPR 9144900) står ikke lenger i behandleroversikten ved kontoret 8141333: ingen tjenester vises, og nye meldinger om behandleren avvises (E20).
        R9 Ingen vikar vises for en behandler som har sluttet.
        warnings:
        listed:
        R16 Behandleren (HPR 9144900) står ikke lenger i behandleroversikten ved kontoret 8141333: ingen tjenester vises, og nye meldinger om behandleren avvises (E20).
        """,
    ),
}


@pytest.mark.parametrize("case", SERVICE_CASES)
def test_r1_to_r8_every_reason_of_a_service_word_for_word(case: str) -> None:
    """R1–R8: a service's reasons in order, each with its rule, its exact text and its instant."""
    build, service, expected = SERVICE_CASES[case]
    assert transcript(build().services[service].reasons) == lines(expected)


@pytest.mark.parametrize("case", PAIR_CASES)
def test_r8_r9_r10_r13_r16_the_pairs_sections_word_for_word(case: str) -> None:
    """R8 panel, R9 substitute, R9/R10 warnings, R13/R16 roster: each section's reasons in full."""
    build, expected = PAIR_CASES[case]
    why = build()
    sections = [(name, transcript(getattr(why, name))) for name in ("panel", "substitute", "warnings", "listed")]
    assert "\n".join(f"{name}:\n{text}" if text else f"{name}:" for name, text in sections) == lines(expected)


def test_r16_a_practitioner_who_left_has_every_service_explained_word_for_word() -> None:
    """R16: no service is shown and each says why, then its information message (R8) and status (R5)."""
    why = left_the_office()
    left = (
        "R16 Behandleren (HPR 9144900) står ikke lenger i behandleroversikten ved kontoret 8141333: "
        "ingen tjenester vises, og nye meldinger om behandleren avvises (E20)."
    )
    hidden = "R8 Informasjonsmeldingen for tjenesten vises ikke, fordi tjenesten ikke vises."
    for service, name in [(TIME, "Bestill time"), (RESEPT, "Forny resept"), (KONTAKT, "Kontakt legekontoret")]:
        assert transcript(why.services[service].reasons) == f"{left}\n{hidden}\nR5 {name} vises ikke."
