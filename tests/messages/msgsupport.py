"""Shared helpers for the message-layer tests: the contract's examples and the KITH files.

Both live in ../shared beside the project (never copied into it); a checkout without them skips
the tests that need them, saying why.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

PROJECT = Path(__file__).resolve().parents[2]
SHARED = PROJECT.parent / "shared"
EXAMPLES = SHARED / "contract" / "examples"
KITH = SHARED / "kith"
KITH_SCHEMAS = KITH / "schemas"
KITH_SAMPLES = KITH / "samples"
OSLO = ZoneInfo("Europe/Oslo")

#: After every example's GenDate, so that none is "in the future" (R1).
NOW = dt.datetime(2024, 1, 3, 12, 0, tzinfo=OSLO)
PATIENT_FNR = "13116900216"
PATIENT_NAMES = ("Line", "Danser")
XML_EXAMPLES = (
    "tjenestestatus-epj.xml",
    "tjenestestatus-ar-komplett.xml",
    "behandleroversikt.xml",
    "dialog-avsluttet.xml",
)


def example(name: str) -> bytes:
    """The bytes of one of the contract's examples; skips the test when the contract is absent."""
    path = EXAMPLES / name
    if not path.is_file():
        pytest.skip(f"the contract examples are not at {EXAMPLES} (../shared is not beside this checkout)")
    return path.read_bytes()


def variant(name: str, *replacements: tuple[str, str]) -> bytes:
    """An example with each (old, new) text replaced once; old must occur in it."""
    text = example(name).decode("utf-8")
    for old, new in replacements:
        assert old in text, f"{old!r} is not in {name}"
        text = text.replace(old, new, 1)
    return text.encode("utf-8")


def require_kith() -> None:
    """Skip unless the official KITH schemas and samples are beside the project."""
    if not KITH_SCHEMAS.is_dir():
        pytest.skip(f"the official KITH schemas are not at {KITH_SCHEMAS} (../shared/kith is absent)")


def sample(name: str) -> bytes:
    """The bytes of a public KITH sample (path below samples/); skips when KITH is absent."""
    require_kith()
    return (KITH_SAMPLES / name).read_bytes()
