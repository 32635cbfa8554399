"""The registry as operators read it: each school with its connector, settings and GIAS links."""

from __future__ import annotations

from sqlalchemy import Engine

from mis_pipeline.registry.gias_store import gias_lookups
from mis_pipeline.registry.store import RegisteredSchool, list_schools


def school_fields(school: RegisteredSchool) -> dict:
    """What every per-school report starts with: who the school is and its own choices."""
    return {
        "urn": school.urn,
        "name": school.name,
        "connector": school.connector,
        "approval": school.approval_state,
        "sync_mode": school.sync_mode,
        "paused": school.paused,
        "granted": list(school.granted_items),
        "withheld": list(school.withheld_items),
        "scope": list(school.scope),  # what is collected: granted, less withheld
        "agreement_accepted_on": _iso_date(school.agreement_accepted_on),
        "agreement_version": school.agreement_version,
        "subscription_end": _iso_date(school.subscription_end),
        "blocked_by": school.blocker(),  # why it is not contacted now; None when it may be
        "sharing_off": list(school.sharing_off),  # partner kinds the school does not share with
        # approved at the connector, but mapped to no data item: granted but not understood
        "unrecognised_permissions": list(school.unrecognised_permissions),
    }


def _iso_date(value) -> str | None:
    return value.isoformat() if value else None


def state_label(entry: dict) -> str:
    """A short word for tables: why a school is not synced, or that it is."""
    if entry["blocked_by"] is None:
        return "active"
    if entry["approval"] != "approved":
        return "revoked"
    if entry["paused"]:
        return "paused"
    if entry["agreement_accepted_on"] is None:
        return "no-agreement"
    return "ended"


def school_listing(engine: Engine) -> list[dict]:
    by_urn, _ = gias_lookups(engine)
    entries = []
    for school in list_schools(engine):
        gias = by_urn.get(school.urn)
        entries.append(
            {
                **school_fields(school),
                # A school with no GIAS row has no known trust or diocese: reported, never guessed.
                "gias": None
                if gias is None
                else {
                    "la_code": gias["la_code"],
                    "establishment_number": gias["establishment_number"],
                    "phase": gias["phase_name"],
                    "statutory_low_age": gias["statutory_low_age"],
                    "statutory_high_age": gias["statutory_high_age"],
                    "trust_uid": gias["trust_uid"],
                    "diocese_code": gias["diocese_code"],
                },
            }
        )
    return entries


def render_schools(entries: list[dict]) -> str:
    header = f"{'URN':<8} {'school':<34} {'conn':<6} {'LA':<4} {'phase':<14} {'trust':<7} {'diocese':<8} granted (-withheld)"
    lines = [header, "-" * len(header)]
    for e in entries:
        g = e["gias"]
        if g is None:
            links = f"{'?':<4} {'NO GIAS ROW':<14} {'':<7} {'':<8}"
        else:
            links = f"{g['la_code']:<4} {(g['phase'] or '')[:14]:<14} {g['trust_uid'] or '-':<7} {g['diocese_code'] or '-':<8}"
        items = ",".join(item if item not in e["withheld"] else f"-{item}" for item in e["granted"])
        lines.append(f"{e['urn']:<8} {e['name'][:34]:<34} {e['connector']:<6} {links} {items}")
    if not entries:
        lines.append("(no schools registered yet: run `mis-pipeline schools discover`)")
    lines.extend(
        f"{e['urn']}: granted but not understood: {', '.join(e['unrecognised_permissions'])}"
        for e in entries
        if e.get("unrecognised_permissions")
    )
    return "\n".join(lines)
