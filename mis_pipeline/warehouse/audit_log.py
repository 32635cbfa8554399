"""Write audit entries inside the transaction of the action they record, so neither exists alone.

An entry holds counts, data item names, setting values and key fingerprints: nothing that names a
pupil or links back to one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, or_, select

from data_contracts import AUDIT_LOG, split_valid
from mis_pipeline.warehouse.schema import audit_log


def record_audit(
    conn: Connection,
    action: str,
    detail: dict,
    *,
    actor: str,
    school_urn: str | None = None,
    run_id: str | None = None,
) -> None:
    """Add an entry in the caller's transaction; an entry that breaks the audit contract is a bug
    and raises, which rolls the action back with it."""
    entry = dict(
        id=0,
        occurred_at=datetime.now(UTC),
        school_urn=school_urn,
        action=action,
        detail=json.dumps(detail, sort_keys=True, default=str),
        actor=actor,
        run_id=run_id,
    )
    _, rejected = split_valid(AUDIT_LOG, [entry])
    if rejected:
        raise ValueError(f"audit entry breaks its contract: {rejected[0].rule}")
    del entry["id"]
    conn.execute(insert(audit_log).values(**entry))


def read_audit(engine: Engine, school_urn: str | None = None, action: str | None = None) -> list[dict]:
    """Entries in the order they happened. For one school: its own entries, the warehouse-wide ones
    that concern every school (key rotations, the 5-year purge), and every share that contained it
    (a share entry names its schools in its detail, as one share covers many)."""
    query = select(audit_log).order_by(audit_log.c.id)
    if school_urn is not None:
        query = query.where(or_(audit_log.c.school_urn == school_urn, audit_log.c.school_urn.is_(None)))
    if action is not None:
        query = query.where(audit_log.c.action == action)
    with engine.connect() as conn:
        entries = [{**row, "detail": json.loads(row["detail"])} for row in conn.execute(query).mappings()]
    if school_urn is None:
        return entries
    return [e for e in entries if e["school_urn"] == school_urn or _concerns(e, school_urn)]


def _concerns(entry: dict, school_urn: str) -> bool:
    """A warehouse-wide entry concerns a school unless it is a share the school was not in."""
    if entry["action"] == SHARE_ACTION:
        return school_urn in entry["detail"].get("schools", [])
    return True


SHARE_ACTION = "share_made"
