"""Scenario files (contract: "Replay"): loading with precise errors, and checking `expect`s.

A scenario that cannot be run is a `ScenarioError` naming the file, the step and the reason
(exit status 2). A failed expectation is an `ExpectFailure` with a field-by-field diff.

Beyond the contract's expects (one pair's latest `availability.changed`), an entry with
`practitioners` and no `practitioner_hpr` expects the office's booking list: the latest
`office.practitioners.changed` effective at or before `at` (the empty list before any), its
`practitioners` given as the lines' labels (`["Astrid Info fastlege"]`) or as objects compared
field by field.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from ..domain.events import AvailabilityChanged, BookablePractitioner, PractitionersChanged, ServicesView

#: libyaml's safe loader where PyYAML was built with it: the same documents, ten times faster (a
#: national set's scenario has some 13,000 steps)
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SAFE_LOADER):  # type: ignore[misc]  # a class chosen at import
    """The safe loader, with each step's instant read by `datetime.fromisoformat` when written as
    scenarios write it (`2024-06-01T07:00:00+02:00`, or with microseconds): PyYAML's reading of a timestamp, in Python
    with regular expressions, was a fifth of loading a national set (issue 14). The same value
    either way, a fixed offset as PyYAML gives it; any other form is read by PyYAML."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        value = node.value
        if value[10:11] == "T" and (
            (len(value) == 25 and value[19] in "+-" and value[22] == ":")  # to the second
            or (len(value) == 32 and value[19] == "." and value[26] in "+-" and value[29] == ":")  # to the µs
        ):
            try:
                return dt.datetime.fromisoformat(value)
            except ValueError:
                pass
        return super().construct_yaml_timestamp(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)
_LOADER: type[yaml.SafeLoader] = _Loader


class ScenarioError(Exception):
    """The scenario itself is invalid: which file, which step, why."""

    def __init__(self, path: Path, reason: str, step: int | None = None, where: str = "step"):
        self.path, self.reason, self.step = path, reason, step
        place = f", {where} {step}" if step is not None else ""
        super().__init__(f"{path}{place}: {reason}")


@dataclass(frozen=True)
class Step:
    index: int  # 1-based, as a tester counts them
    at: dt.datetime
    xml: Path | None = None
    absence: bytes | None = None
    headers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Expect:
    index: int
    at: dt.datetime
    office_her_id: int
    #: None for an expect of the office's booking list (`office.practitioners.changed`)
    practitioner_hpr: str | None
    fields: dict[str, Any]

    @property
    def event_type(self) -> str:
        return "availability.changed" if self.practitioner_hpr is not None else "office.practitioners.changed"


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    start: dt.datetime
    steps: list[Step]
    expects: list[Expect]


def _instant(value: Any, path: Path, what: str, index: int | None, where: str = "step") -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ScenarioError(path, f"{what} {value!r} is not an ISO 8601 instant", index, where) from None
    if not isinstance(value, dt.datetime):
        raise ScenarioError(path, f"{what} must be an ISO 8601 instant with offset", index, where)
    if value.tzinfo is None:
        raise ScenarioError(path, f"{what} {value.isoformat()} has no UTC offset", index, where)
    return value


def load_scenario(path: Path) -> Scenario:
    path = Path(path)
    _files_in.cache_clear()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(path, f"cannot read the file ({error.strerror})") from None
    quick = _quick(text)
    raw = _yaml(quick[0] if quick is not None else text, path, quietly=quick is not None)
    if quick is not None and not (isinstance(raw, dict) and "steps" in raw and raw["steps"] is None):
        quick = None  # `steps:` was not what it looked like: the whole document as YAML reads it
    if quick is None:
        raw = _yaml(text, path)
    if not isinstance(raw, dict):
        raise ScenarioError(path, "a scenario is a mapping with name, start, steps and expect")
    unknown = set(raw) - {"name", "start", "steps", "expect"}
    if unknown:
        raise ScenarioError(path, f"unknown keys {sorted(unknown)}")
    if not isinstance(raw.get("name"), str) or not raw["name"].strip():
        raise ScenarioError(path, "`name` is required")
    start = _instant(raw.get("start"), path, "`start`", None)
    steps_raw = raw.get("steps") if quick is None else quick[1]
    if not isinstance(steps_raw, list) or not steps_raw:
        raise ScenarioError(path, "`steps` must be a non-empty list")
    steps: list[Step] = []
    previous = start
    read = _step if quick is None else _quick_step
    for index, entry in enumerate(steps_raw, start=1):
        steps.append(step := read(entry, index, path, previous))
        previous = step.at
    expects_raw = raw.get("expect") or []
    if not isinstance(expects_raw, list):
        raise ScenarioError(path, "`expect` must be a list")
    expects = [_expect(entry, index, path) for index, entry in enumerate(expects_raw, start=1)]
    return Scenario(path, raw["name"], start, steps, expects)


def _yaml(text: str, path: Path, *, quietly: bool = False) -> Any:
    """The document; None for one that is not valid YAML when read `quietly` (the caller reads the
    whole document again, which says why)."""
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as error:
        if quietly:
            return None
        raise ScenarioError(path, f"not valid YAML ({error})") from None


#: the one line `steps:` at the start of a line (a top-level key)
_STEPS = re.compile(r"^steps[ \t]*:", re.MULTILINE)
#: a step as `generate` writes it: its instant (to the second or µs, with its offset), then the
#: path of its message's file, if any, in characters no YAML tag is inferred from (a `/` in it:
#: neither a number, a date, a boolean nor null)
_QUICK_STEP = re.compile(
    r"  - at: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?[+-]\d\d:\d\d)\n"
    r"(?:    (xml|absence): ([A-Za-z0-9_.][A-Za-z0-9_./-]*)\n)?"
)

QuickStep = tuple[dt.datetime, str | None, str | None]


def _quick(text: str) -> tuple[str, list[QuickStep]] | None:
    """A scenario whose steps are written as `generate` writes them (each `  - at: INSTANT` and at
    most one `    xml: PATH` or `    absence: PATH`, nothing else): the document with its steps
    left out (`steps: null`, for YAML to read) and the steps (instant, key, path), read without
    YAML; None for any other scenario (YAML reads it all). The same values YAML gives: a national
    set's 12,788 steps were 0.45-0.9 s of YAML, before its deciding processes could start (issue 14)."""
    if len(_STEPS.findall(text)) != 1 or (start := text.find("\nsteps:\n")) < 0:
        return None
    position = start + len("\nsteps:\n")
    entries: list[QuickStep] = []
    try:
        while (match := _QUICK_STEP.match(text, position)) is not None:
            at, key, value = match.groups()
            if value is not None and "/" not in value:
                return None
            entries.append((dt.datetime.fromisoformat(at), key, value))
            position = match.end()
    except ValueError:  # not an instant after all (a 13th month): YAML's to read
        return None
    rest = text[position:]
    if not entries or (rest and not (rest[0].isascii() and rest[0].isalpha())):
        return None  # the steps go on in another form, or something else follows them
    return f"{text[:start]}\nsteps: null\n{rest}", entries


def _in_order(at: dt.datetime, previous: dt.datetime, path: Path, index: int) -> None:
    """Steps come in time order (the same instant twice is allowed)."""
    if at < previous:
        raise ScenarioError(path, f"`at` {at.isoformat()} is before the previous step's {previous.isoformat()}", index)


def _quick_step(entry: QuickStep, index: int, path: Path, previous: dt.datetime) -> Step:
    """`_step` of a step `_quick` read."""
    at, key, value = entry
    _in_order(at, previous, path, index)
    if key == "xml":
        return Step(index, at, _file(value, path, index, "xml"))
    if key == "absence":
        return Step(index, at, None, _file(value, path, index, "absence").read_bytes())
    return Step(index, at)


def _step(entry: Any, index: int, path: Path, previous: dt.datetime) -> Step:
    if not isinstance(entry, dict):
        raise ScenarioError(path, "a step is a mapping with `at`", index)
    unknown = set(entry) - {"at", "xml", "absence", "headers"}
    if unknown:
        raise ScenarioError(path, f"unknown keys {sorted(unknown)}", index)
    at = _instant(entry.get("at"), path, "`at`", index)
    _in_order(at, previous, path, index)
    if "xml" in entry and "absence" in entry:
        raise ScenarioError(path, "a step has at most one of `xml` and `absence`", index)
    headers = entry.get("headers") or {}
    if not isinstance(headers, dict):
        raise ScenarioError(path, "`headers` must be a mapping", index)
    if headers and "xml" not in entry:
        raise ScenarioError(path, "`headers` go with an `xml` step", index)
    xml = absence = None
    if "xml" in entry:
        xml = _file(entry["xml"], path, index, "xml")
    elif "absence" in entry:
        value = entry["absence"]
        if isinstance(value, dict):
            absence = json.dumps(value, default=str, ensure_ascii=False).encode()
        else:
            absence = _file(value, path, index, "absence").read_bytes()
    return Step(index, at, xml, absence, {str(k): v for k, v in headers.items()})


@functools.cache
def _folder(path: Path) -> str:
    """The scenario's folder, resolved once (not once per step: a national set has 13,000)."""
    return str(path.parent.resolve())


def _file(value: Any, path: Path, index: int, key: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ScenarioError(path, f"`{key}` must be a path relative to the scenario file", index)
    target = os.path.normpath(os.path.join(_folder(path), value))  # as `Path / value`, without a Path
    folder, name = os.path.split(target)
    if name not in _files_in(folder):
        raise ScenarioError(path, f"`{key}` file {value!r} does not exist", index)
    return Path(target)


@functools.lru_cache(maxsize=64)
def _files_in(folder: str) -> frozenset[str]:
    """The names of the files in `folder` (a symbolic link counts as what it leads to), listed once
    per load: a national set's 13,000 steps name files in two folders, and a `stat` of each was a
    tenth of the loading (issue 14). Cleared by `load_scenario`, so a file added since is seen."""
    try:
        with os.scandir(folder) as entries:
            return frozenset(entry.name for entry in entries if entry.is_file())
    except OSError:  # not a folder, or not readable: no file there can be read either
        return frozenset()


def _expect(entry: Any, index: int, path: Path) -> Expect:
    if not isinstance(entry, dict):
        raise ScenarioError(path, "an expect entry is a mapping", index, "expect")
    at = _instant(entry.get("at"), path, "`at`", index, "expect")
    booking = "practitioner_hpr" not in entry and "practitioners" in entry
    try:
        office = int(entry["office_her_id"])
        hpr = None if booking else str(entry["practitioner_hpr"])
    except (KeyError, TypeError, ValueError):
        raise ScenarioError(
            path, "`office_her_id` and `practitioner_hpr` (or `practitioners`) are required", index, "expect"
        ) from None
    fields = {k: v for k, v in entry.items() if k not in ("at", "office_her_id", "practitioner_hpr")}
    problem = _against_booking(fields) if booking else _against_model(AvailabilityChanged, fields, "")
    if problem is not None:
        raise ScenarioError(path, problem, index, "expect")
    return Expect(index, at, office, hpr, fields)


def _against_booking(fields: Mapping[str, Any]) -> str | None:
    """An expect of the booking list: `practitioners` as labels (strings), or as the event's objects."""
    lines = fields["practitioners"]
    if not isinstance(lines, list):
        return "`practitioners` must be a list of labels or objects"
    if all(isinstance(line, str) for line in lines):
        return _against_model(PractitionersChanged, {k: v for k, v in fields.items() if k != "practitioners"}, "")
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, Mapping):
            return f"`practitioners` {number}: all labels or all objects, not both kinds"
        if (problem := _against_model(BookablePractitioner, line, f"practitioners.{number}")) is not None:
            return problem
    return _against_model(PractitionersChanged, {k: v for k, v in fields.items() if k != "practitioners"}, "")


def _against_model(model: type[BaseModel], fields: Mapping[Any, Any], where: str) -> str | None:
    """Why `fields` cannot be part of a `model` as published (an unknown field or service, a value
    the event can never have), or None. An expect naming what cannot exist would otherwise just
    fail, as if the adapter were wrong."""
    known = {(info.alias or name): info for name, info in model.model_fields.items()}
    for key, value in fields.items():
        place = f"{where}.{key}" if where else str(key)
        info = known.get(str(key))
        if info is None:
            what = "service" if model is ServicesView else "field"
            return f"unknown {what} `{place}` (expected one of: {', '.join(known)})"
        annotation: Any = info.annotation
        nested = _model_in(annotation)
        if nested is not None and isinstance(value, Mapping):
            if (problem := _against_model(nested, value, place)) is not None:
                return problem
            continue
        try:
            TypeAdapter(annotation).validate_python(value)
        except ValidationError as error:
            reason = error.errors()[0]["msg"]
            return f"`{place}`: {_show(_normal(value))} is not a value an event can have ({reason})"
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model in `Model` or `Model | None`."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


# ---------------------------------------------------------------------------------------------
# Checking expectations
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    field: str
    expected: Any
    actual: Any


@dataclass(frozen=True)
class ExpectFailure:
    expect: Expect
    event: dict[str, Any] | None
    step: int | None
    mismatches: list[Mismatch]

    def describe(self) -> str:
        e = self.expect
        whose = f"practitioner {e.practitioner_hpr}" if e.practitioner_hpr is not None else "booking list"
        head = f"expect {e.index} (at {e.at.isoformat()}, office {e.office_her_id}, {whose}) failed"
        if self.event is None:
            return f"{head}: no availability.changed event for that pair at or before that instant"
        lines = [
            f"{head}: compared with event {self.event['event_id']} "
            f"(effective {self.event['effective_at']}, published at step {self.step})"
        ]
        width = max(len(m.field) for m in self.mismatches)
        for m in self.mismatches:
            lines.append(f"  {m.field:<{width}}  expected {_show(m.expected):<22} actual {_show(m.actual)}")
        return "\n".join(lines)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value


def _normal(value: Any) -> Any:
    """YAML's dates and instants as the events print them."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _compare(expected: Any, actual: Any, where: str, out: list[Mismatch]) -> None:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            out.append(Mismatch(where, expected, actual))
            return
        for key, value in expected.items():
            _compare(value, actual.get(str(key), _MISSING), f"{where}.{key}" if where else str(key), out)
        return
    if isinstance(expected, list) and any(isinstance(item, dict) for item in expected):
        if not isinstance(actual, list) or len(actual) != len(expected):
            out.append(Mismatch(where, expected, actual))
            return
        for number, (item, other) in enumerate(zip(expected, actual, strict=True), start=1):
            _compare(item, other, f"{where}.{number}", out)
        return
    expected = _normal(expected)
    if actual is _MISSING:
        out.append(Mismatch(where, expected, "(absent)"))
    elif isinstance(expected, str) and isinstance(actual, str) and "T" in expected and "T" in actual:
        try:
            same = dt.datetime.fromisoformat(expected) == dt.datetime.fromisoformat(actual)
        except ValueError:
            same = expected == actual
        if not same:
            out.append(Mismatch(where, expected, actual))
    elif expected != actual:
        out.append(Mismatch(where, expected, actual))


_MISSING = object()


def check(expects: list[Expect], events: list[tuple[int, dict[str, Any]]]) -> list[ExpectFailure]:
    """Each expect against the latest availability.changed of its pair (or, for the booking list,
    office.practitioners.changed of its office) effective at or before its `at`; `events` are
    (step index, event) in publishing order."""
    failures: list[ExpectFailure] = []
    for expect in expects:
        match: tuple[int, dict[str, Any]] | None = None
        for step, event in events:
            if (
                event.get("type") == expect.event_type
                and event["office_her_id"] == expect.office_her_id
                and event.get("practitioner_hpr") == expect.practitioner_hpr
                and dt.datetime.fromisoformat(event["effective_at"]) <= expect.at
            ):
                match = (step, event)
        if match is None and expect.practitioner_hpr is None:  # before any list: the empty baseline
            match = (0, {"event_id": "(none yet)", "effective_at": "", "sequence": 0, "practitioners": []})
        if match is None:
            failures.append(ExpectFailure(expect, None, None, []))
            continue
        mismatches: list[Mismatch] = []
        actual = match[1]
        if expect.practitioner_hpr is None and all(isinstance(p, str) for p in expect.fields["practitioners"]):
            actual = {**actual, "practitioners": [p["label"] for p in actual["practitioners"]]}
        _compare(expect.fields, actual, "", mismatches)
        if mismatches:
            failures.append(ExpectFailure(expect, match[1], match[0], mismatches))
    return failures
