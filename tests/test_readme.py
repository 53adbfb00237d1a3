"""README.md stays true to the code: its example runs, and it documents every setting."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from adapter.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_the_plain_values_example_runs_and_prints_what_the_readme_says() -> None:
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    printed = out.getvalue().splitlines()
    promised = [c.split("# ", 1)[1].split(" (")[0] for c in code.splitlines() if c.startswith("print(")]
    assert printed and all(line.startswith(p) for line, p in zip(printed, promised, strict=False)), (printed, promised)


def test_every_setting_is_documented() -> None:
    for name in Settings.model_fields:
        assert f"`DDFL_{name.upper()}`" in README, f"DDFL_{name.upper()} is missing from README.md"


def test_the_test_command_is_the_one_ci_runs() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "python -m pytest -q" in README and "-m pytest -q" in ci
