"""The stored state is its own versioned document (issue 8): what release 0.1.0 wrote still loads,
evaluates and saves again, and the portal's wire models can change without breaking it."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from pydantic import create_model

from adapter.domain import engine, events, persisted
from adapter.domain.model import Process
from adapter.domain.rules import evaluate
from adapter.domain.state import RECENT_REPORTS, OfficeState, PairState

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
