"""The soak benchmark (issue 10): a national population through many simulated days, in process.

    python bench/soak.py [--gps 2000] [--days 400] [--sync-share 0.1] [--closures 0.2] [--batch 256]

No broker: the service layer (`bootstrap.processor`) on a SQLite file store, driven by a manual
clock hour by hour. Day one: every office's behandleroversikt (with substitutes, R9, whose periods
fall anywhere in the run) and Adresseregisteret's complete status of every GP. Then every simulated
hour: the clock moves, the pairs due are ticked the way the scheduler does (R11: absences and
substitute periods starting and ending at midnight), and `--sync-share` of the GPs send an hourly
status sync (a complete list, mostly the same, now and then one process switched). Once a day:
absences registered some days ahead (a few deleted again), EPJ switches by the other GPs, and
dialogue closures (R7). What is staged for publishing is marked sent at once (the relay's part),
and retention prunes once a simulated day with the default windows, but the closed conversations'
window shortened to `--closed-days` so it fills inside the run (400 days by default, as long as the
run itself): the store must level off once every window is full.

Printed every 30 simulated days: messages so far, per-message cost (wall, and this process's CPU
time, which other load on the machine changes least), the store's file size and
rows held (retained_rows), state bytes per pair (max, median) and per office (max), RSS; then the per-message cost of
the last 30 days against days 2–31 (day one is the initial load). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapter.bootstrap import isolated_settings, processor  # noqa: E402
from adapter.domain.calendar import OSLO, midnight  # noqa: E402
from adapter.domain.model import Process, Service  # noqa: E402
from adapter.messages.builders import (  # noqa: E402
    Office,
    Patient,
    Person,
    absence_deleted,
    absence_registered,
    behandleroversikt,
    dialogmelding,
    new_id,
    tjenestestatus,
)
from adapter.replay.generate import plan_offices  # noqa: E402
from adapter.service.processor import Processor, Work  # noqa: E402
from adapter.store import open_store  # noqa: E402
from adapter.store.base import Store  # noqa: E402
from adapter.worker.clock import ManualClock  # noqa: E402
from adapter.worker.retention import Retention, RetentionWindows  # noqa: E402

START = dt.date(2025, 1, 6)
PATIENT = Patient("Test", "Testesen", "13116900216")  # a synthetic, checksum-valid number
ABSENCES_PER_GP_YEAR = 4
EPJ_SWITCHES_PER_GP_YEAR = 12
TOGGLE_SHARE = 0.02
REPORT_EVERY = 30


@dataclass
class Cost:
    """Seconds spent in `Processor.process` (wall and this process's CPU) and the items processed,
    per simulated day. CPU time is what a growing state would drive up, and what other work on the
    machine's cores changes least."""

    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    items: list[int] = field(default_factory=list)
    sync_seconds: list[float] = field(default_factory=list)
    syncs: list[int] = field(default_factory=list)

    def day(self) -> None:
        for series in (self.seconds, self.cpu, self.items, self.sync_seconds, self.syncs):
            series.append(0)

    def cpu_per_message(self, days: slice) -> float:
        items = sum(self.items[days])
        return sum(self.cpu[days]) / items if items else float("nan")

    def per_message(self, days: slice, sync: bool = False) -> float:
        seconds = sum((self.sync_seconds if sync else self.seconds)[days])
        items = sum((self.syncs if sync else self.items)[days])
        return seconds / items if items else float("nan")


class Soak:
    def __init__(self, store: Store, path: Path, service: Processor, clock: ManualClock, batch: int):
        self.store, self.path, self.service, self.clock, self.batch = store, path, service, clock, batch
        self.cost = Cost()
        self.messages = 0

    async def process(self, work: list[Work], sync: bool = False) -> None:
        for start in range(0, len(work), self.batch):
            chunk = work[start : start + self.batch]
            t0, c0 = time.perf_counter(), time.process_time()
            done = await self.service.process(chunk)
            elapsed = time.perf_counter() - t0
            self.cost.cpu[-1] += time.process_time() - c0
            failed = [d for d in done if not d.ok]
            if failed:
                raise RuntimeError(f"soak: {len(failed)} items failed, e.g. {failed[0].error_id}")
            self.cost.seconds[-1] += elapsed
            self.cost.items[-1] += len(chunk)
            if sync:
                self.cost.sync_seconds[-1] += elapsed
                self.cost.syncs[-1] += len(chunk)
            self.messages += sum(1 for w in chunk if w.kind != "tick")
        await self.relay()

    async def relay(self) -> None:
        """The relay's part, with a publisher that confirms everything at once."""
        while rows := await self.store.outbox_pending(1000):
            await self.store.outbox_mark_sent([row.id for row in rows], self.clock.now())

    async def tick(self) -> None:
        """What `Scheduler.catch_up` does: every pair due by now, earliest instant first."""
        while (due_at := await self.store.next_due()) is not None and due_at <= self.clock.now():
            keys = await self.store.due_pairs(due_at, 512)
            if not keys:
                break
            await self.process([Work(kind="tick", key=key, until=due_at) for key in keys])

    def state_bytes(self, table: str = "pairs") -> list[int]:
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) as db:
            return sorted(n for (n,) in db.execute(f"SELECT length(state) FROM {table}"))

    def store_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))


def xml(body: bytes) -> Work:
    return Work(kind="xml", body=body)


def absence(document: dict[str, object]) -> Work:
    return Work(kind="absence", body=json.dumps(document).encode())


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(args: argparse.Namespace, tmp: Path) -> None:
    rng = random.Random(args.seed)
    offices = max(1, args.gps // 4)
    plans = plan_offices(rng, offices, (2, 6), substitute_rate=0.05, start=START, days=args.days)
    people: list[tuple[Office, Person]] = [(plan.office, gp.person) for plan in plans for gp in plan.gps]
    status = {gp.person.hpr: set(gp.processes) for plan in plans for gp in plan.gps}
    syncing = rng.sample(people, max(1, round(len(people) * args.sync_share)))
    others = [p for p in people if p not in set(syncing)]
    windows = RetentionWindows(closed_conversations=dt.timedelta(days=args.closed_days))
    path = tmp / "soak.sqlite3"
    store = await open_store(f"sqlite:///{path}")
    clock = ManualClock(midnight(START) + dt.timedelta(hours=6))
    settings = isolated_settings("soak", store_url=f"sqlite:///{path}")
    soak = Soak(store, path, processor(store, settings, clock), clock, args.batch)
    retention = Retention(store, clock, windows)
    print(
        f"soak: {len(people)} GPs at {len(plans)} offices ({sum(len(p.substitutes) for p in plans)} substitute periods),"
        f" {len(syncing)} syncing hourly, {args.closures} closures per GP-day, {args.days} simulated days from {START}; SQLite store, batches of"
        f" {args.batch}; retention daily: outbox sent {windows.outbox_sent}, inbox {windows.inbox},"
        f" closed conversations {windows.closed_conversations}"
    )
    print(
        f"{'day':>5} {'messages':>9} {'µs/msg':>7} {'CPU µs':>7} {'store MiB':>9} {'inbox':>7} {'outbox':>7} {'closed':>7}"
        f" {'pairs':>6} {'state max B':>11} {'median B':>8} {'office max B':>12} {'RSS MiB':>7}"
    )
    pending_deletes: dict[dt.date, list[Work]] = {}
    conversation = 0
    wall = time.perf_counter()
    for day_index in range(args.days):
        day = START + dt.timedelta(days=day_index)
        soak.cost.day()
        hour, end = midnight(day), midnight(day + dt.timedelta(days=1))
        while hour < end:
            clock.set(max(hour, clock.now()))
            await soak.tick()
            local = hour.astimezone(OSLO).hour
            if day_index == 0 and local == 7:
                at = clock.now()
                await soak.process(
                    [
                        xml(behandleroversikt(office=p.office, entries=p.roster(), gen_date=at, msg_id=new_id(rng)))
                        for p in plans
                    ]
                )
                clock.set(at + dt.timedelta(minutes=30))
                at = clock.now()
                await soak.process(
                    [
                        xml(
                            tjenestestatus(
                                office=office,
                                gp=gp,
                                gen_date=at - dt.timedelta(milliseconds=i),
                                msg_id=new_id(rng),
                                statuses=dict.fromkeys(sorted(status[gp.hpr]), True),
                                complete=True,
                                source="AR",
                            )
                        )
                        for i, (office, gp) in enumerate(people)
                    ]
                )
            elif day_index > 0 and local == 9:
                await soak.process(
                    daily(rng, day, clock.now(), people, others, status, pending_deletes, conversation, args.closures)
                )
                conversation += 1
            if day_index > 0:
                at = clock.now()
                syncs = []
                for i, (office, gp) in enumerate(syncing):
                    on = status[gp.hpr]
                    if rng.random() < TOGGLE_SHARE:
                        on ^= {rng.choice(list(Process))}
                    syncs.append(
                        xml(
                            tjenestestatus(
                                office=office,
                                gp=gp,
                                gen_date=at - dt.timedelta(milliseconds=len(syncing) - i),
                                msg_id=new_id(rng),
                                statuses={process: process in on for process in Process},
                                complete=True,
                            )
                        )
                    )
                await soak.process(syncs, sync=True)
            hour += dt.timedelta(hours=1)
        clock.set(end - dt.timedelta(seconds=1))
        await retention.prune_once()
        if (day_index + 1) % REPORT_EVERY == 0 or day_index + 1 == args.days:
            held = await store.retained_rows()
            sizes = soak.state_bytes()
            recent = slice(max(0, len(soak.cost.items) - REPORT_EVERY), None)
            print(
                f"{day_index + 1:5d} {soak.messages:9d} {soak.cost.per_message(recent) * 1e6:7.0f}"
                f" {soak.cost.cpu_per_message(recent) * 1e6:7.0f}"
                f" {soak.store_bytes() / 2**20:9.1f} {held.inbox:7d} {held.outbox_sent + held.outbox_unsent:7d}"
                f" {held.closed_conversations:7d} {held.pairs:6d} {sizes[-1]:11d} {int(statistics.median(sizes)):8d}"
                f" {soak.state_bytes('offices')[-1]:12d} {rss_mib():7.0f}",
                flush=True,
            )
    first, last = slice(1, 1 + REPORT_EVERY), slice(max(1, args.days - REPORT_EVERY), None)
    print(
        f"per message, days 2-{1 + REPORT_EVERY} vs the last {REPORT_EVERY} days: "
        f"{soak.cost.per_message(first) * 1e6:.0f} µs vs {soak.cost.per_message(last) * 1e6:.0f} µs "
        f"(ratio {soak.cost.per_message(last) / soak.cost.per_message(first):.2f}); hourly syncs alone "
        f"{soak.cost.per_message(first, True) * 1e6:.0f} µs vs {soak.cost.per_message(last, True) * 1e6:.0f} µs "
        f"(ratio {soak.cost.per_message(last, True) / soak.cost.per_message(first, True):.2f}); CPU "
        f"{soak.cost.cpu_per_message(first) * 1e6:.0f} µs vs {soak.cost.cpu_per_message(last) * 1e6:.0f} µs "
        f"(ratio {soak.cost.cpu_per_message(last) / soak.cost.cpu_per_message(first):.2f})"
    )
    print(
        f"pruned over the run: outbox {retention.pruned.outbox}, inbox {retention.pruned.inbox}, "
        f"closed conversations {retention.pruned.closed_conversations}; {soak.messages} messages "
        f"in {time.perf_counter() - wall:.0f} s of wall time"
    )
    await store.close()


def daily(
    rng: random.Random,
    day: dt.date,
    at: dt.datetime,
    people: list[tuple[Office, Person]],
    others: list[tuple[Office, Person]],
    status: dict[str, set[Process]],
    pending_deletes: dict[dt.date, list[Work]],
    conversation: int,
    closures: float,
) -> list[Work]:
    """One day's absences (some deleted the next day), EPJ switches and dialogue closures."""
    work = pending_deletes.pop(day, [])
    for office, gp in people:
        if rng.random() < ABSENCES_PER_GP_YEAR / 365:
            absence_id = new_id(rng)
            first = day + dt.timedelta(days=rng.randint(1, 14))
            work.append(
                absence(
                    absence_registered(
                        absence_id=absence_id,
                        office_her_id=office.her_id,
                        practitioner_hpr=gp.hpr,
                        from_date=first,
                        to_date=first + dt.timedelta(days=rng.randint(0, 13)),
                        services=[s for s in Service if rng.random() < 0.9] or [Service.KONTAKT_LEGEKONTORET],
                        registered_at=at - dt.timedelta(seconds=1),
                    )
                )
            )
            if rng.random() < 0.05:
                pending_deletes.setdefault(day + dt.timedelta(days=1), []).append(
                    absence(
                        absence_deleted(
                            absence_id=absence_id,
                            office_her_id=office.her_id,
                            deleted_by_hpr=gp.hpr,
                            deleted_at=at + dt.timedelta(days=1) - dt.timedelta(seconds=2),
                        )
                    )
                )
    for office, gp in others:
        if rng.random() < EPJ_SWITCHES_PER_GP_YEAR / 365:
            process = rng.choice(list(Process))
            status[gp.hpr] ^= {process}
            work.append(
                xml(
                    tjenestestatus(
                        office=office,
                        gp=gp,
                        gen_date=at - dt.timedelta(seconds=3),
                        msg_id=new_id(rng),
                        statuses={process: process in status[gp.hpr]},
                        complete=False,
                    )
                )
            )
    for n in range(round(len(people) * closures)):
        office, gp = rng.choice(people)
        ref = new_id(rng)
        work.append(
            xml(
                dialogmelding(
                    office=office,
                    gp=gp,
                    gen_date=at - dt.timedelta(seconds=4),
                    msg_id=new_id(rng),
                    conversation=(ref, ref),
                    patient=PATIENT,
                    code="13",
                    code_name="Dialog avsluttet",
                    text=f"Samtale {conversation}-{n} avsluttet.",
                )
            )
        )
    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gps", type=int, default=2000, help="GPs (about four per office)")
    parser.add_argument("--days", type=int, default=400, help="simulated days")
    parser.add_argument("--sync-share", type=float, default=0.1, help="share of GPs syncing their status hourly")
    parser.add_argument("--closures", type=float, default=0.2, help="dialogue closures (R7) per GP per day")
    parser.add_argument("--batch", type=int, default=256, help="items per store transaction")
    parser.add_argument("--closed-days", type=int, default=400, help="retention window of closed conversations")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ddfl-soak-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
