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


# The same items by permission name (`name`, lower-cased, spaces collapsed). The identity format
# is an inference (connectors.md §1.8), so a permission whose identity we do not know is matched
# by its name before it is reported as not understood. INFERENCE: names beyond "Students".
WONDE_PERMISSION_NAMES = {
    "students": Scope.CORE,
    "attendance": Scope.ATTENDANCE,
    "session attendance": Scope.ATTENDANCE,
    "assessment": Scope.ASSESSMENTS,
    "assessments": Scope.ASSESSMENTS,
    "assessment results": Scope.ASSESSMENTS,
    "groups": Scope.GROUPS,
    "students extended": Scope.ADDITIONAL_DETAILS,
    "extended student details": Scope.ADDITIONAL_DETAILS,
    "student extended details": Scope.ADDITIONAL_DETAILS,
}


def _approved(permission: dict) -> bool:
    return bool(permission.get("approved")) and not permission.get("declined")


def permission_scope(permission: dict) -> Scope | None:
    """The data item a Wonde permission grants: by its identity, else by its name; None if neither."""
    by_identity = WONDE_PERMISSION_SCOPES.get(permission.get("identity"))
    if by_identity is not None:
        return by_identity
    name = " ".join(str(permission.get("name") or "").lower().split())
    return WONDE_PERMISSION_NAMES.get(name)


def granted_scopes(permissions: list[dict]) -> list[str]:
    """The scopes a school has approved, in a stable order; an unapproved permission grants nothing."""
    granted = {permission_scope(p) for p in permissions if isinstance(p, dict) and _approved(p)}
    return [scope.value for scope in Scope if scope in granted]


def unrecognised_permissions(permissions: list[dict]) -> list[str]:
    """Approved permissions we cannot map to a data item, by identity (else name), sorted: granted
    but not understood, so an operator sees them rather than the product silently ignoring them."""
    return sorted(
        {
            str(p.get("identity") or p.get("name") or "(unnamed)")
            for p in permissions
            if isinstance(p, dict) and _approved(p) and permission_scope(p) is None
        }
    )


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


# The core record is what every other item hangs on; a school that wants nothing collected pauses.
WITHHOLDABLE = tuple(scope.value for scope in Scope if scope is not Scope.CORE)


def effective_scope(
    granted: tuple[str, ...] | list[str], withheld: tuple[str, ...] | list[str]
) -> tuple[str, ...]:
    """What may be collected: the items granted at the connector, less those the school withholds."""
    return tuple(item for item in granted if item not in set(withheld))


def withheld_after(current: tuple[str, ...], withhold: list[str], allow: list[str]) -> tuple[str, ...]:
    """The school's withheld items after a settings change, in the agreement's order.

    Raises ValueError (with the allowed names) for the core record or an unknown item, and for an
    item both withheld and allowed in one change.
    """
    for item in (*withhold, *allow):
        if item == Scope.CORE.value:
            raise ValueError("the core record cannot be withheld: pause the school to stop all collection")
        if item not in WITHHOLDABLE:
            raise ValueError(f"unknown data item {item!r}: one of {', '.join(WITHHOLDABLE)}")
    both = set(withhold) & set(allow)
    if both:
        raise ValueError(f"{', '.join(sorted(both))} both withheld and allowed")
    after = (set(current) | set(withhold)) - set(allow)
    return tuple(item for item in WITHHOLDABLE if item in after)
