"""One composition root, every fact in one home: what the environment may not change."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adapter import contracts
from adapter.bootstrap import build, default_settings, isolated_settings, routing
from adapter.config import Settings
from adapter.replay.runner import run_scenario
from adapter.topology import HELSENORGE_HER_ID, Topology

ROOT = Path(__file__).resolve().parents[2]
FOREIGN_ENV = {
    "DDFL_PORTAL_QUEUE": "portal.v2",
    "DDFL_HER_ID": "1234",
    "DDFL_INBOUND_QUEUE": "elsewhere",
    "DDFL_ABSENCE_QUEUE": "elsewhere.absences",
    "DDFL_MAX_MESSAGE_BYTES": "2048",
}


@pytest.fixture
def foreign_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FOREIGN_ENV.items():
        monkeypatch.setenv(name, value)
    assert Settings().portal_queue == "portal.v2"  # the environment is read where it should be


def test_replay_uses_names_of_its_own_whatever_the_environment(foreign_env: None) -> None:
    result = run_scenario(ROOT / "fixtures" / "scenarios" / "recommended-solution-1.yaml")
    assert result.ok, [str(f) for f in result.failures]
    # 7 pair events, and 2 booking lists: Astrid bookable, then not (Bestill time off on 20 December)
    assert len(result.scenario.expects) == 4 and len(result.events) == 9


def test_contract_generation_does_not_depend_on_the_environment(foreign_env: None) -> None:
    assert contracts.stale() == []


def test_default_settings_are_the_documented_defaults_whatever_the_environment(foreign_env: None) -> None:
    settings = default_settings()
    assert Topology.of(settings) == Topology()
    assert routing(settings).own_her_id == HELSENORGE_HER_ID == settings.her_id
    assert default_settings(portal_queue="p").portal_queue == "p"


def test_an_isolated_topology_shares_no_queue_with_the_default_one() -> None:
    isolated = Topology.isolated("t-1")
    assert not set(isolated.queues()) & set(Topology().queues())
    settings = isolated_settings("t-1")
    assert Topology.of(settings) == isolated and settings.http_port is None


def test_build_wires_the_given_settings_into_every_part() -> None:
    runtime = build(isolated_settings("t-2"))
    subscribed = {s.queue.name for s in runtime.broker.subscribers}
    assert subscribed == {"t-2-8093244_async", "t-2-absences", "t-2-resync"}


def test_the_runtime_does_not_import_the_contracts_module() -> None:
    """One event union, and no import cycle between contracts and the runtime."""
    code = "import sys, adapter.worker.runtime, adapter.bootstrap; print('adapter.contracts' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
