"""The published payload schemas accept every contract example and refuse each broken rule."""

from __future__ import annotations

import pytest
from lxml import etree
from msgsupport import example, variant

from adapter.messages.schemas import BEHANDLEROVERSIKT_NS, TJENESTESTATUS_NS, schema_errors

CONTENT = "{http://www.kith.no/xmlstds/msghead/2006-05-24}Content"
TIMERESERVASJON_AV = '<Prosess navn="Dialog_Innbygger_Timereservasjon" status="AV"/>'
VIKAR_TILDATO = "<TilDato>2024-07-31</TilDato>"


def payload_errors(message: bytes) -> list[str]:
    payload = etree.fromstring(message).find(f".//{CONTENT}")[0]
    return schema_errors(payload, etree.QName(payload).namespace)


@pytest.mark.parametrize("name", ["tjenestestatus-epj.xml", "tjenestestatus-ar-komplett.xml", "behandleroversikt.xml"])
def test_every_example_payload_validates(name: str) -> None:
    assert payload_errors(example(name)) == []


def test_a_complete_tjenestestatus_may_list_no_process() -> None:
    message = variant(
        "tjenestestatus-ar-komplett.xml",
        ('<Prosess navn="Dialog_Innbygger_Timereservasjon" status="PÅ"/>', ""),
        ('<Prosess navn="Dialog_Innbygger_Ekonsultasjon" status="PÅ"/>', ""),
        ('<Prosess navn="Dialog_Innbygger_Ekontakt" status="PÅ"/>', ""),
    )
    assert payload_errors(message) == []


@pytest.mark.parametrize(
    "old, new",
    [
        pytest.param(
            TIMERESERVASJON_AV,
            TIMERESERVASJON_AV.replace("Timereservasjon", "Timebok"),
            id="unknown-process",
        ),
        pytest.param(TIMERESERVASJON_AV, TIMERESERVASJON_AV * 2, id="same-process-twice"),
        pytest.param(
            TIMERESERVASJON_AV,
            TIMERESERVASJON_AV.replace('"AV"', '"AVSLÅTT"'),
            id="status-not-PÅ-or-AV",
        ),
        pytest.param(TIMERESERVASJON_AV, TIMERESERVASJON_AV.replace(' status="AV"', ""), id="status-missing"),
        pytest.param('<Kilde V="EPJ"', '<Kilde V="HELSENORGE"', id="unknown-source"),
        pytest.param("<Komplett>false</Komplett>", "<Komplett>nei</Komplett>", id="komplett-not-boolean"),
        pytest.param("<Komplett>false</Komplett>", "", id="komplett-missing"),
        pytest.param(TIMERESERVASJON_AV, TIMERESERVASJON_AV + "<Merknad>x</Merknad>", id="unknown-element"),
    ],
)
def test_tjenestestatus_breaking_one_rule_does_not_validate(old: str, new: str) -> None:
    assert payload_errors(variant("tjenestestatus-epj.xml", (old, new)))


@pytest.mark.parametrize(
    "old, new",
    [
        pytest.param("<HPR>7310428</HPR>", "", id="hpr-missing"),
        pytest.param("<HPR>7310428</HPR>", "<HPR>73104</HPR>", id="hpr-too-short"),
        pytest.param("<HPR>7310428</HPR>", "<HPR>5522113</HPR>", id="same-hpr-twice"),
        pytest.param("<HPR>7310428</HPR>", "<HPR>7310428</HPR><Epost>a@b</Epost>", id="unknown-element"),
        pytest.param("<Fornavn>Arna</Fornavn>", "", id="fornavn-missing"),
        pytest.param('<Rolle V="99" DN="Jordmor" S="2.16.578.1.12.4.1.1.9034"/>', "", id="rolle-missing"),
        pytest.param('<Rolle V="99"', "<Rolle", id="rolle-without-code"),
        pytest.param("<HER>8141705</HER>", "<HER>HER8141705</HER>", id="her-not-a-number"),
        pytest.param("<FraDato>2024-07-01</FraDato>", "", id="vikar-fradato-missing"),
        pytest.param(VIKAR_TILDATO, "<TilDato>2024-07-31+02:00</TilDato>", id="date-with-zone"),
        pytest.param(VIKAR_TILDATO, "<TilDato>2024-02-30</TilDato>", id="no-such-date"),
    ],
)
def test_behandleroversikt_breaking_one_rule_does_not_validate(old: str, new: str) -> None:
    assert payload_errors(variant("behandleroversikt.xml", (old, new)))


def test_an_empty_behandleroversikt_does_not_validate() -> None:
    root = etree.Element(f"{{{BEHANDLEROVERSIKT_NS}}}Behandleroversikt")
    assert schema_errors(root, BEHANDLEROVERSIKT_NS)


def test_the_payload_root_must_be_the_declared_element() -> None:
    root = etree.Element(f"{{{TJENESTESTATUS_NS}}}Tjenestestatuser")
    assert schema_errors(root, TJENESTESTATUS_NS)
