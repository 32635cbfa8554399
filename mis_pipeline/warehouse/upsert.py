"""Set-based upsert of contract records: stage (COPY on PostgreSQL), count, then one statement.

Rows whose content is unchanged are not rewritten (compared by a keyed digest of their values, so
the digest reveals nothing), so a sync that re-receives what is held writes nothing. Tables with
direct identifiers first drop the records whose digest is unchanged, then seal only the rest: the
cost of encryption follows the changes, not the size of the school.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Table, and_, bindparam, delete, select, text

from data_contracts import Contract, PiiClass
from mis_pipeline.lib.crypto import Pseudonymiser
from mis_pipeline.warehouse.bulk import drop_stage, stage_rows

BOOKKEEPING = ("row_hash", "first_synced_at", "last_changed_at", "last_run_id")
_TIMESTAMP = "source_updated_at"  # a record touched without a real change is unchanged


@dataclass(frozen=True)
class UpsertPlan:
    """How one contract's records map onto its table; built once per contract."""

    table: Table
    record_columns: tuple[str, ...]  # what is stored as itself (plus `sealed` when there is one)
    key: tuple[str, ...]
    values: operator.itemgetter
    hashed: operator.itemgetter
    sealed: bool  # direct identifiers travel in one sealed column

    @classmethod
    def for_contract(cls, contract: Contract, table: Table) -> UpsertPlan:
        sealed = bool(contract.columns_with_pii(PiiClass.DIRECT))
        stored = tuple(c.name for c in contract.columns if c.pii is not PiiClass.DIRECT) + (
            ("sealed",) if sealed else ()
        )
        hashed = tuple(c for c in contract.column_names if c != _TIMESTAMP)
        return cls(
            table, stored, contract.key, operator.itemgetter(*stored), operator.itemgetter(*hashed), sealed
        )

    @property
    def stored_columns(self) -> tuple[str, ...]:
        return (*self.record_columns, *BOOKKEEPING)

    def row_hash(self, record: dict, pseudonyms: Pseudonymiser) -> str:
        return pseudonyms.digest(repr(self.hashed(record)).encode())


Sealer = Callable[[Connection, list[dict]], None]  # sets record["sealed"] on each record


def upsert_records(
    conn: Connection,
    plan: UpsertPlan,
    records: list[dict],
    run_id: str | None,
    now: datetime,
    pseudonyms: Pseudonymiser,
    sealer: Sealer | None = None,
) -> tuple[int, int]:
    """Insert new records and rewrite changed ones; returns (inserted, updated)."""
    hashes = [plan.row_hash(record, pseudonyms) for record in records]
    if plan.sealed:
        records, hashes = _changed_only(conn, plan, records, hashes)
        if sealer is None:
            raise ValueError(f"{plan.table.name} holds direct identifiers: a sealer is required")
        sealer(conn, records)
    if not records:
        return 0, 0
    rows = (
        (*plan.values(record), row_hash, now, now, run_id)
        for record, row_hash in zip(records, hashes, strict=True)
    )
    stage = stage_rows(conn, plan.table, plan.stored_columns, rows)
    name = plan.table.name
    join = " AND ".join(f"t.{k} = s.{k}" for k in plan.key)
    inserted = conn.execute(
        text(f"SELECT count(*) FROM {stage} s WHERE NOT EXISTS (SELECT 1 FROM {name} t WHERE {join})")
    ).scalar_one()
    updated = conn.execute(
        text(f"SELECT count(*) FROM {stage} s JOIN {name} t ON {join} WHERE t.row_hash <> s.row_hash")
    ).scalar_one()
    columns = ", ".join(plan.stored_columns)
    rewritten = [c for c in plan.stored_columns if c not in plan.key and c != "first_synced_at"]
    assignments = ", ".join(f"{c} = excluded.{c}" for c in rewritten)
    conn.execute(
        text(
            f"INSERT INTO {name} ({columns}) SELECT {columns} FROM {stage} WHERE true "
            f"ON CONFLICT ({', '.join(plan.key)}) DO UPDATE SET {assignments} "
            f"WHERE {name}.row_hash <> excluded.row_hash"
        )
    )
    drop_stage(conn, stage)
    return inserted, updated


def _changed_only(
    conn: Connection, plan: UpsertPlan, records: list[dict], hashes: list[str]
) -> tuple[list[dict], list[str]]:
    """The records whose digest differs from the held row's (or that have none)."""
    [key] = plan.key  # sealed tables are keyed by the pupil key alone
    column = plan.table.c[key]
    held: dict[str, str] = {}
    keys = [record[key] for record in records]
    for start in range(0, len(keys), 500):
        held.update(
            conn.execute(
                select(column, plan.table.c.row_hash).where(column.in_(keys[start : start + 500]))
            ).all()
        )
    kept = [
        (record, row_hash)
        for record, row_hash in zip(records, hashes, strict=True)
        if held.get(record[key]) != row_hash
    ]
    return [r for r, _ in kept], [h for _, h in kept]


def delete_absent(conn: Connection, plan: UpsertPlan, school_urn: str, records: list[dict]) -> int:
    """After a full read: delete the school's rows that the read no longer contains."""
    table = plan.table
    key_columns = [table.c[k] for k in plan.key]
    present = {tuple(record[k] for k in plan.key) for record in records}
    # Read through the table's column types, so dates and times compare as the records hold them.
    held = conn.execute(select(*key_columns).where(table.c.school_urn == school_urn)).all()
    gone = [tuple(row) for row in held if tuple(row) not in present]
    if gone:
        condition = and_(
            table.c.school_urn == bindparam("_urn"),
            *(column == bindparam(f"_{column.name}") for column in key_columns),
        )
        conn.execute(
            delete(table).where(condition),
            [
                {"_urn": school_urn, **{f"_{k}": v for k, v in zip(plan.key, row, strict=True)}}
                for row in gone
            ],
        )
    return len(gone)
