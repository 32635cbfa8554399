"""Change sets in the warehouse: computed inside the school's write transaction, kept for the audit
trail (kinds, counts and field names; never values), pending for manual schools until applied.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, update

from data_contracts import PUPILS
from mis_pipeline.warehouse.changes import PupilChange, change_counts, pupil_changes
from mis_pipeline.warehouse.schema import change_sets, pupils
from mis_pipeline.warehouse.schema import pupil_changes as pupil_changes_table
from mis_pipeline.warehouse.sealing import open_direct
from mis_pipeline.warehouse.upsert import UpsertPlan
from mis_pipeline.warehouse.vault import Vault

_CHUNK = 500


def core_changes(
    conn: Connection,
    vault: Vault,
    plan: UpsertPlan,
    school_urn: str,
    full: bool,
    good: list[dict],
    deleted_keys: frozenset[str],
    restored_keys: frozenset[str],
) -> list[PupilChange]:
    """The pupil changes these core records make to what is held, read before they are written.
    Only pupils whose keyed digest moved are opened, to name the fields that changed."""
    held = _held(
        conn,
        school_urn,
        None if full else {r["pupil_key"] for r in good} | set(deleted_keys) | set(restored_keys),
    )
    held_deleted = {key for key, row in held.items() if row.deleted_at is not None}
    moved = [
        r
        for r in good
        if r["pupil_key"] not in held
        or r["pupil_key"] in held_deleted
        or held[r["pupil_key"]].row_hash != plan.row_hash(r, vault.pseudonyms)
    ]
    before: dict[str, dict] = {key: {} for key in held}
    before.update(_opened(conn, vault, [r["pupil_key"] for r in moved if r["pupil_key"] in held]))
    arrived = {r["pupil_key"] for r in good}
    deleted = set(deleted_keys) | ((set(held) - arrived - set(restored_keys)) if full else set())
    return pupil_changes(before, held_deleted, moved, deleted, set(restored_keys))


def _held(conn: Connection, school_urn: str, keys: set[str] | None) -> dict:
    """Key, digest and deletion mark of the school's held pupils: all of them for a full read
    (absence is a deletion), else only those the delta names, so a delta costs what it carries."""
    columns = (pupils.c.pupil_key, pupils.c.row_hash, pupils.c.deleted_at)
    ours = pupils.c.school_urn == school_urn
    if keys is None:
        return {row.pupil_key: row for row in conn.execute(select(*columns).where(ours))}
    ordered = sorted(keys)
    return {
        row.pupil_key: row
        for start in range(0, len(ordered), _CHUNK)
        for row in conn.execute(
            select(*columns).where(ours, pupils.c.pupil_key.in_(ordered[start : start + _CHUNK]))
        )
    }


def _opened(conn: Connection, vault: Vault, keys: list[str]) -> dict[str, dict]:
    opened: dict[str, dict] = {}
    data_keys = vault.existing_keys(conn, keys)
    for start in range(0, len(keys), _CHUNK):
        for row in conn.execute(
            select(pupils).where(pupils.c.pupil_key.in_(keys[start : start + _CHUNK]))
        ).mappings():
            plain = {c.name: row[c.name] for c in PUPILS.columns if c.name in row}
            opened[row["pupil_key"]] = {
                **plain,
                **open_direct(PUPILS, row["sealed"], data_keys[row["pupil_key"]], row["pupil_key"]),
            }
    return opened


def change_set_counts(changes: list[PupilChange], items: dict[str, dict[str, int]]) -> dict:
    """What a change set reports: pupils per kind of change, and rows per other item."""
    return {
        "pupils": change_counts(changes),
        "items": {dataset: counts for dataset, counts in sorted(items.items()) if any(counts.values())},
    }


def is_empty(counts: dict) -> bool:
    return not any(counts["pupils"].values()) and not counts["items"]


def supersede_pending(conn: Connection, school_urn: str) -> None:
    """Mark the school's pending change set superseded. Safe because a manual school's cursors do
    not move until a change set is applied, so every change a pending set held is read again by
    the newer sync."""
    conn.execute(
        update(change_sets)
        .where(change_sets.c.school_urn == school_urn, change_sets.c.status == "pending")
        .values(status="superseded")
    )


def record_change_set(
    conn: Connection,
    school_urn: str,
    run_id: str | None,
    now: datetime,
    status: str,
    changes: list[PupilChange],
    counts: dict,
) -> int:
    """Store a change set; it supersedes the school's pending one, which it contains."""
    supersede_pending(conn, school_urn)
    change_set_id = conn.execute(
        insert(change_sets).values(
            school_urn=school_urn,
            run_id=run_id,
            created_at=now,
            status=status,
            applied_at=now if status == "applied" else None,
            counts=json.dumps(counts, sort_keys=True),
        )
    ).inserted_primary_key[0]
    if changes:
        conn.execute(
            insert(pupil_changes_table),
            [
                dict(
                    change_set_id=change_set_id,
                    pupil_key=_held_key(c, status),
                    kind=c.kind,
                    fields=json.dumps(list(c.fields)),
                )
                for c in changes
            ],
        )
    return change_set_id


def _held_key(change: PupilChange, status: str) -> str | None:
    """A pending set's new pupils are not held (their rows were rolled back): their entries keep
    the kind and fields but no key, so no row links to a pupil we do not hold (retention's rule)."""
    return None if status == "pending" and change.kind == "new" else change.pupil_key


def pending_change_sets(engine: Engine) -> dict[str, dict]:
    """Each manual school's pending change set: {urn: {"id", "created_at", "counts"}}."""
    with engine.connect() as conn:
        rows = conn.execute(select(change_sets).where(change_sets.c.status == "pending")).mappings().all()
    return {
        row["school_urn"]: {
            "id": row["id"],
            "created_at": row["created_at"],
            "counts": json.loads(row["counts"]),
        }
        for row in rows
    }


def read_change_sets(engine: Engine, school_urn: str) -> list[dict]:
    """A school's change sets, oldest first, each with its pupil changes (kinds and field names)."""
    with engine.connect() as conn:
        sets = (
            conn.execute(
                select(change_sets).where(change_sets.c.school_urn == school_urn).order_by(change_sets.c.id)
            )
            .mappings()
            .all()
        )
        items = (
            conn.execute(
                select(pupil_changes_table).where(
                    pupil_changes_table.c.change_set_id.in_([s["id"] for s in sets])
                )
            )
            .mappings()
            .all()
            if sets
            else []
        )
    by_set: dict[int, list] = {}
    for item in items:
        by_set.setdefault(item["change_set_id"], []).append(
            {"pupil_key": item["pupil_key"], "kind": item["kind"], "fields": json.loads(item["fields"])}
        )
    return [
        {
            **dict(s),
            "counts": json.loads(s["counts"]),
            "changes": sorted(by_set.get(s["id"], []), key=lambda c: (c["kind"], c["pupil_key"] or "")),
        }
        for s in sets
    ]
