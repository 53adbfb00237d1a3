"""The midnight burst's deciding side alone, without a broker: CPU seconds and rule calls per tick.

    python bench/midnight_ticks.py [--absences 5000] [--store sqlite|URL] [--profile FILE] [--repeat N]

The same country as `bench/throughput.py --only midnight` (50 GPs per office, one status each,
an absence for every GP from tomorrow) is written through the real processor into a fresh store;
then the clock passes midnight and every due pair is ticked the way the scheduler does it (the
store's due index, batches of the pipeline's size). Printed: the process's CPU time for the ticks
(steady on a shared machine, unlike wall time), how many events they staged, and how often the
rules worked out a pair's next change and its availability on a date (the answers they computed,
not the ones they remembered). The relay's publishing is not in it:
`bench/throughput.py --only midnight` measures the whole burst on the real broker.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapter.bootstrap import default_settings, processor  # noqa: E402
from adapter.domain import engine, rules  # noqa: E402
from adapter.domain.calendar import OSLO, midnight  # noqa: E402
from adapter.messages.builders import absence_registered  # noqa: E402
from adapter.replay.generate import iter_status_messages  # noqa: E402
from adapter.service.commands import Work  # noqa: E402
from adapter.service.processor import Processor  # noqa: E402
from adapter.store import open_store  # noqa: E402
from adapter.store.base import Store  # noqa: E402
from adapter.worker.clock import ManualClock  # noqa: E402

SERVICES = ["TIMEBESTILLING", "RESEPTFORNYELSE", "E_KONSULTASJON", "KONTAKT_LEGEKONTORET"]


def counted(*names: str) -> list[int]:
    """Count the calls of the first of the rules' functions `names` that exists, wherever the
    domain reaches it from (each module that imports it holds its own reference)."""
    calls = [0]
    name = next(n for n in names if hasattr(rules, n))
    original = getattr(rules, name)

    def wrapper(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        return original(*args, **kwargs)

    for module in (rules, engine):
        if getattr(module, name, None) is original:
            setattr(module, name, wrapper)
    return calls


async def ticks_of(
    store: Store,
    service: Processor,
    at_midnight: dt.datetime,
    args: argparse.Namespace,
    profiler: cProfile.Profile | None,
) -> tuple[int, float, float]:
    """Tick every pair due by that midnight as the scheduler does; pairs ticked, CPU and wall seconds."""
    ticks = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    while (due := await store.next_due()) is not None and due <= at_midnight:
        keys = await store.due_pairs(due, 512)  # as the scheduler asks
        for at in range(0, len(keys), args.batch):
            done = await service.process([Work(kind="tick", key=k, until=due) for k in keys[at : at + args.batch]])
            assert all(d.ok for d in done), done
        ticks += len(keys)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if args.repeat > 1:
        print(f"  ticks: {cpu:.2f} s CPU (load {os.getloadavg()[0]:.1f})", flush=True)
    return ticks, cpu, wall


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--absences", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=256, help="the pipeline's batch size (DDFL_BATCH_SIZE)")
    parser.add_argument("--store", default="sqlite", help="'sqlite' (a fresh file) or a postgresql:// URL")
    parser.add_argument("--profile", help="write a cProfile of the ticks to this file")
    parser.add_argument(
        "--repeat", type=int, default=1, help="tick that many copies of the same store, one after the other (SQLite)"
    )
    parser.add_argument(
        "--prepared",
        action="store_true",
        help="work the ticks out ahead first, as the scheduler does in the minute before (`prepare_ticks`)",
    )
    args = parser.parse_args()
    offices, gps = max(1, args.absences // 50), 50
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    generated = list(iter_status_messages(3, offices, gps, start, updates_per_gp=1))
    clock = ManualClock(max(m.gen_date for m in generated) + dt.timedelta(minutes=1))
    tomorrow = clock.now().astimezone(OSLO).date() + dt.timedelta(days=1)
    with tempfile.TemporaryDirectory(prefix="ddfl-ticks-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'store.sqlite3'}" if args.store == "sqlite" else args.store
        store = await open_store(url)
        service = processor(store, default_settings(http_port=None), clock)
        works = [Work(kind="xml", body=m.body) for m in generated]
        statuses = [m for m in generated if m.kind == "tjenestestatus"][: args.absences]
        works += [
            Work(
                kind="absence",
                body=json.dumps(
                    absence_registered(
                        absence_id=str(uuid.UUID(int=i)),
                        office_her_id=m.office_her_id,
                        practitioner_hpr=m.practitioner_hpr,
                        from_date=tomorrow,
                        to_date=tomorrow + dt.timedelta(days=13),
                        services=SERVICES,
                        registered_by_hpr=m.practitioner_hpr,
                        registered_at=clock.now(),
                    )
                ).encode(),
            )
            for i, m in enumerate(statuses)
        ]
        for at in range(0, len(works), args.batch):
            await service.process(works[at : at + args.batch])
        at_midnight = midnight(tomorrow)
        clock.set(at_midnight)
        for copy in range(1, args.repeat):  # the same burst again on a copy: CPU figures from one setup
            await store.close()
            shutil.copy(Path(tmp) / "store.sqlite3", Path(tmp) / f"copy{copy}.sqlite3")
            store = await open_store(url)
            service = processor(store, default_settings(http_port=None), clock)
            burst = await open_store(f"sqlite:///{Path(tmp) / f'copy{copy}.sqlite3'}")
            await ticks_of(burst, processor(burst, default_settings(http_port=None), clock), at_midnight, args, None)
            await burst.close()
        if args.prepared:
            prepared = await service.prepare_ticks(at_midnight, await store.due_pairs(at_midnight, 10_000))
            print(f"  {prepared} pairs' ticks worked out ahead", flush=True)
        rows_before = service.stats.outbox_rows
        next_changes = counted("_next_change_after", "next_change_after")
        evaluations = counted("_evaluate", "evaluate")
        profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not wall
        ticks, cpu, wall = await ticks_of(store, service, at_midnight, args, profiler)
        rows = service.stats.outbox_rows - rows_before
        await store.close()
    print(
        f"midnight ticks: {ticks} pairs ticked, {rows} events staged; {cpu:.2f} s CPU ({wall:.2f} s wall, "
        f"load {os.getloadavg()[0]:.1f}); next_change_after {next_changes[0]} calls "
        f"({next_changes[0] / max(ticks, 1):.2f} per pair), evaluate {evaluations[0]} "
        f"({evaluations[0] / max(ticks, 1):.2f} per pair)"
    )


if __name__ == "__main__":
    asyncio.run(main())
