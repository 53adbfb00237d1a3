"""How long `ddfl-adapter replay` takes on a generated national set, beside the floor (issue 14).

In one run: generates the set once (`--seed 7 --offices 2000` unless told otherwise; not timed),
measures the floor — reading every message of the scenario, parsing it as the adapter does
(hardened lxml) and validating its payload against the adapter's XSD, and reading the absence
commands as JSON — in this process, then runs `ddfl-adapter replay SCENARIO --events --receipts`
as a child process `--runs` times: its wall time (start-up included), its CPU time (its parser
worker's included, and its own process's alone) and its peak resident memory (ru_maxrss of the
child). Prints the machine's
load beside the figures: on a shared machine they vary with it. Asserts nothing.

    python bench/replay.py [--offices 2000] [--seed 7] [--runs 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapter.messages.inbound import MAPPERS, NS
from adapter.messages.schemas import schema_errors
from adapter.messages.xmlsafe import Limits, parse_xml
from adapter.replay.generate import generate
from adapter.replay.scenario import load_scenario

#: `ddfl-adapter replay` as the command line runs it, telling (on its last line of stderr) the CPU
#: time of its own process: the child's total includes the worker that parses ahead on the other
#: core, and the replay's own process is what decides the wall time
_OWN_CPU = "own process CPU"
REPLAY = [
    sys.executable,
    "-c",
    "import resource, sys\n"
    "from adapter.cli import main\n"
    "try:\n"
    "    code = main()\n"
    "finally:\n"
    "    own = resource.getrusage(resource.RUSAGE_SELF)\n"
    f"    print('{_OWN_CPU}', own.ru_utime + own.ru_stime, file=sys.stderr)\n"
    "sys.exit(code)",
    "replay",
]


def generated_set(root: Path, seed: int, offices: int) -> Path:
    """The set's scenario, generated on first use (the CLI's defaults but for seed and offices)."""
    scenario = root / f"seed{seed}-offices{offices}" / "scenario.yaml"
    if not scenario.is_file():
        generate(
            scenario.parent,
            seed=seed,
            offices=offices,
            gps_per_office=4,
            days=30,
            absence_rate=0.2,
            substitute_rate=0.05,
            start=dt.date(2024, 6, 1),
        )
    return scenario


def floor(scenario: Path) -> tuple[float, float, int]:
    """Seconds (wall, CPU) to read, parse and XSD-validate every message of the scenario; how many."""
    steps = load_scenario(scenario).steps
    limits = Limits()
    namespaces = {namespace for namespace, _ in MAPPERS.values()}
    started, cpu = time.perf_counter(), time.process_time()
    count = 0
    for step in steps:
        if step.xml is not None:
            msghead = parse_xml(step.xml.read_bytes(), limits)
            content = msghead.find("mh:Document/mh:RefDoc/mh:Content", NS)
            payload = next(iter(content)) if content is not None else None
            if payload is not None and (namespace := payload.tag[1:].split("}")[0]) in namespaces:
                schema_errors(payload, namespace)
            count += 1
        elif step.absence is not None:
            json.loads(step.absence)
            count += 1
    return time.perf_counter() - started, time.process_time() - cpu, count


def replay(scenario: Path, out: Path) -> tuple[float, float, float, float, str]:
    """One `ddfl-adapter replay` in a child process: wall s, CPU s (all of it, and its own process's),
    peak RSS MiB, its summary line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [*REPLAY, str(scenario), "--events", str(out / "events.jsonl"), "--receipts", str(out / "receipts.jsonl")],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    own = float(done.stderr.strip().splitlines()[-1].removeprefix(_OWN_CPU))
    return wall, cpu, own, after.ru_maxrss / 1024, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offices", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where the generated set is kept (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ddfl-bench-replay-") as tmp:
        root = args.dir or Path(tmp)
        scenario = generated_set(root, args.seed, args.offices)
        load = os.getloadavg()
        print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
        floor_s, floor_cpu, messages = floor(scenario)
        print(f"floor: read, parse and XSD-validate {messages} messages: {floor_s:.2f} s wall, {floor_cpu:.2f} s CPU")
        walls: list[float] = []
        for run in range(1, args.runs + 1):
            wall, cpu, own, rss, summary = replay(scenario, Path(tmp))
            walls.append(wall)
            print(
                f"replay {run}: {wall:.2f} s wall ({wall / floor_s:.0f}x the floor), {cpu:.2f} s CPU "
                f"({own:.2f} s of it the replay's own process), peak RSS {rss:.0f} MiB  [{summary}]"
            )
        print(
            f"replay median {statistics.median(walls):.2f} s, best {min(walls):.2f} s "
            f"({min(walls) / floor_s:.0f}x the floor); load average now {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
