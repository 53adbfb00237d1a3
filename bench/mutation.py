"""Mutation testing of the core: which breaks of `adapter/domain` and the XML edge no test notices.

Runs mutmut 3 (`pip install mutmut`) over a copy of the tree (the working tree, or a git revision
with `--rev`), so the checkout is never touched. Every mutant (a comparison flipped, a constant
moved, a condition negated, a statement dropped …) is run against `tests/domain` and
`tests/messages`; a mutant no test kills "survives". Prints the score and every survivor with its
diff, minus the survivors listed in `bench/mutation-equivalent.txt` as equivalent (no behaviour
can change), each with its reason. Aim: every survivor killed by a test or named equivalent.
A mutant that runs past `--timeout` times its tests' time is judged like a survivor: listed with
a reason starting "loops" it counts as killed; listed otherwise it is only slower (a cache
switched off), equivalent in behaviour.

    python bench/mutation.py [--rev REV] [--only GLOB ...] [--jobs N] [--timeout X] [--keep DIR]

Mutant names (`module.x_function__mutmut_N`) are stable while the function's code is; the script
says which listed equivalents no longer match a survivor, so the list can be kept current.
Takes a while on two cores: run it in the background.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import io
import os
import re
import shutil
import string
import subprocess
import sys
import tempfile
import time
import tokenize
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
EQUIVALENT = Path(__file__).resolve().parent / "mutation-equivalent.txt"
#: What is mutated by default (issue 15): the pure core and everything that crosses the XML border.
DEFAULT_ONLY = ["adapter/domain/*", "adapter/messages/*"]
TESTS = ["tests/domain", "tests/messages"]
_RESULT = re.compile(r"^\s*(?P<name>\S+__mutmut_\d+): (?P<status>.+?)\s*$")


def equivalents(path: Path = EQUIVALENT) -> dict[str, str]:
    """`name-or-glob  reason` per line; `#` starts a comment line."""
    listed: dict[str, str] = {}
    if not path.exists():
        return listed
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, reason = line.strip().partition(" ")
        listed[name] = reason.strip()
    return listed


def copy_tree(destination: Path, rev: str | None) -> None:
    """The files git knows (tracked and untracked-but-not-ignored), from the work tree or a revision."""
    if rev is not None:
        archive = subprocess.run(["git", "-C", str(PROJECT), "archive", rev], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)
        return
    listed = subprocess.run(
        ["git", "-C", str(PROJECT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        relative = raw.decode()
        source = PROJECT / relative
        target = destination / relative
        if source.is_symlink():  # adapter/published_schemas -> ../schemas: a link, as in the checkout
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def configure(root: Path, only: list[str], jobs: int, timeout: float, tests: list[str] = TESTS) -> None:
    """mutmut reads setup.cfg; the copy gets its own, the project's files stay as they are.

    A mutant gets `timeout` times its tests' measured time (plus 10 s) before it is stopped as a
    timeout; mutmut's default, 15 times, lets one looping or merely slow mutant of `rules.py` (whose
    tests take minutes on a loaded machine) hold the run for most of an hour."""
    config = root / "setup.cfg"
    lines = [
        "[mutmut]",
        "source_paths=adapter/",
        "only_mutate=" + "\n    ".join(["", *only]),
        "pytest_add_cli_args_test_selection=" + "\n    ".join(["", *tests]),
        "pytest_add_cli_args=-p no:cacheprovider -q",
        "do_not_mutate=adapter/domain/__init__.py",
        f"max_children={jobs}",
        f"timeout_multiplier={timeout}",
        "timeout_constant=10.0",
        # adapter/published_schemas links to ../schemas: the XSDs the payload parser validates against;
        # fixtures/: the shipped messages tests/messages/test_envelope_lookup.py reads every one of;
        # docs/: the published tables tests/service and tests/contracts compare with the code
        "also_copy=" + "\n    ".join(["", "schemas/", "adapter/published_schemas", "fixtures/", "docs/"]),
        "",
    ]
    config.write_text("\n".join(lines), encoding="utf-8")
    # The tests find ../shared beside the checkout; mutmut runs them from <copy>/mutants.
    shared = PROJECT.parent / "shared"
    if shared.exists():
        (root / "shared").symlink_to(shared)


def results(root: Path) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    found = {}
    for line in out.stdout.splitlines():
        if match := _RESULT.match(line):
            found[match["name"]] = match["status"]
    return found


def diff_of(root: Path, name: str) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=root, capture_output=True, text=True)
    return [
        line for line in out.stdout.splitlines() if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]


def _tokens(line: str) -> list[tuple[int, str]] | None:
    try:
        return [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline)]
    except (tokenize.TokenError, SyntaxError):
        return None


def _fields(token: str) -> list[tuple[str | None, str | None, str | None]]:
    """The replacement fields (expression, format spec, conversion) of an f-string token; none for
    a plain string. Before Python 3.12 an f-string is one STRING token, so a mutant inside one of
    its expressions (`{_her(None, 10)}`) would otherwise pass for a change of wording."""
    prefix = token[: len(token) - len(token.lstrip("rRbBuUfF"))]
    if "f" not in prefix.lower():
        return []
    body = token[len(prefix) :]
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    try:
        parsed = string.Formatter().parse(body[len(quote) : len(body) - len(quote)])
        return [(field, spec, conversion) for _, field, spec, conversion in parsed if field is not None]
    except ValueError:
        return [(token, None, None)]  # not parsed: any change counts as one of an expression


def text_only(diff: list[str]) -> bool:
    """A mutant that changes only the wording of a string literal (`"XXtextXX"`, upper/lower case)
    that nothing compares, looks up or keys on: a description, a reason or a log line; in an
    f-string, only outside its replacement fields."""
    removed = [line[1:] for line in diff if line.startswith("-")]
    added = [line[1:] for line in diff if line.startswith("+")]
    if len(removed) != 1 or len(added) != 1:
        return False
    before, after = _tokens(removed[0]), _tokens(added[0])
    if before is None or after is None or len(before) != len(after):
        return False
    changed = [i for i, (b, a) in enumerate(zip(before, after, strict=True)) if b != a]
    if not changed or any(before[i][0] != tokenize.STRING or after[i][0] != tokenize.STRING for i in changed):
        return False
    if any(_fields(before[i][1]) != _fields(after[i][1]) for i in changed):
        return False  # an f-string's expression, not its wording
    if any(i + 1 < len(before) and before[i + 1][1] == ":" for i in changed):
        return False  # a mapping's key
    deciding = {
        "==",
        "!=",
        "<",
        ">",
        "<=",
        ">=",
        "in",
        "not",
        "get",
        "lookup",
        "decode",
        "startswith",
        "endswith",
        "fullmatch",
        "match",
        "find",
        "findtext",
        "iterfind",
        "findall",
        "QName",
        "Literal",
        "kind",
        "code",
    }
    if any(t[1] in deciding for t in before):
        return False  # the string is compared, looked up, or names something
    # a refusal's code is not wording
    return not any(
        i >= 2 and before[i - 1][1] == "(" and before[i - 2][1] in ("rejected", "Rejection") for i in changed
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="mutate this git revision instead of the working tree")
    parser.add_argument("--only", nargs="+", default=DEFAULT_ONLY, help="globs of the files to mutate")
    parser.add_argument(
        "--tests",
        nargs="+",
        default=TESTS,
        help="the test folders run against the mutants (builders, catalogue and portal are tested in "
        "tests/service and tests/contracts)",
    )
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument(
        "--timeout",
        type=float,
        default=3.0,
        help="stop a mutant after this many times its tests' measured time, plus 10 s (mutmut's default: 15)",
    )
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (mutmut resumes there)")
    parser.add_argument(
        "--mutants",
        nargs="+",
        default=[],
        metavar="GLOB",
        help="run only the mutants with these names (e.g. 'adapter.domain.engine.x_tick__mutmut_*'), again if run before",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="with --keep: report what a (possibly unfinished) run found"
    )
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="ddfl-mutation-"))
    fresh = not (root / "setup.cfg").exists()
    if fresh:
        root.mkdir(parents=True, exist_ok=True)
        copy_tree(root, args.rev)
        configure(root, args.only, args.jobs, args.timeout, args.tests)
    started = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.jobs), *args.mutants]
    if args.report_only:
        command = ["true"]
    run = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    found = results(root)
    if not found:
        print(run.stdout[-3000:], run.stderr[-3000:], sep="\n", file=sys.stderr)
        return 2

    patterns = equivalents()
    statuses: dict[str, int] = {}
    for status in found.values():
        statuses[status] = statuses.get(status, 0) + 1
    # A timeout is judged like a survivor: killed only when listed as looping ("loops: ..."), else
    # a mutant that is merely slower (a cache switched off) and equivalent in behaviour once listed.
    survivors = sorted(n for n, s in found.items() if s in ("survived", "timeout"))
    timeouts = {n for n, s in found.items() if s == "timeout"}
    listed = {n: reason for n in survivors for pattern, reason in patterns.items() if fnmatch.fnmatchcase(n, pattern)}
    loops = [n for n in sorted(timeouts) if n in listed and listed[n].startswith("loops")]
    survivors = [n for n in survivors if n not in loops]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs + 2) as pool:  # one `mutmut show` each
        unlisted = [n for n in survivors if n not in listed]
        diffs = dict(zip(unlisted, pool.map(lambda n: diff_of(root, n), unlisted), strict=True))
    wording = [n for n, diff in diffs.items() if n not in timeouts and text_only(diff)]
    equivalent = [n for n in survivors if n in listed]
    unexplained = [n for n in survivors if n not in listed and n not in wording]
    killed = statuses.get("killed", 0) + len(loops) + statuses.get("segfault", 0)
    judged = killed + len(survivors)
    print(f"mutation testing of {', '.join(args.only)} against {', '.join(args.tests)} ({args.rev or 'work tree'})")
    print(f"  {len(found)} mutants in {elapsed:.0f} s: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    if judged:
        behaviour = judged - len(wording)
        print(
            f"  score: {killed}/{judged} killed = {100 * killed / judged:.1f}% (timeouts only where listed as looping)"
        )
        print(f"  score of mutants that can change behaviour (not wording only): {100 * killed / behaviour:.1f}%")
        print(f"  ... counting listed equivalents as killed: {100 * (killed + len(equivalent)) / behaviour:.1f}%")
    print(
        f"  survivors and timeouts: {len(survivors)} ({len(wording)} change only the wording of a description or "
        f"log line, {len(equivalent)} listed as equivalent, {len(unexplained)} unexplained); "
        f"{len(loops)} timeouts listed as looping (killed)"
    )
    for name in unexplained:
        print(f"  {'TIMEOUT (loops, or only slower?)' if name in timeouts else 'SURVIVED'} {name}")
        print("\n".join("      " + line for line in diffs[name]))
    for name in equivalent:
        print(f"  equivalent{' (timed out)' if name in timeouts else ''} {name}: {listed[name]}")
    for name in loops:
        print(f"  timed out, killed {name}: {listed[name]}")
    # a listed name of a module not mutated here, or of a mutant not run yet (--mutants), is not stale
    modules = {n.rsplit(".", 1)[0] for n in found}
    current = [*survivors, *loops, *(n for n, s in found.items() if s == "not checked")]
    stale = sorted(
        p for p in patterns if p.rsplit(".", 1)[0] in modules and not any(fnmatch.fnmatchcase(n, p) for n in current)
    )
    if stale:
        print(f"  listed as equivalent but not a survivor now (update the list): {', '.join(stale)}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
