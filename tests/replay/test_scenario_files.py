"""A step's file is checked when the scenario loads (contract: "Replay"): each folder is listed once
(issue 14), and what counts as a file is what `Path.is_file` says: a file, or a link to one; not a
folder, a dangling link, or a file added to a folder after the load that listed it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

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
