"""Turn connector school objects into registry entries. Pure: no Dagster, no HTTP."""

from __future__ import annotations

from mis_pipeline.registry.scopes import granted_scopes, unrecognised_permissions, xod_granted_scopes
from mis_pipeline.registry.store import SchoolEntry


def wonde_school_entry(school: dict, permissions: list[dict]) -> SchoolEntry | None:
    """A registry entry for a Wonde school, or None when it carries no URN to key it by."""
    identifiers = (school.get("region") or {}).get("identifiers") or {}
    urn = school.get("urn") or identifiers.get("urn")
    if urn in (None, ""):
        return None
    return SchoolEntry(
        urn=str(urn),
        connector="wonde",
        connector_school_id=str(school["id"]),
        name=str(school.get("name") or ""),
        la_code=_text(school.get("la_code") or identifiers.get("la_code")),
        establishment_number=_text(
            school.get("establishment_number") or identifiers.get("establishment_number")
        ),
        phase=_text(school.get("phase_of_education")),
        granted_items=tuple(granted_scopes(permissions)),
        unrecognised_permissions=tuple(unrecognised_permissions(permissions)),
    )


def _text(value) -> str | None:
    return None if value in (None, "") else str(value)


def xod_school_entry(estab: str, scopes: frozenset[str], gias_by_la_estab: dict) -> SchoolEntry | None:
    """A registry entry for a school that authorised us on XoD, keyed by the URN of its GIAS row
    (matched on LA code + establishment number, the two halves of the estab); None without one."""
    la_code, establishment_number = estab[:3], estab[3:]
    row = gias_by_la_estab.get((la_code, establishment_number))
    if row is None:
        return None
    return SchoolEntry(
        urn=row["urn"],
        connector="xod",
        connector_school_id=estab,
        name=row["name"],
        la_code=la_code,
        establishment_number=establishment_number,
        phase=row["phase_name"],
        granted_items=tuple(xod_granted_scopes(scopes)),
    )
