"""The identifiers messages carry, checked before anything trusts them: HPR-nummer, HER-id, and
Norwegian person numbers (kodeverk 8116 `FNR`, `DNR`). The one home of their patterns."""

from __future__ import annotations

import re

#: Helsepersonellregisteret's number, as the contract accepts it.
HPR_PATTERN = re.compile(r"[0-9]{6,9}")
#: Adresseregisteret's HER-id.
HER_ID_PATTERN = re.compile(r"[0-9]{1,9}")
_ELEVEN_DIGITS = re.compile(r"[0-9]{11}")
_FIRST_CHECK_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_SECOND_CHECK_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
#: A D-nummer is a fødselsnummer whose first digit is raised by 4.
_FIRST_DIGITS = {"FNR": "0123", "DNR": "4567"}


def is_her_id(value: int) -> bool:
    """True when the integer `value` is a HER-id: 1 to 9 digits, as `HER_ID_PATTERN` reads one in XML.

    JSON integers have no size limit; one wider than a HER-id names no office and would not fit the
    store's integer column."""
    return value > 0 and HER_ID_PATTERN.fullmatch(str(value)) is not None


def is_valid_person_number(value: str, kind: str) -> bool:
    """True when `value` is a `kind` ("FNR" or "DNR") whose two mod-11 check digits are right.

    The date part is not checked beyond the D-nummer offset, so the synthetic test numbers that
    NHN's test environments use (month raised by 40 or 80) still pass.
    """
    if not _ELEVEN_DIGITS.fullmatch(value) or value[0] not in _FIRST_DIGITS[kind]:
        return False
    digits = [int(digit) for digit in value]
    return (
        _check_digit(digits[:9], _FIRST_CHECK_WEIGHTS) == digits[9]
        and _check_digit(digits[:10], _SECOND_CHECK_WEIGHTS) == digits[10]
    )


def _check_digit(digits: list[int], weights: tuple[int, ...]) -> int:
    """Mod-11 check digit; 10 matches no digit, which makes the number invalid."""
    remainder = sum(digit * weight for digit, weight in zip(digits, weights, strict=True)) % 11
    return (11 - remainder) % 11
