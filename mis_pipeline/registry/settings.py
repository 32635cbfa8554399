"""A school's own settings, changed on its behalf and audited in the same transaction.

Settings: the items it withholds, automatic or manual synchronisation, pause ("stop taking data"),
acceptance of the data sharing agreement (also acceptance of its retention periods) and the end of
its subscription. Discovery never overwrites any of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Connection, Engine, select, update

from mis_pipeline.lib.dates import london_today
from mis_pipeline.registry.partners import SHARING_KINDS
from mis_pipeline.registry.scopes import withheld_after
from mis_pipeline.warehouse.audit_log import record_audit
from mis_pipeline.warehouse.schema import schools

SYNC_MODES = ("automatic", "manual")
_UNSET = object()


class SettingsError(Exception):
    """A setting that cannot be applied; the message says why, in one line."""


@dataclass(frozen=True)
class SettingsChange:
    """What to change; fields left as they are default to "no change"."""

    withhold: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    sync_mode: str | None = None
    paused: bool | None = None
    agreement_accepted_on: date | None = None
    agreement_version: str | None = None
    agreement_withdrawn_on: date | None = (
        None  # the school withdrew: collection stops, the retention clock starts
    )
    subscription_end: object = _UNSET  # a date, None to clear it, or unset
    final_year_group: int | None = None
    share_off: list[str] = field(default_factory=list)  # partner kinds to stop sharing with
    share_on: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return (
            not self.withhold
            and not self.allow
            and self.sync_mode is None
            and self.paused is None
            and self.agreement_accepted_on is None
            and self.agreement_version is None
            and self.agreement_withdrawn_on is None
            and self.subscription_end is _UNSET
            and self.final_year_group is None
            and not self.share_off
            and not self.share_on
        )


def _validate(change: SettingsChange, today: date) -> None:
    try:
        withheld_after((), change.withhold, change.allow)
    except ValueError as error:
        raise SettingsError(str(error)) from None
    if change.sync_mode is not None and change.sync_mode not in SYNC_MODES:
        raise SettingsError(f"unknown sync mode {change.sync_mode!r}: automatic or manual")
    if change.agreement_accepted_on is not None and change.agreement_accepted_on > today:
        raise SettingsError(
            f"the agreement cannot be accepted on a future date ({change.agreement_accepted_on})"
        )
    for kind in (*change.share_off, *change.share_on):
        if kind not in SHARING_KINDS:
            raise SettingsError(
                f"unknown partner kind {kind!r}: {', '.join(SHARING_KINDS)} (nobody else can receive data)"
            )
    if set(change.share_off) & set(change.share_on):
        raise SettingsError("a partner kind cannot be switched both off and on in one change")
    if change.final_year_group is not None and not 1 <= change.final_year_group <= 14:
        raise SettingsError(f"a final year group is an NC year from 1 to 14 (got {change.final_year_group})")
    if change.agreement_withdrawn_on is not None and change.agreement_withdrawn_on > today:
        raise SettingsError(
            f"the agreement cannot be withdrawn on a future date ({change.agreement_withdrawn_on})"
        )
    if change.agreement_withdrawn_on is not None and change.agreement_accepted_on is not None:
        raise SettingsError("--agreement-withdrawn and --agreement-accepted cannot go together")
    if change.agreement_version is not None and change.agreement_accepted_on is None:
        raise SettingsError("--agreement-version goes with --agreement-accepted DATE")


def _new_values(row, change: SettingsChange) -> dict:
    values = {
        "withheld_items": json.dumps(
            list(withheld_after(tuple(json.loads(row.withheld_items)), change.withhold, change.allow))
        )
    }
    if change.sync_mode is not None:
        values["sync_mode"] = change.sync_mode
    if change.paused is not None:
        values["paused"] = change.paused
    if change.agreement_accepted_on is not None:
        values["agreement_accepted_on"] = change.agreement_accepted_on
        values["agreement_version"] = change.agreement_version
        values["agreement_withdrawn_on"] = None  # accepted again: the withdrawal's clock stops
    if change.agreement_withdrawn_on is not None:  # no longer accepted: never contacted again
        values.update(
            agreement_accepted_on=None,
            agreement_version=None,
            agreement_withdrawn_on=change.agreement_withdrawn_on,
        )
    if change.subscription_end is not _UNSET:
        values["subscription_end"] = change.subscription_end
    if change.final_year_group is not None:
        values["final_year_group"] = change.final_year_group
    if change.share_off or change.share_on:
        off = (set(json.loads(row.sharing_off)) | set(change.share_off)) - set(change.share_on)
        values["sharing_off"] = json.dumps([kind for kind in SHARING_KINDS if kind in off])
    return values


def _audit_value(name: str, value):
    if name in ("withheld_items", "sharing_off"):
        return json.loads(value)
    return value.isoformat() if isinstance(value, date) else value


def apply_settings(
    engine: Engine, urns: list[str], change: SettingsChange, actor: str, today: date | None = None
) -> dict[str, dict]:
    """Apply one change to each school (all or none); returns, per school, what moved
    ({setting: {"before", "after"}}), which is also what its audit entry records."""
    _validate(change, today or london_today())
    moved: dict[str, dict] = {}
    with engine.begin() as conn:
        for urn in urns:
            moved[urn] = _apply_one(conn, urn, change, actor)
    return moved


def _apply_one(conn: Connection, urn: str, change: SettingsChange, actor: str) -> dict:
    row = conn.execute(select(schools).where(schools.c.urn == urn)).first()
    if row is None:
        raise SettingsError(f"school {urn} is not in the registry (run `mis-pipeline schools discover`)")
    values = _new_values(row, change)
    moved = {
        name: {"before": _audit_value(name, getattr(row, name)), "after": _audit_value(name, value)}
        for name, value in values.items()
        if getattr(row, name) != value
    }
    if moved:
        conn.execute(
            update(schools).where(schools.c.urn == urn).values(**values, updated_at=datetime.now(UTC))
        )
        record_audit(conn, "settings_changed", moved, actor=actor, school_urn=urn)
    return moved


def set_withheld(
    engine: Engine, urn: str, withhold: list[str], allow: list[str], actor: str
) -> tuple[str, ...]:
    """Withhold (or allow again) data items for one school; returns the items now withheld.

    Takes effect at the school's next sync: rows of a newly withheld item are removed then (with
    their own audit entry), and an item allowed again is read in full.
    """
    apply_settings(engine, [urn], SettingsChange(withhold=withhold, allow=allow), actor)
    with engine.connect() as conn:
        return tuple(
            json.loads(
                conn.execute(select(schools.c.withheld_items).where(schools.c.urn == urn)).scalar_one()
            )
        )
