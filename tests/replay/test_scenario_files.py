"""A step's file is checked when the scenario loads (contract: "Replay"): each folder is listed once
(issue 14), and what counts as a file is what `Path.is_file` says: a file, or a link to one; not a
folder, a dangling link, or a file added to a folder after the load that listed it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapter.replay import scenario
from adapter.replay.scenario import ScenarioError, load_scenario

ABSENCE = '{"type": "absence.registered"}'


def _scenario(folder: Path, *names: str) -> Path:
    steps = "".join(f"  - at: 2024-06-01T0{n}:00:00+02:00\n    absence: {name}\n" for n, name in enumerate(names, 1))
    path = folder / "scenario.yaml"
    path.write_text(f"name: files\nstart: 2024-06-01T00:00:00+02:00\nsteps:\n{steps}")
    return path


def test_files_links_to_files_and_files_in_subfolders_are_found(tmp_path: Path) -> None:
    (tmp_path / "absences").mkdir()
    (tmp_path / "absences" / "a.json").write_text(ABSENCE)
    (tmp_path / "b.json").write_text(ABSENCE)
    (tmp_path / "link.json").symlink_to(tmp_path / "b.json")
    steps = load_scenario(_scenario(tmp_path, "absences/a.json", "b.json", "link.json", "./absences/../b.json")).steps
    assert [step.absence for step in steps] == [ABSENCE.encode()] * 4


@pytest.mark.parametrize("name", ["absences", "dangling.json", "missing.json", "nowhere/a.json", "absences/b.json"])
def test_a_folder_a_dangling_link_or_a_missing_file_is_refused_with_its_step(tmp_path: Path, name: str) -> None:
    (tmp_path / "absences").mkdir()
    (tmp_path / "absences" / "a.json").write_text(ABSENCE)
    (tmp_path / "dangling.json").symlink_to(tmp_path / "gone.json")
    with pytest.raises(ScenarioError, match=f"step 2: `absence` file '{name}' does not exist"):
        load_scenario(_scenario(tmp_path, "absences/a.json", name))


def test_a_file_added_after_a_load_is_found_by_the_next_load(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, "late.json")
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario(scenario)
    (tmp_path / "late.json").write_text(ABSENCE)
    assert load_scenario(scenario).steps[0].absence == ABSENCE.encode()


@pytest.mark.parametrize(
    "text",
    [
        "2024-06-01T07:00:00+02:00",
        "2024-12-01T07:00:00-01:30",
        "2024-06-01T07:00:00.250+02:00",
        "2024-06-01T08:00:00.450000+02:00",
        "2024-06-01T08:00:00.000001-09:30",
        "2024-06-01T05:00:00Z",
        "2024-06-01 07:00:00 +2",
        "2024-06-01t07:00:00+02:00",
        "2024-06-01",
        "2024-13-01T07:00:00+02:00",
    ],
)
def test_instants_read_as_pyyaml_reads_them(text: str) -> None:
    """The scenario loader's quick reading of an instant gives what PyYAML gives (value, type and
    offset), and leaves every other form to PyYAML, errors included."""
    document = f"at: {text}\n"
    try:
        expected = yaml.load(document, Loader=yaml.SafeLoader)["at"]
    except ValueError as error:
        with pytest.raises(type(error)):
            yaml.load(document, Loader=scenario._LOADER)
        return
    actual = yaml.load(document, Loader=scenario._LOADER)["at"]
    assert (actual, type(actual)) == (expected, type(expected))
    if isinstance(expected, dt.datetime):
        assert (type(actual.tzinfo), actual.utcoffset()) == (type(expected.tzinfo), expected.utcoffset())


HEAD = "# a scenario\nname: quick\nstart: 2024-06-01T00:00:00+02:00\n"
STEPS = (
    "  - at: 2024-06-01T07:00:00+02:00\n    xml: messages/a.xml\n"
    "  - at: 2024-06-01T07:00:00.500000+02:00\n"
    "  - at: 2024-06-01T08:00:00+02:00\n    absence: absences/b.json\n"
)
EXPECT = "expect:\n  - at: 2024-06-02T00:00:00+02:00\n    office_her_id: 1\n    practitioner_hpr: '2'\n    panel_info_visible: false\n"
#: documents whose steps are read without YAML (`QUICK`), and others that YAML must read whole
DOCUMENTS = {
    "generated": f"{HEAD}steps:\n{STEPS}",
    "then expects": f"{HEAD}steps:\n{STEPS}{EXPECT}",
    "expects first": f"{HEAD}{EXPECT}steps:\n{STEPS}",
    "an inline absence": f"{HEAD}steps:\n{STEPS}  - at: 2024-06-01T09:00:00+02:00\n    absence: {{type: x}}\n",
    "headers": f"{HEAD}steps:\n{STEPS}  - at: 2024-06-01T09:00:00+02:00\n    xml: messages/a.xml\n    headers: {{a: 1}}\n",
    "a comment": f"{HEAD}steps:\n{STEPS}  # the end\n",
    "a trailing comment": f"{HEAD}steps:\n  - at: 2024-06-01T07:00:00+02:00 # now\n",
    "at column 0": f"{HEAD}steps:\n- at: 2024-06-01T07:00:00+02:00\n  xml: messages/a.xml\n",
    "steps twice": f"{HEAD}steps:\n{STEPS}steps:\n  - at: 2024-06-01T07:00:00+02:00\n",
    "a 13th month": f"{HEAD}steps:\n  - at: 2024-13-01T07:00:00+02:00\n",
    "back in time": f"{HEAD}steps:\n{STEPS}  - at: 2024-06-01T06:00:00+02:00\n",
    "before the start": f"{HEAD}steps:\n  - at: 2024-05-31T06:00:00+02:00\n",
    "a missing file": f"{HEAD}steps:\n  - at: 2024-06-01T07:00:00+02:00\n    xml: messages/gone.xml\n",
    "no folder": f"{HEAD}steps:\n  - at: 2024-06-01T07:00:00+02:00\n    xml: a.xml\n",
    "a path like a date": f"{HEAD}steps:\n  - at: 2024-06-01T07:00:00+02:00\n    xml: 2024/06.xml\n",
    "CRLF": f"{HEAD}steps:\n{STEPS}".replace("\n", "\r\n"),
    "tabs": f"{HEAD}steps:\n{STEPS}".replace("  - at:", "  - at:\t"),
    "no steps": f"{HEAD}steps:\nexpect: []\n",
    "a key after steps at the wrong place": f"{HEAD}steps:\n{STEPS}   name: x\n",
    "an unknown key": f"{HEAD}steps:\n{STEPS}extra: 1\n",
    "steps in a quoted name": 'name: "a\nsteps:\n  - at: 2024-06-01T07:00:00+02:00\n  "\nstart: 2024-06-01T00:00:00+02:00\n',
    "steps in a block": f"{HEAD}notes: |\n  steps:\nsteps:\n{STEPS}",
    "not YAML": f"{HEAD}steps:\n{STEPS}expect: [\n",
    "a second document": f"{HEAD}steps:\n{STEPS}---\nname: other\n",
    "a document end": f"{HEAD}steps:\n{STEPS}...\n",
}
QUICK = {
    "generated",
    "then expects",
    "expects first",
    "back in time",
    "before the start",
    "a missing file",
    "a path like a date",
    "an unknown key",
    "steps in a block",
    "not YAML",  # then read whole by YAML, for its error
    "CRLF",  # read as text, its lines end in "\n"
}


def _read(path: Path) -> Any:
    """Everything the loader gives (offsets too), or the error it raises."""
    try:
        loaded = load_scenario(path)
    except Exception as error:
        return type(error), str(error)
    steps = [(s.index, s.at, s.at.utcoffset(), s.xml, s.absence, s.headers) for s in loaded.steps]
    return loaded.name, loaded.start, loaded.start.utcoffset(), steps, loaded.expects


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_steps_read_without_yaml_are_what_yaml_reads(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: the steps of a scenario written as `generate` writes them are read without YAML
    (a national set's YAML was most of its loading); any other document is YAML's to read whole.
    Either way the loader gives the same scenario, or the same error."""
    (tmp_path / "messages").mkdir()
    (tmp_path / "absences").mkdir()
    (tmp_path / "2024").mkdir()
    for file in ("messages/a.xml", "a.xml", "2024/06.xml"):
        (tmp_path / file).write_text("<x/>")
    (tmp_path / "absences" / "b.json").write_text(ABSENCE)
    path = tmp_path / "scenario.yaml"
    path.write_text(DOCUMENTS[name], newline="")
    quick: list[bool] = []
    real = scenario._quick

    def spied(text: str) -> Any:
        quick.append(real(text) is not None)
        return real(text)

    monkeypatch.setattr(scenario, "_quick", spied)
    read = _read(path)
    monkeypatch.setattr(scenario, "_quick", lambda text: None)
    assert read == _read(path)
    assert quick == [name in QUICK]


def test_a_generated_set_is_read_without_yaml(tmp_path: Path) -> None:
    """The quick reading is taken for what `generate` writes (else it would save nothing)."""
    from adapter.replay.generate import generate

    from .test_replay_same_output import GENERATED

    path = generate(tmp_path, **{**GENERATED, "offices": 3, "days": 3})  # type: ignore[arg-type]
    quick = scenario._quick(path.read_text(encoding="utf-8"))
    assert quick is not None and len(quick[1]) == len(load_scenario(path).steps) > 10


@pytest.mark.parametrize("quick", [True, False], ids=["as generate writes it", "read by YAML"])
def test_a_step_before_the_one_ahead_of_it_is_refused_with_its_number(tmp_path: Path, quick: bool) -> None:
    """Steps come in time order, whichever reader reads them; the same instant twice is allowed."""
    (tmp_path / "a.json").write_text(ABSENCE)
    path = tmp_path / "scenario.yaml"
    flow = "" if quick else "    headers: {}\n"  # a key only YAML reads: the quick reader steps aside
    steps = [
        "  - at: 2024-06-01T09:00:00+02:00\n    absence: ./a.json\n",
        "  - at: 2024-06-01T09:00:00+02:00\n    absence: ./a.json\n",
        f"  - at: 2024-06-01T08:59:59+02:00\n{flow}",
    ]
    path.write_text(f"name: order\nstart: 2024-06-01T00:00:00+02:00\nsteps:\n{''.join(steps)}")
    assert (scenario._quick(path.read_text()) is not None) is quick
    with pytest.raises(ScenarioError, match=r"step 3: `at` 2024-06-01T08:59:59\+02:00 is before the previous step's"):
        load_scenario(path)
    path.write_text(f"name: order\nstart: 2024-06-01T00:00:00+02:00\nsteps:\n{''.join(steps[:2])}")
    assert [step.index for step in load_scenario(path).steps] == [1, 2]
