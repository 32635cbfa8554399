"""Unique Pupil Number (UPN) check letters, per the DfE UPN guide (domain.md §1.2).

A UPN is 13 characters: a check letter then 12 characters. Permanent UPNs end in a digit,
temporary ones in a letter. The check letter is the weighted sum of characters 2..13
(weights 2..13, a trailing letter valued by its place in the alphabet below) mod 23.
"""

from __future__ import annotations

import operator
import re

CHECK_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"  # 23 letters: I, O and S are never used
_UPN_SHAPE = re.compile(r"^[A-HJ-NP-RT-Z](\d{12}|\d{11}[A-HJ-NP-RT-Z])$")


_CHAR_VALUES = {**{str(d): d for d in range(10)}, **{c: i for i, c in enumerate(CHECK_ALPHABET)}}
_WEIGHTS = range(2, 14)


def check_letter(body: str) -> str:
    """The check letter for the 12 characters that follow it."""
    if len(body) != 12:
        raise ValueError("a UPN body has 12 characters")
    total = sum(map(operator.mul, _WEIGHTS, map(_CHAR_VALUES.__getitem__, body)))
    return CHECK_ALPHABET[total % 23]


def is_valid_upn(upn: str | None) -> bool:
    """True when the UPN has the right shape and its check letter matches."""
    if type(upn) is not str or len(upn) != 13 or not _UPN_SHAPE.match(upn):
        return False
    return check_letter(upn[1:]) == upn[0]


def is_temporary_upn(upn: str) -> bool:
    return bool(upn) and upn[-1].isalpha()


def make_upn(la_code: str, establishment_number: str, year_of_issue: int, serial: int) -> str:
    """A permanent UPN: LA (3) + establishment (4) + 2-digit year + 3-digit serial."""
    body = f"{int(la_code):03d}{int(establishment_number):04d}{year_of_issue % 100:02d}{serial % 1000:03d}"
    return check_letter(body) + body


def make_temporary_upn(la_code: str, establishment_number: str, year_of_issue: int, serial: int) -> str:
    """A temporary UPN: as permanent, but a 2-digit serial and a final letter."""
    letter = CHECK_ALPHABET[serial % 23]
    body = f"{int(la_code):03d}{int(establishment_number):04d}{year_of_issue % 100:02d}{(serial // 23) % 100:02d}{letter}"
    return check_letter(body) + body
