"""Writing a scenario into a real store through the service layer, and what its replay says is true."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from adapter.bootstrap import default_settings, processor
from adapter.domain.state import NOTHING_OFFERED
from adapter.replay.runner import run_scenario
from adapter.replay.scenario import Scenario, load_scenario
from adapter.service.commands import Work
from adapter.store.base import Store
from adapter.worker.clock import ManualClock

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "fixtures" / "scenarios" / "recommended-solution-1.yaml"
#: The fields of an availability.changed event an API entry carries.
ENTRY_FIELDS = ("office_her_id", "practitioner_hpr", "sequence", "services", "panel_info_visible", "substitute")


async def write_steps(store: Store, scenario: Scenario, until: dt.datetime | None = None) -> ManualClock:
    """Process every step at or before `until` through the real processor, one batch each, as the
    worker does; the clock scheduler is NOT run, so due time-driven changes stay unpublished."""
    clock = ManualClock(scenario.start)
    service = processor(store, default_settings(http_port=None), clock)
    for step in scenario.steps:
        if until is not None and step.at > until:
            break
        clock.set(max(step.at, clock.now()))
        if step.xml is not None:
            work = Work(kind="xml", body=step.xml.read_bytes(), headers=step.headers)
        elif step.absence is not None:
            work = Work(kind="absence", body=step.absence, headers=step.headers)
        else:
            continue
        (done,) = await service.process([work])
        assert done.ok, done
    return clock


def replayed_events() -> list[dict[str, Any]]:
    """Every availability.changed event of the scenario's full replay (clock included)."""
    result = run_scenario(SCENARIO)
    assert result.ok, [str(f) for f in result.failures]
    return [e for e in result.events if e["type"] == "availability.changed"]


def expected_at(events: list[dict[str, Any]], office: int, hpr: str, at: dt.datetime) -> dict[str, Any]:
    """What the replay had told the portal about the pair by `at`: its last event effective by then."""
    last: dict[str, Any] | None = None
    for event in events:
        same_pair = (event["office_her_id"], event["practitioner_hpr"]) == (office, hpr)
        if same_pair and dt.datetime.fromisoformat(event["effective_at"]) <= at:
            last = event
    if last is None:
        return {"office_her_id": office, "practitioner_hpr": hpr, "sequence": 0, **NOTHING_OFFERED.to_json()}
    return {name: last[name] for name in ENTRY_FIELDS}


def scenario(name: str = SCENARIO.stem) -> Scenario:
    return load_scenario(SCENARIO.with_stem(name))
