"""What one more status report costs a pair that already has N reports of history (issue 10).

Builds one (office, practitioner) pair through the engine with N hourly Tjenestestatus reports
(complete, some processes flapping now and then, a few arriving late), then measures the work of
one more message as the worker does it: load the stored state, apply the report, store the state.
Prints the per-report cost and the state's size at each N. With `--rev REV` it runs the same
measurement on another checkout's code (e.g. `--rev HEAD~4`, the state before the bound), so
before and after come from one run. Prints figures; asserts nothing.

    python bench/history.py [--sizes 10 1000 10000] [--repeat 200] [--rev REV]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def measure(sizes: list[int], repeat: int) -> list[dict[str, float]]:
    from adapter.domain import engine
    from adapter.domain.model import MessageRef, Practitioner, Process, ReportServiceStatus, Role, Source
    from adapter.domain.state import OfficeState, PairState

    office_id, hpr = 8141333, "9144900"
    office = OfficeState(her_id=office_id, roster={hpr: Practitioner(hpr=hpr, role=Role.FASTLEGE)})
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)

    def report(n: int) -> ReportServiceStatus:
        gen = start + dt.timedelta(hours=n) - dt.timedelta(hours=3 if n % 50 == 7 else 0)  # a few come late
        statuses = {
            Process.EKONTAKT: True,
            Process.TIMERESERVASJON: True,
            Process.EKONSULTASJON: (n // 24) % 7 != 0,  # off one day a week
            Process.RESEPTFORNYELSE: False,
        }
        return ReportServiceStatus(
            message=MessageRef(msg_id=f"m-{n:08d}", gen_date=gen, sender_her_id=office_id),
            office_her_id=office_id,
            practitioner_hpr=hpr,
            source=Source.EPJ,
            complete=True,
            statuses=statuses,
        )

    results = []
    pair: PairState | None = None
    done = 0
    for size in sorted(sizes):
        while done < size:
            now = start + dt.timedelta(hours=done)
            outcome = engine.apply(office, {hpr: pair} if pair else {}, report(done), now)
            pair = outcome.pairs[0] if outcome.pairs else pair
            done += 1
        assert pair is not None
        text = pair.to_json()
        commands = [report(size + k) for k in range(repeat)]
        began = time.perf_counter()
        for k, command in enumerate(commands):  # each one from the same stored state
            loaded = PairState.from_json(text)
            outcome = engine.apply(office, {hpr: loaded}, command, start + dt.timedelta(hours=size + k))
            for saved in outcome.pairs:
                saved.to_json()
        per_report = (time.perf_counter() - began) / repeat
        results.append({"reports": size, "per_report_us": per_report * 1e6, "state_bytes": len(text)})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--rev", help="also measure this git revision's code (checked out into a temp dir)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one run's figures, for --rev
    args = parser.parse_args()

    if args.json:
        print(json.dumps(measure(args.sizes, args.repeat)))
        return 0
    runs = {"this tree": PROJECT}
    scratch = None
    if args.rev:
        scratch = tempfile.TemporaryDirectory(prefix="ddfl-history-")
        archive = subprocess.run(["git", "-C", str(PROJECT), "archive", args.rev], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", scratch.name], input=archive.stdout, check=True)
        (Path(scratch.name) / "bench").mkdir(exist_ok=True)
        (Path(scratch.name) / "bench" / "history.py").write_text(Path(__file__).read_text())
        runs = {args.rev: Path(scratch.name), **runs}
    for label, root in runs.items():
        out = subprocess.run(
            [sys.executable, str(root / "bench" / "history.py"), "--json", "--repeat", str(args.repeat), "--sizes"]
            + [str(s) for s in args.sizes],
            cwd=root,
            env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
            check=True,
            capture_output=True,
            text=True,
        )
        print(f"{label}:")
        for row in json.loads(out.stdout):
            print(
                f"  {row['reports']:>7,} reports of history: {row['per_report_us']:8.0f} µs per report, "
                f"state {row['state_bytes'] / 1024:7.1f} KiB"
            )
    if scratch is not None:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT))
    sys.exit(main())
