"""Read the DfE's GIAS establishment extract (edubasealldata*.csv). Pure: no Dagster, no database.

The file is Windows-1252 encoded with the column names below (domain.md §3.1). Identifiers are
read as strings; "0000" in `Diocese (code)` and a blank `Trusts (code)` mean "none".
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

ENCODING = "cp1252"
REQUIRED = (
    "URN",
    "LA (code)",
    "EstablishmentNumber",
    "EstablishmentName",
    "PhaseOfEducation (code)",
    "StatutoryLowAge",
    "StatutoryHighAge",
    "Trusts (code)",
    "Diocese (code)",
)
NO_DIOCESE = {"", "0000"}


class GiasFormatError(ValueError):
    """The file is not a GIAS establishment extract we can read."""


@dataclass(frozen=True)
class GiasRead:
    rows: list[dict]
    skipped: int  # rows without a usable URN or LA code


def read_gias(path: Path) -> GiasRead:
    try:
        with open(path, newline="", encoding=ENCODING) as handle:
            reader = csv.DictReader(handle)
            missing = [column for column in REQUIRED if column not in (reader.fieldnames or [])]
            if missing:
                raise GiasFormatError(
                    f"{path.name} is not a GIAS extract: missing columns {', '.join(missing)}"
                )
            rows, skipped = [], 0
            for raw in reader:
                row = establishment(raw)
                if row is None:
                    skipped += 1
                else:
                    rows.append(row)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise GiasFormatError(f"cannot read {path.name}: {type(error).__name__}") from None
    return GiasRead(rows, skipped)


def establishment(raw: dict) -> dict | None:
    urn, la_code = _text(raw.get("URN")), _text(raw.get("LA (code)"))
    if not urn or not urn.isdigit() or not la_code:
        return None
    diocese = _text(raw.get("Diocese (code)"))
    return {
        "urn": urn,
        "la_code": la_code,
        "la_name": _text(raw.get("LA (name)")),
        "establishment_number": _text(raw.get("EstablishmentNumber")),
        "name": _text(raw.get("EstablishmentName")) or "",
        "status": _text(raw.get("EstablishmentStatus (name)")),
        "phase_code": _text(raw.get("PhaseOfEducation (code)")),
        "phase_name": _text(raw.get("PhaseOfEducation (name)")),
        "statutory_low_age": _age(raw.get("StatutoryLowAge")),
        "statutory_high_age": _age(raw.get("StatutoryHighAge")),
        "trust_uid": _text(raw.get("Trusts (code)")),
        "trust_name": _text(raw.get("Trusts (name)")),
        "diocese_code": None if (diocese or "") in NO_DIOCESE else diocese,
        "diocese_name": None if (diocese or "") in NO_DIOCESE else _text(raw.get("Diocese (name)")),
    }


def _text(value) -> str | None:
    value = (value or "").strip()
    return value or None


def _age(value) -> int | None:
    value = _text(value)
    return int(value) if value and value.isdigit() else None
