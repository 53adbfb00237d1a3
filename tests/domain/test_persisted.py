"""The stored state is its own versioned document (issue 8): what release 0.1.0 wrote still loads,
evaluates and saves again, and the portal's wire models can change without breaking it."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from pydantic import BaseModel, ValidationError, create_model

from adapter.domain import engine, events, persisted
from adapter.domain.model import Practitioner, Process, SubstituteFor
from adapter.domain.rules import evaluate
from adapter.domain.state import RECENT_REPORTS, OfficeState, PairFacts, PairState, replaced

from .builders import ARNA, ASTRID, OFFICE, World, gp, status
from .test_properties import PROPERTIES, steps

RELEASE_0_1_0 = Path(__file__).resolve().parents[1] / "store" / "data" / "release-0.1.0.sqlite3"


def stored(table: str) -> list[str]:
    """Every state in the store written by release 0.1.0 (opened read-only: the fixture stays as it is)."""
    if not RELEASE_0_1_0.exists():
        pytest.fail(f"the fixture store {RELEASE_0_1_0} is missing")
    with sqlite3.connect(f"file:{RELEASE_0_1_0}?mode=ro", uri=True) as db:
        return [text for (text,) in db.execute(f"SELECT state FROM {table}")]


def test_every_office_written_by_release_0_1_0_loads_and_saves_as_version_2():
    texts = stored("offices")
    assert texts
    for text in texts:
        office = OfficeState.from_json(text)
        assert office.her_id == json.loads(text)["her_id"]
        saved = office.to_json()
        assert json.loads(saved)["v"] == persisted.SCHEMA_VERSION
        assert OfficeState.from_json(saved) == office
        assert OfficeState.from_json(saved).to_json() == saved
    offices = [OfficeState.from_json(t) for t in texts]
    assert any(o.roster for o in offices) and any(o.absence_owner for o in offices)


def test_every_pair_written_by_release_0_1_0_loads_evaluates_and_saves_as_version_2():
    texts = stored("pairs")
    assert texts
    for text in texts:
        old = json.loads(text)
        pair = PairState.from_json(text)
        assert (pair.sequence, pair.warnings_sent, pair.published.to_json()) == (
            old["sequence"],
            old["warnings_sent"],
            PairState.model_validate(old).published.to_json(),  # 0.1.0 read its own dump this way
        )
        # What the portal was last told is what the rules say at the instant the pair was saved.
        assert evaluate(pair.facts, pair.as_of).availability == pair.published
        saved = pair.to_json()
        assert json.loads(saved)["v"] == persisted.SCHEMA_VERSION
        again = PairState.from_json(saved)
        assert again == pair and again.to_json() == saved
        # and the engine carries on with it: a year later, time alone changes what it says it will
        later, _ = engine.tick(again, pair.as_of + dt.timedelta(days=365))
        assert later.sequence >= pair.sequence and engine.next_change(later) is None


def test_a_v1_history_of_any_length_is_compacted_on_the_way_in():
    text = stored("pairs")[0]
    old = json.loads(text)
    base = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    old["facts"]["processes"][Process.EKONTAKT.value] = [
        {"gen_date": (base + dt.timedelta(hours=h)).isoformat(), "msg_id": f"m{h:05}", "on": h % 48 < 24}
        for h in range(2000)
    ]
    pair = PairState.from_json(json.dumps(old))
    history = pair.facts.processes[Process.EKONTAKT]
    assert len(history) <= RECENT_REPORTS and history.folded
    assert history[-1].msg_id == "m01999"


def test_a_field_added_to_an_event_model_leaves_stored_pairs_readable(monkeypatch):
    """The wire model gains an optional field: the stored pairs (which never embed the wire model)
    still load, and what they carry compares equal to what the rules now say."""
    for name in ("ServiceView", "BookingView", "ConsultationView"):
        model = getattr(events, name)
        widened = create_model(name, __base__=model, portal_hint=(str | None, None))
        monkeypatch.setattr(persisted, name, widened)
    for text in stored("pairs"):
        pair = PairState.from_json(text)
        assert pair.published.services.RESEPTFORNYELSE.portal_hint is None
        assert PairState.from_json(pair.to_json()).sequence == pair.sequence


def test_fields_a_newer_or_older_writer_had_are_ignored_or_defaulted():
    document = json.loads(PairState.from_json(stored("pairs")[0]).to_json())
    document["published"]["services"]["RESEPTFORNYELSE"]["portal_hint"] = "new in a later release"
    document["published"]["something_new"] = [1, 2, 3]
    del document["published"]["services"]["KONTAKT_LEGEKONTORET"]["info_visible"]  # R8 fills it in
    pair = PairState.from_json(json.dumps(document))
    view = pair.published.services.KONTAKT_LEGEKONTORET
    assert view.info_visible == (view.status.value != "NOT_OFFERED")


@pytest.mark.parametrize("text", ['{"v": 3, "office": 1}', "[]", "not json"])
def test_a_state_this_release_cannot_read_is_refused_plainly(text):
    with pytest.raises(persisted.UnreadableState):
        PairState.from_json(text)


def rich_world():
    """A pair and its office with a bit of everything: substitutes, absences, warnings, a closed run."""
    from .builders import ALL_FOUR_ON, World, absence, d, gp, oslo, switched_on, vikar

    world = World(gp(), vikar(start=d("2024-07-01"), end=None), now=oslo(2024, 6, 20))
    switched_on(world, oslo(2024, 6, 20), *ALL_FOUR_ON)
    world.send(absence("a1", "2024-07-10", "2024-07-12"))
    world.send(absence("a2", "2024-07-13", "2024-07-14", at=oslo(2024, 6, 21)))
    world.tick(oslo(2024, 7, 11))
    return world


def full_history_world():
    """`rich_world` after hourly syncs switching every process on and off: each history holds
    `RECENT_REPORTS` reports and has folded older ones (a GP heard from for a while)."""
    from .builders import ALL_FOUR_ON

    world = rich_world()
    start = world.now - dt.timedelta(hours=4 * RECENT_REPORTS)  # a report from the future is refused
    for hour in range(1, 4 * RECENT_REPORTS):
        on, off = (ALL_FOUR_ON, ()) if hour % 2 else ((), ALL_FOUR_ON)
        world.send(status(start + dt.timedelta(hours=hour), on=on, off=off))
    return world


def test_an_offices_name_is_kept_and_optional():
    office = OfficeState(her_id=8141333, name="Lysaker legesenter")
    assert OfficeState.from_json(office.to_json()).name == "Lysaker legesenter"
    unnamed = json.loads(office.to_json())
    del unnamed["name"]  # what an earlier writer wrote
    assert OfficeState.from_json(json.dumps(unnamed)).name is None
    assert "name" not in json.loads(OfficeState(her_id=8141333).to_json())


def test_a_rich_pair_and_office_survive_the_round_trip_exactly():
    world = rich_world()
    pair, office = world.pair(), world.office()
    assert pair.published.substitute is not None and pair.closed_by and pair.warned and pair.facts.absences
    assert PairState.from_json(pair.to_json()) == pair
    assert OfficeState.from_json(office.to_json()) == office
    assert_reads_back_as_written(pair)
    assert_reads_back_as_written(office)


def test_the_same_state_written_by_release_0_1_0_migrates_to_what_this_release_holds():
    """v1 was the pydantic dump of the models (by field name), each history a list of reports."""
    world = rich_world()
    pair, office = world.pair(), world.office()
    v1 = json.loads(pair.model_dump_json())
    v1["facts"]["processes"] = {p: h["reports"] for p, h in v1["facts"]["processes"].items()}
    assert PairState.from_json(json.dumps(v1)) == pair
    assert OfficeState.from_json(office.model_dump_json()) == office


def test_only_the_identifying_fields_are_required_the_rest_has_defaults():
    bare = PairState.from_json('{"v": 2, "office": 8141333, "hpr": "9144900"}')
    assert bare == PairState(facts=PairFacts(office_her_id=8141333, practitioner_hpr="9144900"))
    assert PairState.from_json('{"v": 2, "office": 8141333, "hpr": "9144900", "published": {}}') == bare
    old = PairState.from_json('{"facts": {"office_her_id": 8141333, "practitioner_hpr": "9144900"}}')
    assert old == bare
    assert OfficeState.from_json('{"v": 2, "her_id": 8141333}') == OfficeState(her_id=8141333)
    assert OfficeState.from_json('{"her_id": 8141333}') == OfficeState(her_id=8141333)
    entry = {"hpr": "9144900", "role": "6"}
    office = OfficeState.from_json(json.dumps({"v": 2, "her_id": 1, "roster": [entry]}))
    listed = office.roster["9144900"]
    assert (listed.her_id, listed.given_name, listed.family_name, listed.covers) == (None, "", "", None)


def test_what_the_portal_was_told_fills_its_gaps_by_r8():
    document = {
        "v": 2,
        "office": 8141333,
        "hpr": "9144900",
        "published": {
            "services": {
                "KONTAKT_LEGEKONTORET": {"status": "AVAILABLE"},
                "TIMEBESTILLING": {"status": "AVAILABLE", "booking_mode": "CALENDAR"},
                "E_KONSULTASJON": {"status": "TEMPORARILY_CLOSED", "reopens_on": "2024-01-02"},
            }
        },
    }
    published = PairState.from_json(json.dumps(document)).published
    services = published.services
    assert (services.KONTAKT_LEGEKONTORET.status.value, services.KONTAKT_LEGEKONTORET.info_visible) == (
        "AVAILABLE",
        True,
    )
    assert services.TIMEBESTILLING.booking_mode.value == "CALENDAR"
    assert (services.E_KONSULTASJON.reopens_on.isoformat(), services.E_KONSULTASJON.accepts_replies) == (
        "2024-01-02",
        False,
    )
    assert (services.RESEPTFORNYELSE.status.value, services.RESEPTFORNYELSE.info_visible) == ("NOT_OFFERED", False)
    assert published.panel_info_visible is True and published.substitute is None
    nothing = PairState.from_json(json.dumps({**document, "published": {"services": {}}})).published
    assert nothing.panel_info_visible is False


def test_an_unreadable_state_says_which_versions_this_release_reads():
    with pytest.raises(persisted.UnreadableState, match=r"^stored state version 3; this release reads 1 and 2$"):
        PairState.from_json('{"v": 3}')
    with pytest.raises(persisted.UnreadableState, match=r"^a stored state is a JSON object$"):
        OfficeState.from_json("[1]")


def test_a_reports_source_is_kept_beside_the_reports_and_optional():
    """Issue 13: explanations name who reported a status (EPJ or AR); a v2 document written before
    that has no "sources" and reads as source unknown, and a reader that does not know the key
    ignores it (it is beside the reports, not in them)."""
    from adapter.domain.model import Source

    from .builders import ALL_FOUR_ON, World, oslo, status

    world = World(now=oslo(2024, 1, 10, 2))
    world.send(status(oslo(2024, 1, 10), on=ALL_FOUR_ON, source=Source.AR))
    world.send(status(oslo(2024, 1, 10, 1), off=[Process.EKONTAKT]))
    pair = world.pair()
    document = json.loads(pair.to_json())
    ekontakt = document["processes"][Process.EKONTAKT.value]
    assert [len(r) for r in ekontakt["reports"]] == [3, 3] and ekontakt["sources"] == ["AR", "EPJ"]
    assert [r.source for r in PairState.from_json(pair.to_json()).facts.processes[Process.EKONTAKT].reports] == [
        Source.AR,
        Source.EPJ,
    ]
    for history in document["processes"].values():
        del history["sources"]
    older = PairState.from_json(json.dumps(document))
    assert {r.source for h in older.facts.processes.values() for r in h.reports} == {None}
    assert evaluate(older.facts, oslo(2024, 1, 11)) == evaluate(pair.facts, oslo(2024, 1, 11))


def test_the_published_part_alone_reads_as_the_whole_pair_does():
    """What a resync or the read API reads of a pair with nothing due (`load_published`) equals what
    the whole pair says, for this version's documents, release 0.1.0's, a bare one, and one whose
    published part this release's wire model would refuse (a later writer's field: the long way)."""
    pair = rich_world().pair()
    v1 = json.loads(pair.model_dump_json())
    v1["facts"]["processes"] = {p: h["reports"] for p, h in v1["facts"]["processes"].items()}
    later = json.loads(pair.to_json())
    later["published"]["services"]["RESEPTFORNYELSE"]["portal_hint"] = "new in a later release"
    bare = '{"v": 2, "office": 8141333, "hpr": "9144900", "published": {}}'
    texts = [pair.to_json(), json.dumps(v1), json.dumps(later), bare, *stored("pairs")]
    for text in texts:
        whole = PairState.from_json(text)
        assert persisted.load_published(text) == (whole.published, whole.sequence)
    assert pair.published.substitute is not None and persisted.load_published(pair.to_json())[1] == pair.sequence
    with pytest.raises(persisted.UnreadableState):
        persisted.load_published('{"v": 3, "office": 1}')


@pytest.mark.parametrize(
    "offset",
    [dt.timedelta(0), dt.timedelta(hours=1), dt.timedelta(hours=-3, minutes=-30), dt.timedelta(hours=1, seconds=30)],
)
def test_a_reports_gendate_is_written_as_isoformat_writes_it_whatever_its_offset(offset):
    """R1 orders by GenDate: it is written exactly, also where orjson alone would round the offset."""
    gen = dt.datetime(2024, 6, 10, 8, 0, 0, 250, tzinfo=dt.timezone(offset))
    office = OfficeState(her_id=OFFICE, roster={ASTRID: gp()})
    outcome = engine.apply(
        office, {}, status(gen, on=[Process.EKONTAKT]), (gen + dt.timedelta(minutes=1)).astimezone(dt.UTC)
    )
    text = outcome.pairs[0].to_json()
    written = json.loads(text)["processes"][Process.EKONTAKT.value]["reports"][0][0]
    assert written == gen.isoformat()
    assert PairState.from_json(text).facts.processes[Process.EKONTAKT].reports[0].gen_date.utcoffset() == offset


def assert_same_models(trusted: object, validated: object) -> None:
    """Equal, and built alike: the same classes, fields in the same order, the same fields set."""
    assert type(trusted) is type(validated)
    if isinstance(validated, BaseModel):
        assert list(vars(trusted)) == list(vars(validated)) == list(type(validated).model_fields)
        assert trusted.__pydantic_fields_set__ == validated.__pydantic_fields_set__  # type: ignore[attr-defined]
        for name, value in vars(validated).items():
            assert_same_models(getattr(trusted, name), value)
    elif isinstance(validated, (tuple, list, frozenset)):
        assert len(trusted) == len(validated)  # type: ignore[arg-type]
        for a, b in zip(sorted(trusted, key=repr), sorted(validated, key=repr), strict=True):  # type: ignore[call-overload]
            assert_same_models(a, b)
    elif isinstance(validated, dict):
        assert list(trusted) == list(validated)  # type: ignore[call-overload]
        for key, value in validated.items():
            assert_same_models(trusted[key], value)  # type: ignore[index]
    assert trusted == validated


def assert_reads_as_validated(pair_text: str | None = None, office_text: str | None = None) -> None:
    """Issue 14/10: this version's documents are read without pydantic's checks; what that gives is
    exactly what the checked reading gives, and it is written back byte for byte."""
    if pair_text is not None:
        pair = persisted.load_pair(pair_text)
        assert_same_models(pair, persisted.load_pair(pair_text, validate=True))
        assert persisted.dump_pair(pair) == pair_text
    if office_text is not None:
        office = persisted.load_office(office_text)
        assert_same_models(office, persisted.load_office(office_text, validate=True))
        assert persisted.dump_office(office) == office_text


def test_a_stored_state_reads_without_checks_as_it_does_with_them():
    for world in (rich_world(), full_history_world()):
        assert_reads_as_validated(world.pair().to_json(), world.office().to_json())
    for text in stored("pairs"):
        assert_reads_as_validated(pair_text=PairState.from_json(text).to_json())
    for text in stored("offices"):
        assert_reads_as_validated(office_text=OfficeState.from_json(text).to_json())
    bare = '{"v": 2, "office": 8141333, "hpr": "9144900", "published": {}}'
    assert persisted.load_pair(bare) == persisted.load_pair(bare, validate=True)


@PROPERTIES
@given(steps())
def test_any_state_the_engine_reaches_reads_without_checks_as_it_does_with_them(run):
    """R1–R16 reach every kind of stored field: histories folded or not, absences, substitutes,
    warnings, closed runs, rosters, deleted absences, booking lists."""
    world = World(gp(), gp(ARNA, "Arna", "Berg"), now=run[0][0])
    for at, command in run:
        if command is None:
            world.tick(at)
        else:
            world.send(command, at=at)
    for pair in world.pairs.values():
        assert_reads_as_validated(pair_text=pair.to_json())
        assert_reads_back_as_written(pair)
    for office in world.offices.values():
        assert_reads_as_validated(office_text=office.to_json())
        assert_reads_back_as_written(office)
        assert_written_as_afresh(office)


def assert_reads_back_as_written(state: PairState | OfficeState) -> None:
    """Issue 14: a state being written is handed to the next batch that reads its text, instead of
    that text decoded (`service/decoded.py`), so what the engine holds and what its text reads as
    must be one and the same, to the instants' offsets, and written alike again."""
    text = state.to_json()
    read = type(state).from_json(text)
    assert_alike(read, state)
    assert read.to_json() == text
    if isinstance(state, PairState):
        assert_alike(persisted.load_published(text)[0], state.published)


def assert_alike(read: object, held: object) -> None:
    """Equal and of the same types all the way down, every instant at the same offset; a map's
    order aside (an office's absence maps are written sorted, and nothing reads their order)."""
    assert type(read) is type(held)
    if isinstance(held, BaseModel):
        for name, value in vars(held).items():
            assert_alike(getattr(read, name), value)
    elif isinstance(held, (tuple, list)):
        assert len(read) == len(held)  # type: ignore[arg-type]
        for a, b in zip(read, held, strict=True):  # type: ignore[call-overload]
            assert_alike(a, b)
    elif isinstance(held, dict):
        assert read.keys() == held.keys()  # type: ignore[attr-defined]
        for key, value in held.items():
            assert_alike(read[key], value)  # type: ignore[index]
    elif isinstance(held, dt.datetime):
        assert read.utcoffset() == held.utcoffset()  # type: ignore[attr-defined]
    assert read == held


def test_an_older_version_is_still_checked():
    """Release 0.1.0's documents come from other models: a value they do not fit is refused."""
    v1 = json.loads(stored("pairs")[0])
    v1["sequence"] = "many"
    with pytest.raises(ValidationError):
        PairState.from_json(json.dumps(v1))


# --- edges the mutation run found untested (issue 15) ----------------------------------------------


def _a_pair_text() -> dict:
    world = World(gp(), now=dt.datetime(2024, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    world.send(status(world.now, on=list(Process)), at=world.now)
    return json.loads(world.pair().to_json())


def test_a_value_this_release_does_not_know_is_refused_by_name():
    """A stored name outside the domain's vocabulary (a process, a report's source) is refused
    with the value in the refusal, never read as nothing."""
    document = _a_pair_text()
    unknown_process = json.loads(json.dumps(document))
    unknown_process["processes"]["Dialog_Innbygger_Ukjent"] = next(iter(document["processes"].values()))
    with pytest.raises(ValueError, match="Dialog_Innbygger_Ukjent"):
        PairState.from_json(json.dumps(unknown_process))
    unknown_source = json.loads(json.dumps(document))
    next(iter(unknown_source["processes"].values()))["sources"] = ["TELEFAKS"]
    with pytest.raises(ValueError, match="TELEFAKS"):
        PairState.from_json(json.dumps(unknown_source))


def test_a_history_whose_sources_do_not_match_its_reports_is_refused():
    """Each kept report has its source (issue 13): a document where they differ in number is not
    this release's own, and dropping reports silently would change R4's answers."""
    document = _a_pair_text()
    history = next(iter(document["processes"].values()))
    history["sources"] = history["sources"] * (len(history["reports"]) + 1)  # one more than reports
    with pytest.raises(ValueError):
        PairState.from_json(json.dumps(document))


def test_an_office_booking_list_with_a_substitute_line_round_trips():
    """R9 / issue 12: a substitute's line names the GP it covers; the stored list keeps it."""
    line = events.BookablePractitioner(
        hpr=ARNA,
        name="Ingar Vikar",
        role="15",
        role_name="vikar for fastlege",
        label="Ingar Vikar (vikar for fastlege)",
        covers_hpr=ASTRID,
    )
    office = OfficeState(her_id=OFFICE, roster={ASTRID: gp()}, booking=(line,), booking_sequence=3)
    assert OfficeState.from_json(office.to_json()) == office
    assert OfficeState.from_json(office.to_json()).booking[0].covers_hpr == ASTRID


def test_an_older_office_is_still_checked():
    """As for pairs: release 0.1.0's office documents are validated on the way in."""
    v1 = json.loads(stored("offices")[0])
    v1["her_id"] = "many"
    with pytest.raises(ValidationError):
        OfficeState.from_json(json.dumps(v1))


def assert_written_as_afresh(office: OfficeState) -> str:
    """The office's text is the same written twice (its roster then remembered, `persisted._roster`),
    and with a copy of its roster (written afresh); compact JSON, as orjson writes a document whole."""
    text = persisted.dump_office(office)
    assert persisted.dump_office(office) == text
    if office.roster is not None:
        assert persisted.dump_office(office.model_copy(update={"roster": dict(office.roster)})) == text
    assert json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":")) == text
    assert persisted.load_office(text) == office
    return text


def test_a_rich_office_and_one_without_roster_are_written_as_afresh():
    world = rich_world()
    office = world.office()
    assert office.roster and any(p.covers is not None for p in office.roster.values())
    assert_written_as_afresh(office)
    assert json.loads(assert_written_as_afresh(OfficeState(her_id=1)))["roster"] is None


def test_a_new_roster_is_written_as_it_is_not_as_remembered():
    astrid = Practitioner(hpr="9144900", given_name="Astrid", family_name="Info", role="6")
    ingar = Practitioner(
        hpr="5522113",
        given_name="Ingar",
        family_name="Vik",
        role="15",
        covers=SubstituteFor(gp_hpr="9144900", from_date=dt.date(2024, 7, 1), to_date=dt.date(2024, 7, 31)),
    )
    first = OfficeState(her_id=1, roster={astrid.hpr: astrid, ingar.hpr: ingar})
    assert json.loads(assert_written_as_afresh(first))["roster"][1] == {
        "hpr": "5522113",
        "her_id": None,
        "given_name": "Ingar",
        "family_name": "Vik",
        "role": "15",
        "role_name": "",
        "covers": {"gp_hpr": "9144900", "from": "2024-07-01", "to": "2024-07-31"},
    }
    renamed = astrid.model_copy(update={"family_name": "Åsheim"})
    second = replaced(first, {"roster": {renamed.hpr: renamed, ingar.hpr: ingar}})
    assert "Åsheim" in assert_written_as_afresh(second)
    assert "Åsheim" not in persisted.dump_office(first)


def test_an_offices_roster_is_written_once_while_it_is_the_same_roster(monkeypatch):
    """Issue 14: an office is written each time its booking list changes; its roster, the same
    object until a new behandleroversikt, is encoded the first time only (`persisted._roster`)."""
    rosters: list[object] = []
    dumps = persisted.orjson.dumps

    def counted(value: object, *args: object) -> bytes:
        if isinstance(value, list):
            rosters.append(value)
        return dumps(value, *args)

    office = rich_world().office()
    text = persisted.dump_office(office)
    monkeypatch.setattr(persisted.orjson, "dumps", counted)
    assert persisted.dump_office(office) == text
    assert persisted.dump_office(replaced(office, {"booking_sequence": 5})).count('"roster":[') == 1
    assert rosters == []
    assert persisted.dump_office(office.model_copy(update={"roster": dict(office.roster or {})})) == text
    assert len(rosters) == 1
