"""Turn connector school objects into registry entries. Pure: no Dagster, no HTTP."""

from __future__ import annotations

from .scopes import granted_scopes
from .store import SchoolEntry


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
        establishment_number=_text(school.get("establishment_number") or identifiers.get("establishment_number")),
        phase=_text(school.get("phase_of_education")),
        granted_items=tuple(granted_scopes(permissions)),
    )


def _text(value) -> str | None:
    return None if value in (None, "") else str(value)
