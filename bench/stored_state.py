"""What reading and writing one stored state costs: `load_pair`/`dump_pair` (and the office's) on a
pair with a full bounded history, in process.

    python bench/stored_state.py [--iterations 2000]

The pair is the test suite's rich world (a substitute, two absences, a warning, a closed run) after
hourly syncs that switch its processes on and off, so every history holds `RECENT_REPORTS` reports
and has folded older ones: the state of a GP the adapter has heard from for a while. Prints CPU
time (`process_time`, which load disturbs) and Python calls (cProfile's count, which it does not)
per load and dump. Asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapter.domain import persisted
from adapter.domain.state import RECENT_REPORTS
from tests.domain.test_persisted import full_history_world


def per_call(work: Callable[[], object], iterations: int) -> tuple[float, float]:
    """(µs of CPU, Python calls) per call of `work`."""
    profile = cProfile.Profile()
    profile.enable()
    work()
    profile.disable()
    calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
    started = time.process_time()
    for _ in range(iterations):
        work()
    return (time.process_time() - started) / iterations * 1e6, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args()
    world = full_history_world()
    pair, office = world.pair(), world.office()
    assert all(h.folded and len(h) == RECENT_REPORTS for h in pair.facts.processes.values())
    pair_text, office_text = persisted.dump_pair(pair), persisted.dump_office(office)
    print(f"pair: {len(pair_text)} chars; office: {len(office_text)} chars")
    for name, work in [
        ("load_pair", lambda: persisted.load_pair(pair_text)),
        ("dump_pair", lambda: persisted.dump_pair(pair)),
        ("load_office", lambda: persisted.load_office(office_text)),
        ("dump_office", lambda: persisted.dump_office(office)),
    ]:
        micros, calls = per_call(work, args.iterations)
        print(f"{name:12} {micros:8.1f} µs CPU  {calls:6.0f} Python calls")


if __name__ == "__main__":
    main()
