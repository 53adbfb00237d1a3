"""The published contracts in schemas/ are what the code generates, and what it sends conforms."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from adapter import contracts
from adapter.replay.runner import run_scenario

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "examples"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"


def test_published_files_are_what_the_code_generates() -> None:
    assert contracts.stale() == [], "run `ddfl-adapter contracts` and commit schemas/"


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((contracts.SCHEMA_DIR / contracts.EVENTS_FILE).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("name", ["availability-changed.json", "availability-warning.json", "dialogue-closed.json"])
def test_contract_example_events_validate_against_the_published_schema(name: str) -> None:
    if not EXAMPLES.is_dir():
        pytest.skip("../shared/contract/examples is not beside this checkout")
    _validator().validate(json.loads((EXAMPLES / name).read_text()))


def test_schema_rejects_an_event_that_breaks_the_contract() -> None:
    if not EXAMPLES.is_dir():
        pytest.skip("../shared/contract/examples is not beside this checkout")
    event = json.loads((EXAMPLES / "availability-changed.json").read_text())
    event["services"]["TIMEBESTILLING"]["status"] = "CLOSED"
    assert not _validator().is_valid(event)
    del event["services"]["KONTAKT_LEGEKONTORET"]
    assert not _validator().is_valid(event)


def test_every_event_the_fixture_scenarios_publish_validates() -> None:
    validator = _validator()
    scenarios = sorted(FIXTURES.glob("*.yaml"))
    assert scenarios
    types = set()
    for scenario in scenarios:
        for event in run_scenario(scenario).events:
            validator.validate(event)
            types.add(event["type"])
    assert types == {"availability.changed", "availability.warning", "dialogue.closed", "office.practitioners.changed"}


def test_asyncapi_names_the_contract_queues() -> None:
    document = json.loads((contracts.SCHEMA_DIR / contracts.ASYNCAPI_FILE).read_text())
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert {"8093244_async", "tilpass-helsenorge.absences", "portal.availability"} <= addresses
    assert document["info"]["title"] == "ddfl-adapter"


async def test_a_resync_publishes_what_the_schema_describes_and_asyncapi_documents_its_request() -> None:
    """availability.snapshot, office.practitioners.snapshot (a list with a GP on it) and
    resync.completed validate against the published JSON Schema; the
    AsyncAPI document has the resync queue with the request's schema (a null office included)."""
    import datetime as dt

    from adapter.bootstrap import default_settings, processor
    from adapter.service.commands import Work
    from adapter.store import open_store
    from adapter.worker.clock import ManualClock
    from tests.support.synthetic import roster_xml, status_xml

    now = dt.datetime(2024, 3, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    store = await open_store("sqlite:///:memory:")
    try:
        service = processor(store, default_settings(http_port=None), ManualClock(now))
        request = {"type": "resync.requested", "request_id": "r-1", "office_her_id": None}
        await service.process(
            [
                Work(kind="xml", body=roster_xml(7001234, ["1000001"], msg_id="r", gen_date=now)),
                Work(
                    kind="xml",
                    body=status_xml(
                        7001234,
                        "1000001",
                        {"Dialog_Innbygger_Ekontakt": True, "Dialog_Innbygger_Timereservasjon": True},
                        msg_id="s",
                        gen_date=now,
                    ),
                ),
                Work(kind="resync", body=json.dumps(request).encode()),
            ]
        )
        events = [
            json.loads(row.body) for row in await store.outbox_pending(100) if row.routing_key == "portal.availability"
        ]
    finally:
        await store.close()
    validator = _validator()
    for event in events:
        validator.validate(event)
    assert [e["type"] for e in events] == [
        "availability.changed",
        "office.practitioners.changed",
        "availability.snapshot",
        "office.practitioners.snapshot",
        "resync.completed",
    ]
    assert events[3]["practitioners"] == events[1]["practitioners"] != []

    document = json.loads((contracts.SCHEMA_DIR / contracts.ASYNCAPI_FILE).read_text())
    (channel,) = [c for c in document["channels"].values() if c["address"] == "portal.resync"]
    payload = document["components"]["schemas"]["resync.requested"]
    assert "resync.requested" in channel["description"]
    jsonschema.Draft202012Validator(payload).validate(request)
    assert not jsonschema.Draft202012Validator(payload).is_valid({"type": "resync.requested", "request_id": "r-1"})
