"""How long a resync holds the single writer: one resync of every pair and office, in the service layer.

    python bench/resync.py [--offices 500] [--gps 10] [--store-url sqlite:///FILE]

Each office's roster and a Tjenestestatus per GP are written through the processor (batches of
256, as the pipeline makes them), then `resync.requested` for everything is processed twice as
the worker would between batches, on the same store in one run: first with every pair parsed
whole (`--full-parse` stands in for the reading before the resync read only the published part
of a pair with nothing due), then as the adapter does it. Each one's wall time and CPU are printed
(with the load average: on a shared machine the wall time says more about the others than about
the resync). Nothing is asserted. The broker is left out: what a resync costs the writer is the
store and the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapter.bootstrap import default_settings, processor
from adapter.domain import engine
from adapter.domain.events import Availability
from adapter.domain.state import PairState
from adapter.service import resync
from adapter.service.commands import Work
from adapter.store import open_store
from adapter.worker.clock import ManualClock
from tests.support.synthetic import roster_xml, status_xml

NOW = dt.datetime(2024, 3, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def _history(offices: int, gps: int) -> list[Work]:
    works = []
    for o in range(offices):
        office = 7_000_000 + o
        hprs = [f"{1_000_000 + o * 100 + g}" for g in range(gps)]
        works.append(Work(kind="xml", body=roster_xml(office, hprs, msg_id=f"r{o}", gen_date=NOW)))
        works += [
            Work(
                kind="xml",
                body=status_xml(office, hpr, {"Dialog_Innbygger_Ekontakt": True}, msg_id=f"s{hpr}", gen_date=NOW),
            )
            for hpr in hprs
        ]
    return works


@contextlib.contextmanager
def _full_parse(on: bool) -> Iterator[None]:
    """While `on`, a pair with nothing due is read as a whole pair (its facts and histories too)."""
    if not on:
        yield
        return

    def whole(text: str | bytes) -> tuple[Availability, int]:
        pair = PairState.from_json(text)
        return pair.published, pair.sequence

    saved = resync.load_published, engine.load_published
    resync.load_published = engine.load_published = whole
    try:
        yield
    finally:
        resync.load_published, engine.load_published = saved


async def run(offices: int, gps: int, url: str) -> None:
    store = await open_store(url)
    try:
        service = processor(store, default_settings(http_port=None), ManualClock(NOW))
        works = _history(offices, gps)
        for start in range(0, len(works), 256):
            await service.process(works[start : start + 256])
        for label, full in (("whole", True), ("published-part", False)):
            body = json.dumps({"type": "resync.requested", "request_id": label, "office_her_id": None}).encode()
            with _full_parse(full):
                started, cpu = time.perf_counter(), time.process_time()
                (done,) = await service.process([Work(kind="resync", body=body)])
                wall, used = time.perf_counter() - started, time.process_time() - cpu
            print(
                f"{label}: {done.events} snapshots ({offices} offices' lists): {wall:.2f} s wall, {used:.2f} s CPU "
                f"({1000 * used / max(done.events, 1):.3f} ms per snapshot), load average {os.getloadavg()[0]:.1f}"
            )
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offices", type=int, default=500)
    parser.add_argument("--gps", type=int, default=10, help="GPs per office")
    parser.add_argument("--store-url", help="default: a SQLite file in a temporary directory")
    args = parser.parse_args()
    url = args.store_url or f"sqlite:///{tempfile.mkdtemp()}/store.sqlite3"
    asyncio.run(run(args.offices, args.gps, url))


if __name__ == "__main__":
    main()
