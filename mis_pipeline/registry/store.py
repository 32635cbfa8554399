"""The school registry in the warehouse: connector schools, their grants and their own settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Engine, case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mis_pipeline.lib.dates import london_today
from mis_pipeline.registry.eligibility import sync_blocker
from mis_pipeline.registry.gias_store import gias_lookups
from mis_pipeline.registry.partners import SchoolLinks
from mis_pipeline.registry.scopes import effective_scope
from mis_pipeline.warehouse.engine import is_postgres
from mis_pipeline.warehouse.schema import schools


@dataclass(frozen=True)
class SchoolEntry:
    urn: str
    connector: str
    connector_school_id: str
    name: str
    la_code: str | None
    establishment_number: str | None
    phase: str | None
    granted_items: tuple[str, ...]
    unrecognised_permissions: tuple[str, ...] = ()  # approved at the connector, mapped to no item


@dataclass(frozen=True)
class RegisteredSchool:
    urn: str
    connector: str
    connector_school_id: str
    name: str
    approval_state: str
    granted_items: tuple[str, ...]
    sync_mode: str
    paused: bool
    withheld_items: tuple[str, ...] = ()
    agreement_accepted_on: date | None = None
    agreement_version: str | None = None
    subscription_end: date | None = None
    sharing_off: tuple[str, ...] = ()  # partner kinds (la, trust, diocese) the school switched off
    la_code: str | None = None  # as the connector reports it; GIAS's, when imported, takes precedence
    unrecognised_permissions: tuple[str, ...] = ()  # granted at the connector but not understood

    @property
    def scope(self) -> tuple[str, ...]:
        """The items we may collect: granted at the connector, less those the school withholds."""
        return effective_scope(self.granted_items, self.withheld_items)

    def blocker(self, today: date | None = None) -> str | None:
        """Why the school may not be contacted today, or None when it may."""
        return sync_blocker(
            self.approval_state,
            self.paused,
            self.agreement_accepted_on,
            self.subscription_end,
            today or london_today(),
        )

    def syncs_automatically(self, today: date | None = None) -> bool:
        return self.sync_mode == "automatic" and self.blocker(today) is None


def register_approved(engine: Engine, entries: list[SchoolEntry], connector: str) -> list[str]:
    """Upsert the connector's approved schools; mark the connector's others as no longer listed.

    Returns the URNs no longer listed (access revoked or withdrawn), so the caller can report them.
    The school's own settings (sync mode, pause, withheld items) are never overwritten by discovery.
    """
    now = datetime.now(UTC)
    dialect_insert = pg_insert if is_postgres(engine) else sqlite_insert
    with engine.begin() as conn:
        for entry in entries:
            values = dict(
                urn=entry.urn,
                connector=entry.connector,
                connector_school_id=entry.connector_school_id,
                name=entry.name,
                la_code=entry.la_code,
                establishment_number=entry.establishment_number,
                phase=entry.phase,
                approval_state="approved",
                granted_items=json.dumps(list(entry.granted_items)),
                access_ended_on=None,  # granted again: the retention clock of its access stops
                unrecognised_permissions=json.dumps(list(entry.unrecognised_permissions)),
                first_seen_at=now,
                updated_at=now,
            )
            statement = dialect_insert(schools).values(**values)
            refreshed = {k: statement.excluded[k] for k in values if k not in ("urn", "first_seen_at")}
            # A paused school is not asked for its grants (it receives no request at all): keep
            # what it last granted.
            for kept in ("granted_items", "unrecognised_permissions"):
                refreshed[kept] = case((schools.c.paused, schools.c[kept]), else_=statement.excluded[kept])
            conn.execute(statement.on_conflict_do_update(index_elements=["urn"], set_=refreshed))
        listed = {entry.urn for entry in entries}
        previously = set(
            conn.execute(
                select(schools.c.urn).where(
                    schools.c.connector == connector, schools.c.approval_state == "approved"
                )
            ).scalars()
        )
        gone = sorted(previously - listed)
        if gone:
            conn.execute(
                update(schools)
                .where(schools.c.urn.in_(gone))
                .values(approval_state="not_listed", access_ended_on=london_today(now), updated_at=now)
            )
    return gone


def list_schools(engine: Engine) -> list[RegisteredSchool]:
    with engine.connect() as conn:
        rows = conn.execute(select(schools).order_by(schools.c.urn)).mappings().all()
    return [
        RegisteredSchool(
            urn=row["urn"],
            connector=row["connector"],
            connector_school_id=row["connector_school_id"],
            name=row["name"],
            approval_state=row["approval_state"],
            granted_items=tuple(json.loads(row["granted_items"])),
            sync_mode=row["sync_mode"],
            paused=bool(row["paused"]),
            withheld_items=tuple(json.loads(row["withheld_items"])),
            agreement_accepted_on=row["agreement_accepted_on"],
            agreement_version=row["agreement_version"],
            subscription_end=row["subscription_end"],
            sharing_off=tuple(json.loads(row["sharing_off"])),
            la_code=row["la_code"],
            unrecognised_permissions=tuple(json.loads(row["unrecognised_permissions"])),
        )
        for row in rows
    ]


def school_links(engine: Engine) -> list[SchoolLinks]:
    """Every registered school with its GIAS links (LA from GIAS, else the connector's) and choices."""
    by_urn, _ = gias_lookups(engine)
    links = []
    for school in list_schools(engine):
        gias = by_urn.get(school.urn) or {}
        links.append(
            SchoolLinks(
                urn=school.urn,
                la_code=gias.get("la_code") or school.la_code,
                trust_uid=gias.get("trust_uid"),
                diocese_code=gias.get("diocese_code"),
                sharing_off=frozenset(school.sharing_off),
                scope=school.scope,
            )
        )
    return links
