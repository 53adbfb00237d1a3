"""The support console over plain HTTP (issue 13): the credential, unknown offices, the search, what
the page says of the webinar's recommended solution 1 at chosen instants, and that no personal data
reaches it. The store is real (a SQLite file, a PostgreSQL schema), written through the service layer."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import lxml.html
import pytest

from adapter.api.app import create_app
from adapter.api.reads import Reader, open_reader
from adapter.config import ConfigurationError, load_settings
from adapter.domain.model import Practitioner
from adapter.domain.state import OfficeState
from adapter.store import open_store

from .support import scenario, write_steps

OSLO = dt.timezone(dt.timedelta(hours=1))
OFFICE, GP = 8141333, "9144900"
TOKEN = "console-test-token-7f3a"
NOW = dt.datetime(2023, 12, 27, 12, 0, tzinfo=OSLO)


def basic(password: str, user: str = "kundesenter") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def _store_with(url: str, name: str) -> str:
    store = await open_store(url)
    try:
        await write_steps(store, scenario(name))
    finally:
        await store.close()
    return url


@pytest.fixture
async def reader(store_url: str) -> AsyncIterator[Reader]:
    opened = await open_reader(await _store_with(store_url, "recommended-solution-1"))
    try:
        yield opened
    finally:
        await opened.close()


def _client(reader: Reader, token: str | None = TOKEN) -> httpx.AsyncClient:
    app = create_app(reader, lambda: NOW, console_token=token)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://console", headers=basic(TOKEN) if token else {})


@pytest.fixture
async def client(reader: Reader) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(reader) as http:
        yield http


def text_of(html: str) -> str:
    """The page's text as a reader sees it: tags dropped, whitespace folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def test_the_console_is_off_unless_a_credential_is_configured(reader: Reader) -> None:
    async with _client(reader, token=None) as http:
        answer = await http.get(f"/console/offices/{OFFICE}", headers=basic(TOKEN))
        assert answer.status_code == 404
        assert (await http.get(f"/v1/offices/{OFFICE}/availability")).status_code == 200  # the API is on


def test_a_short_token_is_refused_at_start_and_not_repeated() -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_settings(console_token="s3cret-short")
    assert "DDFL_CONSOLE_TOKEN" in str(refused.value) and "16 characters" in str(refused.value)
    assert "s3cret" not in str(refused.value)
    assert load_settings(console_token=TOKEN).console_token is not None
    assert load_settings().api_host == "127.0.0.1"  # the console is reachable from this host only


async def test_without_a_credential_the_answer_is_401_with_a_basic_challenge(client: httpx.AsyncClient) -> None:
    for path in ("/console/", f"/console/offices/{OFFICE}", "/console/offices/1234567"):
        answer = await client.get(path, headers={"Authorization": ""})
        assert answer.status_code == 401, path
        assert answer.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert "Astrid" not in answer.text and "9144900" not in answer.text


async def test_a_wrong_credential_is_403_whether_basic_or_bearer(client: httpx.AsyncClient) -> None:
    for headers in (basic("wrong"), basic(TOKEN[:-1]), {"Authorization": "Bearer wrong"}):
        answer = await client.get(f"/console/offices/{OFFICE}", headers=headers)
        assert answer.status_code == 403, headers
        assert "Astrid" not in answer.text


async def test_the_token_is_accepted_as_a_bearer_token_too(client: httpx.AsyncClient) -> None:
    answer = await client.get(f"/console/offices/{OFFICE}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]


async def test_an_unknown_office_is_404(client: httpx.AsyncClient) -> None:
    answer = await client.get("/console/offices/1234567")
    assert answer.status_code == 404
    assert "1234567 er ukjent" in text_of(answer.text)
    searched = await client.get("/console/", params={"q": "1234567"})
    assert searched.status_code == 404


async def test_an_office_is_found_by_her_id_and_by_a_practitioners_name(client: httpx.AsyncClient) -> None:
    by_id = await client.get("/console/", params={"q": str(OFFICE)})
    assert by_id.status_code == 303
    assert by_id.headers["Location"] == f"/console/offices/{OFFICE}"
    by_name = await client.get("/console/", params={"q": "astrid INFO"})
    assert by_name.status_code == 200
    assert f'href="http://console/console/offices/{OFFICE}"' in by_name.text
    assert "Astrid Info" in text_of(by_name.text)
    by_office_name = await client.get("/console/", params={"q": "lysaker LEGESENTER"})
    assert "Lysaker legesenter (HER-id 8141333)" in text_of(by_office_name.text)
    assert "Arna Berg, Astrid Info, Ingar Vik" in text_of(by_office_name.text)  # its people, to choose from
    nobody = await client.get("/console/", params={"q": "Nordmann"})
    assert "Ingen legekontor" in text_of(nobody.text)


async def test_r3_r4_on_27_december_bestill_time_is_temporarily_closed_and_the_page_says_why(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get(f"/console/offices/{OFFICE}", params={"at": "2023-12-27T12:00"})
    assert answer.status_code == 200
    page = text_of(answer.text)
    assert "Lysaker legesenter HER-id 8141333" in page  # the office's name, from its behandleroversikt
    assert "Fastlegen din er Astrid Info" in page
    assert "Astrid Info (fastlege) · Ingar Vik (vikar for fastlege) · Arna Berg (rolle 99)" in _section(
        answer.text, "practitioners"
    )
    booking = _section(answer.text, f"service-{GP}-TIMEBESTILLING")
    assert "Bestill time" in booking
    assert "midlertidig stengt – åpner igjen 2. januar 2024" in booking
    assert "R3" in booking  # the absence run that closes it
    assert "R4" in booking  # why it counts as normally on
    assert "Informasjonsmeldingen vises" in page
    assert f'id="strip-{GP}"' in answer.text and "<rect" in answer.text
    assert "kom inn etter 27.12.2023 kl. 12.00 er også med" not in page  # 27 December is "now" here
    assert "(vikar for fastlege)" not in booking


async def test_r10_on_2_january_the_switched_off_services_are_gone_and_the_warning_is_shown(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get(f"/console/offices/{OFFICE}", params={"at": "2024-01-02T12:00"})
    assert answer.status_code == 200
    booking = _section(answer.text, f"service-{GP}-TIMEBESTILLING")
    assert "vises ikke" in booking
    warnings = _section(answer.text, f"warnings-{GP}")
    assert "R10" in warnings
    assert "Bestill time" in warnings
    contact = _section(answer.text, f"service-{GP}-KONTAKT_LEGEKONTORET")
    assert "vises og kan brukes" in contact
    assert "per 27.12.2023 kl. 12.00" not in text_of(answer.text)  # a future instant: no "as now known"
    assert "før 02.01.2024 kl. 12.00" in text_of(answer.text)


async def test_the_timeline_lists_the_inputs_and_events_of_the_pair(client: httpx.AsyncClient) -> None:
    answer = await client.get(f"/console/offices/{OFFICE}", params={"at": "2023-12-27T12:00"})
    timeline = _section(answer.text, f"timeline-{GP}")
    assert "Fravær registrert av HPR 9144900" in timeline
    assert "439f53ee-db72-4866-af0b-713292b36a4b" in timeline  # the absence's id
    assert "Melding DIALOG_INNBYGGER_TJENESTESTATUS fra HER-id" in timeline
    assert "kvittert OK" in timeline
    assert "sekvens 2: Bestill time vises ikke" in timeline  # the events published about the pair
    assert timeline.index("Fravær registrert") < timeline.index("Melding")  # newest first
    earlier = await client.get(f"/console/offices/{OFFICE}", params={"at": "2023-12-20T14:30"})
    rows = lxml.html.fromstring(earlier.text).get_element_by_id(f"timeline-{GP}").findall(".//tr")
    later = [" ".join(row.text_content().split()) for row in rows if row.get("class") == "later"]
    assert later and all("20.12.2023 kl. 15." in row for row in later)  # what came after 14:30 is marked


async def test_a_past_instant_says_the_facts_are_the_ones_known_now(client: httpx.AsyncClient) -> None:
    answer = await client.get(f"/console/offices/{OFFICE}", params={"at": "2023-12-20T14:30"})
    page = text_of(answer.text)
    assert "det adapteren vet nå" in page
    assert "vises og kan brukes" in _section(answer.text, f"service-{GP}-KONTAKT_LEGEKONTORET")


async def test_a_substitute_is_shown_as_vikar_for_fastlege_during_the_period(client: httpx.AsyncClient) -> None:
    """R9: Ingar Vik covers Astrid Info 1-31 July 2024 (behandleroversikt-lysaker.xml)."""
    answer = await client.get(f"/console/offices/{OFFICE}", params={"at": "2024-07-10T09:00"})
    assert "Ingar Vik (vikar for fastlege)" in text_of(_section(answer.text, f"substitute-{GP}"))


async def test_names_from_a_roster_are_escaped_not_run(store_url: str) -> None:
    """A behandleroversikt is outside input: a name that is markup is shown as text."""
    url = await _store_with(store_url, "recommended-solution-1")
    practitioner = Practitioner(hpr="1234567", given_name="<script>alert(1)</script>", family_name="Ås", role="6")
    store = await open_store(url)
    try:
        async with store.transaction() as tx:
            await tx.put_office(4242424, OfficeState(her_id=4242424, roster={"1234567": practitioner}).to_json())
    finally:
        await store.close()
    reads = await open_reader(url)
    try:
        async with _client(reads) as http:
            page = (await http.get("/console/offices/4242424")).text
            found = (await http.get("/console/", params={"q": "ås"})).text
    finally:
        await reads.close()
    for html in (page, found):
        assert "<script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Ås" in html
    assert 'href="http://console/console/offices/4242424"' in found


async def test_an_instant_that_does_not_parse_is_400(client: httpx.AsyncClient) -> None:
    for at in ("27.12.2023", "0001-01-01T00:00", "2023-13-01T12:00"):
        answer = await client.get(f"/console/offices/{OFFICE}", params={"at": at})
        assert answer.status_code == 400, at
        assert "Ugyldig tidspunkt" in answer.text


async def test_no_personal_data_reaches_the_page(store_url: str) -> None:
    """The dialogue scenario's messages name a patient (fødselsnummer and name); the state holds
    neither, and no page of the console shows them at any instant."""
    xml = "".join(
        p.read_text(encoding="utf-8")
        for p in (Path(__file__).parents[2] / "fixtures" / "messages").glob("dialog-*.xml")
    )
    fnrs = set(re.findall(r"<Id>(\d{11})</Id>", xml))
    patients = set(re.findall(r"<Patient>.*?<FamilyName>([^<]+)</FamilyName>", xml, re.S))
    assert fnrs and patients  # the fixture does carry personal data
    reads = await open_reader(await _store_with(store_url, "dialogue-closed-during-absence"))
    try:
        async with _client(reads) as http:
            offices = {int(o) for o in re.findall(r"<Id>(\d{7})</Id>", xml)}
            pages = []
            for office in offices:
                for at in ("", "2023-12-27T12:00", "2024-01-02T12:00"):
                    answer = await http.get(f"/console/offices/{office}", params={"at": at} if at else {})
                    if answer.status_code == 200:
                        pages.append(answer.text)
            assert pages, "no office of the dialogue scenario is known"
            for page in pages:
                assert not any(f in page for f in fnrs)
                assert not any(name in page for name in patients)
                assert not re.search(r"\b\d{11}\b", page)  # nothing shaped like a fødselsnummer
    finally:
        await reads.close()


def _section(html: str, element_id: str) -> str:
    """The text of the element with `element_id`, whitespace folded."""
    return " ".join(lxml.html.fromstring(html).get_element_by_id(element_id).text_content().split())
