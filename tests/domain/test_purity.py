"""The engine is a pure core: no broker, no database, no asyncio, no clock (adapter/domain/__init__.py)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import adapter.domain

DOMAIN = Path(adapter.domain.__file__).parent
MODULES = sorted(DOMAIN.glob("*.py"))
FORBIDDEN = ("faststream", "aio_pika", "aiormq", "sqlite3", "asyncio", "psycopg", "time")
CLOCK_READS = ("now", "today", "utcnow")


def imported_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            names.update(arg.value for arg in node.args if isinstance(arg, ast.Constant))
    return names


def test_the_domain_package_has_the_expected_modules():
    assert {p.stem for p in MODULES} >= {"model", "state", "rules", "engine", "events", "calendar"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_imports_nothing_impure(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = {name for name in imported_names(tree) if name.split(".")[0] in FORBIDDEN or name == "importlib"}
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_never_reads_the_clock(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    reads = [
        f"line {node.lineno}: .{node.func.attr}()"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLOCK_READS
    ]
    assert not reads, f"{path.name} reads the clock: {reads}"


def test_the_ast_checks_would_catch_an_offender():
    offender = ast.parse("import asyncio\nfrom time import monotonic\nimport datetime as dt\nx = dt.datetime.now()\n")
    assert imported_names(offender) >= {"asyncio", "time"}
    assert any(isinstance(n, ast.Call) and getattr(n.func, "attr", None) == "now" for n in ast.walk(offender))


PROBE = """
import importlib, json, sys, types
before = set(sys.modules)
names = [f"adapter.domain.{{m}}" for m in {modules!r}]
for name in names:
    importlib.import_module(name)
forbidden = {forbidden!r}
loaded = sorted(n for n in set(sys.modules) - before if n.split(".")[0] in forbidden)
# `time` is a built-in the interpreter loads at start-up, so also look at what the modules hold.
held = sorted(
    f"{{name}}.{{attr}}"
    for name in names
    for attr, value in vars(sys.modules[name]).items()
    if (isinstance(value, types.ModuleType) and value.__name__.split(".")[0] in forbidden)
    or (getattr(value, "__module__", None) or "").split(".")[0] in forbidden
)
print(json.dumps({{"loaded": loaded, "held": held, "imported": names}}))
"""


def test_importing_the_domain_loads_no_impure_module():
    modules = [p.stem for p in MODULES if p.stem != "__init__"]
    code = PROBE.format(modules=modules, forbidden=FORBIDDEN)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=DOMAIN.parent.parent
    )
    report = json.loads(result.stdout)
    assert len(report["imported"]) == len(modules) >= 6
    assert report["loaded"] == [], report["loaded"]
    assert report["held"] == [], report["held"]
