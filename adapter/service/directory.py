"""The directory the adapter may be started with (R13): practitioners per office, used for an
office until its first behandleroversikt arrives.

Format (YAML or JSON)::

    8141333:
      - {hpr: "9144900", given_name: Astrid, family_name: Info, role: "6"}
      - {hpr: "5522113", role: "15", covers: {gp_hpr: "9144900", from_date: 2024-07-01, to_date: 2024-07-31}}
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..domain.model import Practitioner


def load_directory(path: Path | None) -> dict[int, dict[str, Practitioner]]:
    if path is None:
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of office HER-id to practitioners")
    directory: dict[int, dict[str, Practitioner]] = {}
    for office, entries in raw.items():
        practitioners = [
            Practitioner.model_validate({**e, "hpr": str(e["hpr"]), "role": str(e["role"])}) for e in entries or []
        ]
        directory[int(office)] = {p.hpr: p for p in practitioners}
    return directory
