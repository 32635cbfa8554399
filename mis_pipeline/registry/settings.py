"""A school's own settings, changed on its behalf and audited in the same transaction."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import Engine, select, update

from mis_pipeline.audit.log import record_audit
from mis_pipeline.warehouse.schema import schools

from .scopes import withheld_after


class SettingsError(Exception):
    """A setting that cannot be applied; the message says why, in one line."""


def set_withheld(engine: Engine, urn: str, withhold: list[str], allow: list[str], actor: str) -> tuple[str, ...]:
    """Withhold (or allow again) data items for one school; returns the items now withheld.

    Takes effect at the school's next sync: rows of a newly withheld item are removed then (with
    their own audit entry), and an item allowed again is read in full.
    """
    try:
        withheld_after((), withhold, allow)  # names checked before the registry is touched
    except ValueError as error:
        raise SettingsError(str(error)) from None
    with engine.begin() as conn:
        row = conn.execute(select(schools.c.withheld_items).where(schools.c.urn == urn)).first()
        if row is None:
            raise SettingsError(f"school {urn} is not in the registry")
        before = tuple(json.loads(row.withheld_items))
        after = withheld_after(before, withhold, allow)
        if after != before:
            conn.execute(update(schools).where(schools.c.urn == urn)
                         .values(withheld_items=json.dumps(list(after)), updated_at=datetime.now(timezone.utc)))
            record_audit(conn, "settings_changed", {"withheld_items": {"before": list(before), "after": list(after)}},
                         actor=actor, school_urn=urn)
    return after
