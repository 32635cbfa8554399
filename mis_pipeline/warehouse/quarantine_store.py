"""What the sync needs to know of a school's pupils and quarantine before it writes: which pupils
are held (and on roll), whose core record waits in quarantine, and the items held back with
them. Read-only; the write happens in `school_store.write_school`."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Engine, and_, or_, select

from data_contracts import CONTRACTS
from mis_pipeline.warehouse.schema import pupils, quarantine
from mis_pipeline.warehouse.sealing import open_payload, typed_record
from mis_pipeline.warehouse.vault import Vault


@dataclass(frozen=True)
class HeldPupils:
    on_roll: frozenset[str]  # pupil keys held and on roll
    off_roll: frozenset[str]  # held, but left (a leaving date) or deleted at the connector
    quarantined: frozenset[str]  # pupil keys whose core record is in quarantine


def held_pupils(engine: Engine, school_urn: str) -> HeldPupils:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                pupils.c.pupil_key, or_(pupils.c.leaving_date.is_not(None), pupils.c.deleted_at.is_not(None))
            ).where(pupils.c.school_urn == school_urn)
        ).all()
        waiting = (
            conn.execute(
                select(quarantine.c.key_ref).where(
                    quarantine.c.school_urn == school_urn, quarantine.c.dataset == "pupils"
                )
            )
            .scalars()
            .all()
        )
    return HeldPupils(
        frozenset(k for k, off in rows if not off), frozenset(k for k, off in rows if off), frozenset(waiting)
    )


def held_back_items(
    engine: Engine, vault: Vault, school_urn: str, rule: str, pupil_keys: Collection[str]
) -> dict[str, list[dict]]:
    """The items quarantined under `rule` for these pupils, opened and typed, by dataset."""
    found: dict[str, list[dict]] = {}
    wanted = sorted(pupil_keys)
    with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = conn.execute(
                select(quarantine.c.dataset, quarantine.c.key_ref, quarantine.c.sealed_payload).where(
                    and_(
                        quarantine.c.school_urn == school_urn,
                        quarantine.c.rule == rule,
                        quarantine.c.key_ref.in_(chunk),
                    )
                )
            ).all()
            keys = vault.existing_keys(conn, {row.key_ref for row in rows})
            for dataset, key_ref, sealed in rows:
                if key_ref in keys and dataset in CONTRACTS:
                    record = open_payload(sealed, keys[key_ref], dataset, key_ref)
                    found.setdefault(dataset, []).append(typed_record(CONTRACTS[dataset], record))
    return found


def quarantined_connector_ids(engine: Engine, vault: Vault, school_urn: str) -> dict[str, str]:
    """Connector pupil id -> MIS id of the pupils whose core record waits in quarantine, so the
    items that refer to them (Wonde names pupils by its own id) can be held back with them."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(quarantine.c.key_ref, quarantine.c.sealed_payload).where(
                quarantine.c.school_urn == school_urn, quarantine.c.dataset == "pupils"
            )
        ).all()
        keys = vault.existing_keys(conn, {row.key_ref for row in rows})
    ids = {}
    for key_ref, sealed in rows:
        if key_ref in keys:
            record = open_payload(sealed, keys[key_ref], "pupils", key_ref)
            if record.get("connector_pupil_id") and record.get("mis_id"):
                ids[record["connector_pupil_id"]] = record["mis_id"]
    return ids
