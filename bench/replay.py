"""How long `ddfl-adapter replay` takes on a generated national set, beside the floor (issue 14).

In one run: generates the set once (`--seed 7 --offices 2000` unless told otherwise; not timed),
measures the floor — reading every message of the scenario, parsing it as the adapter does
(hardened lxml) and validating its payload against the adapter's XSD, and reading the absence
commands as JSON — in this process, then runs `ddfl-adapter replay SCENARIO --events --receipts`
as a child process `--runs` times: its wall time (start-up included); its CPU time (its parsing
worker's or other deciding process's included), its own process's alone (and of it, what it spent
before it forked: start-up, loading the scenario, guessing the offices), and that of each process
a split replay forked to decide in (adapter/replay/split.py); its peak resident memory: the
largest process's (the replay's own, or a forked one's; a parsing worker's is smaller) and the
most all its processes held at once (their proportional set sizes summed, sampled every 20 ms: the
pages a fork shares count once). With `--variant ROOT` each run is followed (or preceded,
alternately) by one of the code under ROOT (`PYTHONPATH=ROOT`: main's checkout, say), and all
outputs are checked to be byte-identical. Prints the machine's load beside the figures: on a
shared machine they vary with it. Asserts nothing.

    python bench/replay.py [--offices 2000] [--seed 7] [--runs 3] [--dir DIR] [--variant /work/main]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapter.messages.inbound import MAPPERS, NS
from adapter.messages.schemas import schema_errors
from adapter.messages.xmlsafe import Limits, parse_xml
from adapter.replay.generate import generate
from adapter.replay.scenario import load_scenario

#: `ddfl-adapter replay` as the command line runs it, telling (on its last line of stderr, as JSON)
#: the CPU time and peak memory of its own process and of each process a split replay decided in,
#: and its own CPU time when it had shared the offices out (just before it forked: start-up, the
#: scenario's loading and the guessing, which no other process shares): the child's total includes
#: the worker that parses ahead, or the deciding processes
_OWN = "the replay's processes (CPU s, peak KiB):"
REPLAY = [
    sys.executable,
    "-c",
    "import json, resource, sys\n"
    "import adapter.replay.runner as runner\n"
    "from adapter.cli import main\n"
    "def cpu():\n"
    "    own = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    return own.ru_utime + own.ru_stime\n"
    "deciders, forking = [], []\n"
    "run = runner.run_scenario\n"
    "def spy(*args, **kwargs):\n"
    "    result = run(*args, **kwargs)\n"
    "    deciders.extend(getattr(result, 'deciders', []))\n"
    "    return result\n"
    "runner.run_scenario = spy\n"
    "split = getattr(runner, 'split', None)\n"
    "if split is not None and hasattr(split, 'share_out'):\n"
    "    share_out = split.share_out\n"
    "    def shared(*args, **kwargs):\n"
    "        answer = share_out(*args, **kwargs)\n"
    "        forking.append(cpu())\n"
    "        return answer\n"
    "    split.share_out = shared\n"
    "try:\n"
    "    code = main()\n"
    "finally:\n"
    "    own = resource.getrusage(resource.RUSAGE_SELF)\n"
    f"    print({_OWN!r}, json.dumps([cpu(), own.ru_maxrss, deciders, forking[:1]]), file=sys.stderr)\n"
    "sys.exit(code)",
    "replay",
]


@dataclass
class Run:
    wall: float
    #: CPU seconds: all of it (its children's included), its own process's, each deciding process's
    cpu: float
    own: float
    deciders: list[float]
    #: of `own`, what it spent before it forked the other deciding process (None: not split)
    forking: float | None
    #: peak resident MiB: the largest process's; the most its processes held at once (PSS, sampled)
    rss: float
    held: float
    summary: str
    #: sha256 of the events and receipts files
    output: str


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


def replay(scenario: Path, out: Path, root: Path | None = None) -> Run:
    """One `ddfl-adapter replay` in a child process (of the code under `root`, if given)."""
    env = {**os.environ, "PYTHONPATH": str(root)} if root is not None else None
    events, receipts = out / "events.jsonl", out / "receipts.jsonl"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.Popen(
        [*REPLAY, str(scenario), "--events", str(events), "--receipts", str(receipts)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=out,  # not this tree: `python -c` puts the working folder first on the path
    )
    held = _Held(child.pid)
    stdout, stderr = child.communicate()
    wall = time.perf_counter() - started
    held.stop()
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, child.args, stdout, stderr)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    own, own_rss, deciders, forking = json.loads(stderr.strip().splitlines()[-1].removeprefix(_OWN))
    output = hashlib.sha256(events.read_bytes() + b"\0" + receipts.read_bytes()).hexdigest()
    return Run(
        wall,
        cpu,
        own,
        [d_cpu for d_cpu, _ in deciders],
        forking[0] if forking else None,
        max([own_rss] + [d_rss for _, d_rss in deciders]) / 1024,  # not ru_maxrss: the largest of every run so far
        held.peak / 1024,
        stdout.strip(),
        output,
    )


class _Held:
    """The most memory a process and its descendants held at once: their proportional set sizes
    (a page shared by n processes counts 1/n in each, so the pages a fork shares count once),
    summed every 20 ms from /proc (Linux) in a thread, until `stop`."""

    def __init__(self, pid: int):
        self.peak = 0  # KiB
        self._pid = pid
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stopping.wait(0.02):
            self.peak = max(self.peak, sum(_pss(pid) for pid in _tree(self._pid)))

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()


def _tree(pid: int) -> list[int]:
    """The process and its descendants (each forked by its parent's main thread)."""
    tree = [pid]
    for parent in tree:
        try:
            tree.extend(int(child) for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split())
        except OSError:
            pass
    return tree


def _pss(pid: int) -> int:
    """A process's proportional set size (KiB); 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def describe(run: Run, floor_s: float) -> str:
    split = f", the other deciding process {' / '.join(f'{cpu:.2f}' for cpu in run.deciders)} s" if run.deciders else ""
    forked = f", {run.forking:.2f} s before it forked" if run.forking is not None else ""
    return (
        f"{run.wall:.2f} s wall ({run.wall / floor_s:.0f}x the floor), {run.cpu:.2f} s CPU "
        f"({run.own:.2f} s of it the replay's own process{forked}{split}), peak RSS {run.rss:.0f} MiB (all its processes at once: {run.held:.0f} MiB)"
        f"  [{run.summary}] load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offices", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where the generated set is kept (default: a temporary folder)")
    parser.add_argument("--variant", type=Path, help="alternate with the code under this root (main's checkout)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ddfl-bench-replay-") as tmp:
        root = args.dir or Path(tmp)
        scenario = generated_set(root, args.seed, args.offices)
        load = os.getloadavg()
        print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
        floor_s, floor_cpu, messages = floor(scenario)
        print(f"floor: read, parse and XSD-validate {messages} messages: {floor_s:.2f} s wall, {floor_cpu:.2f} s CPU")
        walls: dict[str, list[float]] = {}
        outputs: set[str] = set()
        for number in range(1, args.runs + 1):
            trees: list[tuple[str, Path | None]] = [("this tree", None)]
            if args.variant is not None:
                trees.insert(number % 2, (str(args.variant), args.variant))  # alternately first
            for label, root in trees:
                run = replay(scenario, Path(tmp), root)
                walls.setdefault(label, []).append(run.wall)
                outputs.add(run.output)
                print(f"replay {number}, {label}: {describe(run, floor_s)}", flush=True)
        for label, times in walls.items():
            print(f"{label}: replay median {statistics.median(times):.2f} s, best {min(times):.2f} s")
        print(f"outputs (events and receipts files): {'identical' if len(outputs) == 1 else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
