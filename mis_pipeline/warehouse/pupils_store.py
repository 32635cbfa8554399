"""Write one school's core pupil records, quarantine, cursor and sync log in one transaction.

Because the cursor commits with the rows it covers, a crash at any point leaves either the old
state or the new one, and a rerun converges on the same result as an uninterrupted sync.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from data_contracts import PUPILS, Rejection

from .upsert import UpsertPlan, upsert_records
from .engine import is_postgres
from .schema import pupils, quarantine, sync_log, sync_state

PLAN = UpsertPlan.for_contract(PUPILS, pupils)


@dataclass(frozen=True)
class SchoolSync:
    """What one school's sync fetched and what it did with it (counts only)."""

    school_urn: str
    dataset: str
    mode: str  # full | incremental
    cursor: str | None
    started_at: datetime
    fetched: int
    good: list[dict]
    rejected: list[Rejection]


@dataclass(frozen=True)
class SyncCounts:
    fetched: int
    inserted: int
    updated: int
    unchanged: int
    quarantined: int


def row_hash(record: dict) -> str:
    """A digest of the record's values, so unchanged rows are recognised without column compares."""
    return PLAN.row_hash(record)


def is_empty_delta(sync: SchoolSync) -> bool:
    """An incremental sync that received nothing: only its cursor and log row need writing."""
    return sync.mode == "incremental" and sync.fetched == 0


def write_school_sync(engine: Engine, sync: SchoolSync, run_id: str | None) -> SyncCounts:
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        inserted, updated = _upsert_pupils(conn, sync.good, run_id, now)
        _replace_quarantine(conn, sync, run_id, now)
        _save_cursor(conn, sync, run_id, now)
        counts = SyncCounts(sync.fetched, inserted, updated, len(sync.good) - inserted - updated,
                            len(sync.rejected))
        _log_sync(conn, sync, counts, run_id, now)
    return counts


def advance_empty_deltas(engine: Engine, syncs: list[SchoolSync], run_id: str | None) -> None:
    """Save the cursors of many schools whose delta was empty, in one transaction.

    Safe to batch: such a sync has no rows to keep consistent with its cursor, and a crash before
    this commits only means the next delta starts from the older cursor.
    """
    if not syncs:
        return
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        for sync in syncs:
            _save_cursor(conn, sync, run_id, now)
        conn.execute(insert(sync_log), [_log_row(sync, SyncCounts(0, 0, 0, 0, 0), run_id, now) for sync in syncs])


def _log_row(sync: SchoolSync, counts: SyncCounts, run_id: str | None, now: datetime) -> dict:
    return dict(run_id=run_id, school_urn=sync.school_urn, dataset=sync.dataset, mode=sync.mode,
                started_at=sync.started_at, finished_at=now, **vars(counts))


def _log_sync(conn: Connection, sync: SchoolSync, counts: SyncCounts, run_id: str | None, now: datetime) -> None:
    conn.execute(insert(sync_log).values(**_log_row(sync, counts, run_id, now)))


def _upsert_pupils(conn: Connection, records: list[dict], run_id: str | None, now: datetime) -> tuple[int, int]:
    return upsert_records(conn, PLAN, records, run_id, now)


def _replace_quarantine(conn: Connection, sync: SchoolSync, run_id: str | None, now: datetime) -> None:
    """A full sync replaces the school's quarantine; an incremental one replaces what it re-fetched.

    Either way a record that now arrives good leaves quarantine.
    """
    scope = and_(quarantine.c.school_urn == sync.school_urn, quarantine.c.dataset == sync.dataset)
    if sync.mode == "full":
        conn.execute(delete(quarantine).where(scope))
    else:
        refs = [r["connector_pupil_id"] for r in sync.good] + [r.record.get("connector_pupil_id") for r in sync.rejected]
        for chunk in _chunks(refs, 500):
            conn.execute(delete(quarantine).where(scope, quarantine.c.record_ref.in_(chunk)))
    if sync.rejected:
        conn.execute(insert(quarantine), [
            dict(school_urn=sync.school_urn, dataset=sync.dataset, record_ref=_record_ref(r.record, i),
                 rule=r.rule, payload=json.dumps(r.record, default=str, ensure_ascii=False),
                 run_id=run_id, quarantined_at=now)
            for i, r in enumerate(_last_per_ref(sync.rejected))
        ])


def _record_ref(record: dict, index: int) -> str:
    return str(record.get("connector_pupil_id") or f"unidentified-{index}")[:64]


def _last_per_ref(rejected: list[Rejection]) -> list[Rejection]:
    by_ref: dict[str, Rejection] = {}
    for index, rejection in enumerate(rejected):
        by_ref[_record_ref(rejection.record, index)] = rejection
    return list(by_ref.values())


def _save_cursor(conn: Connection, sync: SchoolSync, run_id: str | None, now: datetime) -> None:
    values = dict(school_urn=sync.school_urn, dataset=sync.dataset, cursor=sync.cursor,
                  last_sync_at=now, last_run_id=run_id)
    if sync.mode == "full":
        values["last_full_sync_at"] = now
    dialect_insert = pg_insert if is_postgres(conn.engine) else sqlite_insert
    statement = dialect_insert(sync_state).values(**values)
    update = {k: statement.excluded[k] for k in values if k not in ("school_urn", "dataset")}
    conn.execute(statement.on_conflict_do_update(index_elements=["school_urn", "dataset"], set_=update))


def read_cursor(engine: Engine, school_urn: str, dataset: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(sync_state.c.cursor).where(
            sync_state.c.school_urn == school_urn, sync_state.c.dataset == dataset)).scalar_one_or_none()


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def count_pupils(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(pupils.c.school_urn, func.count()).group_by(pupils.c.school_urn)).all())
