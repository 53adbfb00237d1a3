"""Each domain test starts with no availability remembered by content (`rules._availabilities`).

The other remembered answers are keyed by the identity of the state asked about, so they cannot
answer for a test's new objects; this one is keyed by content, so without a fresh one a test would
be handed an availability an earlier test built, and a mutation run (which forks each mutant from
the process that ran the clean tests) would never build one with the mutant's code."""

from __future__ import annotations

import pytest

from adapter.domain import rules


@pytest.fixture(autouse=True)
def no_availability_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "_availabilities", {})
