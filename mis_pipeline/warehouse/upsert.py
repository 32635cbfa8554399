"""Set-based upsert of contract records: stage (COPY on PostgreSQL), count, then one statement.

Rows whose content is unchanged are not rewritten (compared by a digest of their values), so a
sync that re-receives what is held writes nothing.
"""

from __future__ import annotations

import hashlib
import operator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Table, and_, bindparam, delete, select, text

from data_contracts import Contract

from .bulk import drop_stage, stage_rows

BOOKKEEPING = ("row_hash", "first_synced_at", "last_changed_at", "last_run_id")
_TIMESTAMP = "source_updated_at"  # a record touched without a real change is unchanged


@dataclass(frozen=True)
class UpsertPlan:
    """How one contract's records map onto its table; built once per contract."""

    table: Table
    record_columns: tuple[str, ...]
    key: tuple[str, ...]
    values: operator.itemgetter
    hashed: operator.itemgetter

    @classmethod
    def for_contract(cls, contract: Contract, table: Table) -> "UpsertPlan":
        columns = contract.column_names
        return cls(table, columns, contract.key, operator.itemgetter(*columns),
                   operator.itemgetter(*(c for c in columns if c != _TIMESTAMP)))

    @property
    def stored_columns(self) -> tuple[str, ...]:
        return (*self.record_columns, *BOOKKEEPING)

    def row_hash(self, record: dict) -> str:
        return hashlib.blake2b(repr(self.hashed(record)).encode(), digest_size=16).hexdigest()


def upsert_records(conn: Connection, plan: UpsertPlan, records: list[dict], run_id: str | None,
                   now: datetime) -> tuple[int, int]:
    """Insert new records and rewrite changed ones; returns (inserted, updated)."""
    if not records:
        return 0, 0
    rows = ((*plan.values(record), plan.row_hash(record), now, now, run_id) for record in records)
    stage = stage_rows(conn, plan.table, plan.stored_columns, rows)
    name = plan.table.name
    join = " AND ".join(f"t.{k} = s.{k}" for k in plan.key)
    inserted = conn.execute(text(
        f"SELECT count(*) FROM {stage} s WHERE NOT EXISTS (SELECT 1 FROM {name} t WHERE {join})")).scalar_one()
    updated = conn.execute(text(
        f"SELECT count(*) FROM {stage} s JOIN {name} t ON {join} WHERE t.row_hash <> s.row_hash")).scalar_one()
    columns = ", ".join(plan.stored_columns)
    rewritten = [c for c in plan.stored_columns if c not in plan.key and c != "first_synced_at"]
    assignments = ", ".join(f"{c} = excluded.{c}" for c in rewritten)
    conn.execute(text(
        f"INSERT INTO {name} ({columns}) SELECT {columns} FROM {stage} WHERE true "
        f"ON CONFLICT ({', '.join(plan.key)}) DO UPDATE SET {assignments} "
        f"WHERE {name}.row_hash <> excluded.row_hash"))
    drop_stage(conn, stage)
    return inserted, updated


def delete_absent(conn: Connection, plan: UpsertPlan, school_urn: str, records: list[dict]) -> int:
    """After a full read: delete the school's rows that the read no longer contains."""
    table = plan.table
    key_columns = [table.c[k] for k in plan.key]
    present = {tuple(record[k] for k in plan.key) for record in records}
    # Read through the table's column types, so dates and times compare as the records hold them.
    held = conn.execute(select(*key_columns).where(table.c.school_urn == school_urn)).all()
    gone = [tuple(row) for row in held if tuple(row) not in present]
    if gone:
        condition = and_(table.c.school_urn == bindparam("_urn"),
                         *(column == bindparam(f"_{column.name}") for column in key_columns))
        conn.execute(delete(table).where(condition),
                     [{"_urn": school_urn, **{f"_{k}": v for k, v in zip(plan.key, row)}} for row in gone])
    return len(gone)
