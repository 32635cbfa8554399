"""Which data item (consent scope) each connector permission grants. Pure, no Dagster."""

from __future__ import annotations

from data_contracts import Scope

# Wonde permission identities (meta/schools/{id}/permissions) for the data items we take.
WONDE_PERMISSION_SCOPES = {
    "students.read": Scope.CORE,
    "attendance.read": Scope.ATTENDANCE,
    "assessment.read": Scope.ASSESSMENTS,
    "groups.read": Scope.GROUPS,
    "students.extended.read": Scope.ADDITIONAL_DETAILS,
}


def granted_scopes(permissions: list[dict]) -> list[str]:
    """The scopes a school has approved, in a stable order; an unapproved permission grants nothing."""
    granted = {
        WONDE_PERMISSION_SCOPES[p["identity"]]
        for p in permissions
        if p.get("identity") in WONDE_PERMISSION_SCOPES and p.get("approved") and not p.get("declined")
    }
    return [scope.value for scope in Scope if scope in granted]


# XoD scopes (TokenDetails) for the data items we take; "School" covers the Groups endpoint.
XOD_SCOPE_ITEMS = {
    "Student": Scope.CORE,
    "StudentExtended": Scope.ADDITIONAL_DETAILS,
    "Attendance": Scope.ATTENDANCE,
    "AssessmentResults": Scope.ASSESSMENTS,
    "School": Scope.GROUPS,
}


def xod_granted_scopes(scopes: frozenset[str] | set[str]) -> list[str]:
    granted = {XOD_SCOPE_ITEMS[name] for name in scopes if name in XOD_SCOPE_ITEMS}
    return [scope.value for scope in Scope if scope in granted]
