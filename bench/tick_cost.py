"""CPU per tick of one freshly decoded pair due at the midnight its absence starts: what the
midnight burst does per pair on its deciding side, without the store, the booking list or a broker.

    python bench/tick_cost.py [N]

Decodes the stored pair, ticks it to that midnight (its services close) and works out its next
change, N times in a row, seven times; prints the least CPU per pair of the seven (the figure a
shared machine distorts least). To compare two checkouts, run each one's copy of this script
(each reads the adapter beside it).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapter.domain import engine  # noqa: E402
from adapter.domain.calendar import midnight  # noqa: E402
from adapter.domain.model import Process, Service  # noqa: E402
from adapter.domain.state import PairState  # noqa: E402
from tests.domain.builders import World, absence, gp, status  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    oslo = dt.timezone(dt.timedelta(hours=1))
    now = dt.datetime(2024, 3, 20, 8, tzinfo=oslo)
    world = World(gp(), now=now)
    world.send(status(now - dt.timedelta(hours=1), on=list(Process)), at=now)
    world.send(absence("a1", dt.date(2024, 3, 21), dt.date(2024, 4, 3), frozenset(Service), at=now), at=now)
    (pair,) = world.pairs.values()
    text, due = pair.to_json(), midnight(dt.date(2024, 3, 21))
    rounds = []
    for _ in range(7):
        cpu = time.process_time()
        for _ in range(n):
            ticked, events = engine.tick(PairState.from_json(text), due)
            engine.next_change(ticked)
        rounds.append((time.process_time() - cpu) / n * 1e6)
    assert events, "the tick closes the services"
    print(
        f"{engine.__file__}: {min(rounds):.0f} µs CPU per pair (decode, tick, next change; least of 7 rounds "
        f"of {n}), load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
