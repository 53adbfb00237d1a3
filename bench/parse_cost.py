"""CPU of reading one inbound message (`parse_message`: vetting, lxml, envelope, payload, XSD) and
of writing its answer (`build_apprec`), in process, without the store or a broker.

    python bench/parse_cost.py [--messages 1000] [--rounds 3] [--calls | --instructions]
                               [--variant ROOT ...]

The messages are the latency bench's (`bench/latency_path.py`: the same generator and seed, the
Tjenestestatus of 1,000 GPs at 20 offices), its 20 rosters (Behandleroversikt) and the contract's
four XML examples. Each kind is parsed over and over; the figure is the least CPU per message of
seven passes (what a shared machine distorts least). With `--calls`, Python calls per message
(cProfile's count, the same whatever the machine's load). With `--instructions`, the machine
instructions per message under callgrind (valgrind): a run that parses every message once less a
run that parses none, divided by the messages; the CPU figure a loaded machine cannot move (slow:
use a few hundred messages). With `--variant ROOT`, each round runs
this checkout's adapter and then ROOT's (PYTHONPATH, one subprocess each, alternating), on the same
bytes. Asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pickle
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
EXAMPLES = ROOT.parent / "shared" / "contract" / "examples"


def mix(n: int) -> dict[str, list[bytes]]:
    """The bodies, by kind: generated here once, so every variant reads the very same bytes."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH))
    from throughput import messages

    rosters, statuses = messages(2, 20, 50, max(1, round(n / 1000)))
    kinds = {"status": [m.body for m in statuses[:n]], "roster": [m.body for m in rosters]}
    if EXAMPLES.is_dir():
        kinds["examples"] = [path.read_bytes() for path in sorted(EXAMPLES.glob("*.xml"))]
    return kinds


def measure(kinds: dict[str, list[bytes]], count_calls: bool) -> dict[str, float]:
    """Per kind, µs of CPU (or calls) per message to parse it, and per status message to answer it."""
    from adapter.messages.apprec import build_apprec
    from adapter.messages.inbound import parse_message

    now = dt.datetime.now(dt.UTC)

    def parse(body: bytes) -> object:
        return parse_message(body, now=now, headers={})

    figures = {f"parse {kind}": _cost(parse, bodies, count_calls) for kind, bodies in kinds.items()}
    envelopes = [parse_message(body, now=now).envelope for body in kinds["status"]]

    def answer(envelope: object) -> object:
        return build_apprec(envelope, ok=True, gen_date=now)  # type: ignore[arg-type]

    figures["answer status"] = _cost(answer, envelopes, count_calls)
    return figures


def _cost(work: Callable[[object], object], items: list, count_calls: bool) -> float:  # type: ignore[type-arg]
    for item in items[:20]:
        work(item)  # compiled schemas, caches
    if count_calls:
        profile = cProfile.Profile()
        profile.enable()
        for item in items:
            work(item)
        profile.disable()
        stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        return sum(calls for _, calls, *_ in stats.values()) / len(items)
    passes = []
    for _ in range(7):
        c0 = time.process_time()
        for item in items:
            work(item)
        passes.append((time.process_time() - c0) / len(items) * 1e6)
    return min(passes)


def once(kinds: dict[str, list[bytes]], kind: str, passes: int) -> None:
    """Parse (and answer) the messages of `kind` `passes` times, after the same warming up."""
    from adapter.messages.apprec import build_apprec
    from adapter.messages.inbound import parse_message

    now = dt.datetime.now(dt.UTC)
    for body in kinds[kind][:20]:
        build_apprec(parse_message(body, now=now).envelope, ok=True, gen_date=now)
    for _ in range(passes):
        for body in kinds[kind]:
            build_apprec(parse_message(body, now=now).envelope, ok=True, gen_date=now)


def child(bodies_file: Path, count_calls: bool) -> None:
    kinds = pickle.loads(bodies_file.read_bytes())
    print(json.dumps(measure(kinds, count_calls)))


def run_variant(root: Path, bodies_file: Path, count_calls: bool) -> dict[str, float]:
    args = [sys.executable, str(Path(__file__).resolve()), "--child", str(bodies_file)]
    if count_calls:
        args.append("--calls")
    # this checkout's copy of the script, the adapter from `root` (PYTHONPATH comes first)
    out = subprocess.run(args, env=_env(root), cwd=root, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def instructions(root: Path, bodies_file: Path, kinds: dict[str, list[bytes]]) -> dict[str, float]:
    """Per kind, callgrind's instructions per message to parse it and answer it."""
    figures = {}
    for kind, bodies in kinds.items():
        counts = []
        for passes in (0, 1):
            args = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
            args += [str(Path(__file__).resolve()), "--once", str(bodies_file), kind, str(passes)]
            out = subprocess.run(args, env=_env(root), cwd=root, capture_output=True, text=True, check=True)
            counts.append(int(_COLLECTED.findall(out.stderr)[-1]))
        figures[f"parse+answer {kind}"] = (counts[1] - counts[0]) / len(bodies) / 1e3
    return figures


_COLLECTED = re.compile(r"Collected : (\d+)")


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(root), "PYTHONHASHSEED": "0"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="status messages (the latency bench's)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds with --variant")
    parser.add_argument("--calls", action="store_true", help="Python calls per message instead of CPU")
    parser.add_argument("--variant", type=Path, action="append", default=[], help="another checkout to compare")
    parser.add_argument("--instructions", action="store_true", help="callgrind's instructions (thousands)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--once", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.calls)
        return
    if args.once is not None:
        once(pickle.loads(Path(args.once[0]).read_bytes()), args.once[1], int(args.once[2]))
        return
    unit = "thousand instructions" if args.instructions else "calls" if args.calls else "µs CPU"
    kinds = mix(args.messages)
    print(f"parse cost: {unit} per message; " + ", ".join(f"{len(v)} {k}" for k, v in kinds.items()))
    roots = [ROOT, *args.variant]
    with tempfile.TemporaryDirectory(prefix="ddfl-parse-cost-") as tmp:
        bodies_file = Path(tmp) / "bodies.pickle"
        bodies_file.write_bytes(pickle.dumps(kinds))
        for round_number in range(1 if args.calls or args.instructions else args.rounds):
            for root in roots:
                if args.instructions:
                    figures = instructions(root, bodies_file, kinds)
                else:
                    figures = run_variant(root, bodies_file, args.calls)
                shown = "  ".join(f"{name} {value:8.1f}" for name, value in figures.items())
                print(f"  round {round_number + 1} {root!s:24} {shown}", flush=True)


if __name__ == "__main__":
    main()
