"""Write everything one school's sync received, for every data item, in one transaction.

Rows, quarantine entries, cursors and sync-log rows of all the school's datasets commit together,
so a crash at any point leaves the old state or the new one, never a mix, and a rerun converges
on the state of an uninterrupted sync.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, Engine, and_, delete, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from data_contracts import CONTRACTS, PUPILS, Rejection
from mis_pipeline.lib.crypto import Pseudonymiser
from mis_pipeline.warehouse.audit_log import record_audit
from mis_pipeline.warehouse.change_store import (
    change_set_counts,
    core_changes,
    is_empty,
    record_change_set,
    supersede_pending,
)
from mis_pipeline.warehouse.changes import PupilChange
from mis_pipeline.warehouse.engine import is_postgres
from mis_pipeline.warehouse.schema import DATASET_TABLES, pupils, quarantine, sync_log, sync_state
from mis_pipeline.warehouse.sealing import seal_direct, seal_payload
from mis_pipeline.warehouse.upsert import UpsertPlan, delete_absent, upsert_records
from mis_pipeline.warehouse.vault import Vault, school_key_ref

PLANS = {
    name: UpsertPlan.for_contract(CONTRACTS[name], table)
    for name, table in {"pupils": pupils, **DATASET_TABLES}.items()
}


@dataclass(frozen=True)
class DatasetSync:
    """What one dataset of one school's sync received: good records and rejections (with rules)."""

    school_urn: str
    dataset: str
    mode: str  # full | incremental
    cursor: str | None  # the cursor to store once these rows are committed
    started_at: datetime
    fetched: int
    good: list[dict]
    rejected: list[Rejection]
    # Incremental group reads: the (group_type, group_code) groups re-read whole, whose other
    # memberships are therefore gone.
    refreshed_groups: frozenset[tuple[str, str]] = frozenset()
    # Core record only: pupils deleted at the connector, and deletions since undone.
    deleted_keys: frozenset[str] = frozenset()
    restored_keys: frozenset[str] = frozenset()

    @property
    def is_empty_delta(self) -> bool:
        return (
            self.mode == "incremental"
            and self.fetched == 0
            and not self.good
            and not self.rejected
            and not self.deleted_keys
            and not self.restored_keys
        )


@dataclass(frozen=True)
class SyncCounts:
    fetched: int
    inserted: int
    updated: int
    unchanged: int
    quarantined: int
    deleted: int = 0
    quarantined_by_rule: tuple[tuple[str, int], ...] = ()  # ("upn: upn_check_letter", 2): rules, never values


EMPTY = SyncCounts(0, 0, 0, 0, 0)


@dataclass(frozen=True)
class SchoolWrite:
    """What one school's write did: counts per dataset, and its change set's counts (None: no change)."""

    counts: dict[str, SyncCounts]
    change_set: dict | None = None
    change_set_status: str | None = None  # applied | pending


class _Preview(Exception):
    """Raised inside a preview's transaction to roll it back, carrying what it would have done."""

    def __init__(self, counts: dict[str, SyncCounts], changes: list[PupilChange]):
        super().__init__("preview")
        self.counts, self.changes = counts, changes


def write_school(
    engine: Engine,
    vault: Vault,
    syncs: list[DatasetSync],
    run_id: str | None,
    school_urn: str | None = None,
    withdrawn: tuple[str, ...] = (),
    apply: bool = True,
    actor: str = "sync",
) -> SchoolWrite:
    """Commit every dataset of one school's sync together, with its change set.

    `withdrawn` names items that left the school's scope since they were last held: their rows,
    quarantine entries and cursors go, with an audit entry, so the item's return starts with a full
    read. `apply=False` (a manual school) computes the change set by writing everything in a
    transaction that is then rolled back, and keeps only the change set, as pending: the scoped
    tables and cursors do not move, so the next delta still holds every change.
    """
    urn = school_urn or syncs[0].school_urn
    now = datetime.now(UTC)
    if not apply:
        return _preview(engine, vault, syncs, run_id, urn, withdrawn, now, actor)
    with engine.begin() as conn:
        if withdrawn:
            _remove_withdrawn(conn, urn, withdrawn, run_id, actor)
        counts, changes = _write_all(conn, vault, syncs, run_id, now)
        summary = change_set_counts(changes, _item_counts(counts))
        supersede_pending(conn, urn)
        if is_empty(summary):
            return SchoolWrite(counts)
        record_change_set(conn, urn, run_id, now, "applied", changes, summary)
        record_audit(conn, "change_set_applied", summary, actor=actor, school_urn=urn, run_id=run_id)
    return SchoolWrite(counts, summary, "applied")


def _preview(
    engine: Engine,
    vault: Vault,
    syncs: list[DatasetSync],
    run_id: str | None,
    urn: str,
    withdrawn: tuple[str, ...],
    now: datetime,
    actor: str,
) -> SchoolWrite:
    if withdrawn:  # consent is not a data change: it is honoured now, manual or not
        with engine.begin() as conn:
            _remove_withdrawn(conn, urn, withdrawn, run_id, actor)
    try:
        with engine.begin() as conn:
            raise _Preview(*_write_all(conn, vault, syncs, run_id, now))
    except _Preview as preview:
        counts, changes = preview.counts, preview.changes
    summary = change_set_counts(changes, _item_counts(counts))
    if is_empty(summary):
        return SchoolWrite(counts)
    with engine.begin() as conn:
        record_change_set(conn, urn, run_id, now, "pending", changes, summary)
    return SchoolWrite(counts, summary, "pending")


def _write_all(
    conn: Connection, vault: Vault, syncs: list[DatasetSync], run_id: str | None, now: datetime
) -> tuple[dict[str, SyncCounts], list[PupilChange]]:
    counts, changes = {}, []
    for sync in syncs:
        if sync.dataset == "pupils":  # read what is held before it is overwritten
            changes = core_changes(
                conn,
                vault,
                PLANS["pupils"],
                sync.school_urn,
                sync.mode == "full",
                sync.good,
                sync.deleted_keys,
                sync.restored_keys,
            )
        counts[sync.dataset] = _write_dataset(conn, vault, sync, run_id, now)
    return counts, changes


def _item_counts(counts: dict[str, SyncCounts]) -> dict[str, dict[str, int]]:
    return {
        dataset: {"inserted": c.inserted, "updated": c.updated, "deleted": c.deleted}
        for dataset, c in counts.items()
        if dataset != "pupils"
    }


def _remove_withdrawn(
    conn: Connection, school_urn: str, datasets: tuple[str, ...], run_id: str | None, actor: str
) -> None:
    removed = {}
    for dataset in datasets:
        table = DATASET_TABLES[dataset]
        removed[dataset] = conn.execute(delete(table).where(table.c.school_urn == school_urn)).rowcount
        conn.execute(
            delete(quarantine).where(quarantine.c.school_urn == school_urn, quarantine.c.dataset == dataset)
        )
        conn.execute(
            delete(sync_state).where(sync_state.c.school_urn == school_urn, sync_state.c.dataset == dataset)
        )
    record_audit(
        conn,
        "items_removed",
        {"reason": "out of the school's scope", "rows_removed": removed},
        actor=actor,
        school_urn=school_urn,
        run_id=run_id,
    )


def advance_empty_deltas(engine: Engine, syncs: list[DatasetSync], run_id: str | None) -> None:
    """Save the cursors of many datasets whose delta was empty, in one transaction.

    Safe to batch: such a sync has no rows to keep consistent with its cursor, and a crash before
    this commits only means the next delta starts from the older cursor.
    """
    if not syncs:
        return
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for sync in syncs:
            _save_cursor(conn, sync, run_id, now)
        conn.execute(insert(sync_log), [_log_row(sync, EMPTY, run_id, now) for sync in syncs])


def _write_dataset(
    conn: Connection, vault: Vault, sync: DatasetSync, run_id: str | None, now: datetime
) -> SyncCounts:
    plan = PLANS[sync.dataset]

    def seal_pupils(conn: Connection, records: list[dict]) -> None:
        keys = vault.data_keys(conn, {record["pupil_key"]: sync.school_urn for record in records})
        for record in records:
            record["sealed"] = seal_direct(PUPILS, record, keys[record["pupil_key"]])

    inserted, updated = upsert_records(conn, plan, sync.good, run_id, now, vault.pseudonyms, seal_pupils)
    deleted = 0
    if sync.dataset == "pupils":
        deleted = _mark_deletions(conn, sync, now)
        _note_leaving_dates(conn, sync.school_urn, now)
        _drop_off_roll_memberships(conn, sync.school_urn)  # also when no group is read this time
    elif sync.mode == "full":
        deleted = delete_absent(conn, plan, sync.school_urn, sync.good)
    elif sync.refreshed_groups:
        deleted = _drop_left_memberships(conn, sync)
    if sync.dataset == "pupil_groups":
        deleted += _drop_off_roll_memberships(conn, sync.school_urn)
    quarantined = _replace_quarantine(conn, vault, sync, run_id, now)
    _save_cursor(conn, sync, run_id, now)
    by_rule = tuple(sorted(Counter(r.rule for r in quarantined).items()))
    counts = SyncCounts(
        sync.fetched,
        inserted,
        updated,
        len(sync.good) - inserted - updated,
        len(quarantined),
        deleted,
        by_rule,
    )
    conn.execute(insert(sync_log).values(**_log_row(sync, counts, run_id, now)))
    return counts


def _mark_deletions(conn: Connection, sync: DatasetSync, now: datetime) -> int:
    """Pupils are never dropped by a sync: a deletion at the connector starts the retention clock
    (deleted_at), and the purge removes the named data on time. A pupil who arrives again, or whose
    deletion the connector reports undone, is present once more."""
    present = {record["pupil_key"] for record in sync.good} | set(sync.restored_keys)
    gone = set(sync.deleted_keys) - present
    if sync.mode == "full":
        held = conn.execute(
            select(pupils.c.pupil_key).where(pupils.c.school_urn == sync.school_urn)
        ).scalars()
        gone |= set(held) - present
    _set_deleted_at(conn, sync.school_urn, present, None)
    return _set_deleted_at(conn, sync.school_urn, gone, now)


def _note_leaving_dates(conn: Connection, school_urn: str, now: datetime) -> None:
    """Remember when a leaving date was first held (the retention clock counts from the later of
    that day and the leaving date); forget it if the leaving date goes (the pupil stays)."""
    ours = pupils.c.school_urn == school_urn
    conn.execute(
        update(pupils)
        .where(ours, pupils.c.leaving_date.is_not(None), pupils.c.left_informed_at.is_(None))
        .values(left_informed_at=now)
    )
    conn.execute(
        update(pupils)
        .where(ours, pupils.c.leaving_date.is_(None), pupils.c.left_informed_at.is_not(None))
        .values(left_informed_at=None)
    )


def _set_deleted_at(conn: Connection, school_urn: str, keys: set[str], value: datetime | None) -> int:
    changed = 0
    ordered = sorted(keys)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        still = pupils.c.deleted_at.is_(None) if value is not None else pupils.c.deleted_at.is_not(None)
        changed += conn.execute(
            update(pupils)
            .where(pupils.c.school_urn == school_urn, pupils.c.pupil_key.in_(chunk), still)
            .values(deleted_at=value)
        ).rowcount
    return changed


def _drop_left_memberships(conn: Connection, sync: DatasetSync) -> int:
    kept = {(r["pupil_key"], r["group_type"], r["group_code"]) for r in sync.good}
    groups = DATASET_TABLES["pupil_groups"]
    held = conn.execute(
        select(groups.c.pupil_key, groups.c.group_type, groups.c.group_code).where(
            groups.c.school_urn == sync.school_urn
        )
    ).all()
    gone = [row for row in held if (row[1], row[2]) in sync.refreshed_groups and tuple(row) not in kept]
    if gone:
        conn.execute(
            text("DELETE FROM pupil_groups WHERE pupil_key = :k AND group_type = :t AND group_code = :c"),
            [{"k": k, "t": t, "c": c} for k, t, c in gone],
        )
    return len(gone)


def _drop_off_roll_memberships(conn: Connection, school_urn: str) -> int:
    """A membership is current only for a pupil on roll: a leaver's or a deleted pupil's goes,
    whether or not the connector re-sent the group (its core record is written first)."""
    groups = DATASET_TABLES["pupil_groups"]
    off_roll = select(pupils.c.pupil_key).where(
        pupils.c.school_urn == school_urn,
        (pupils.c.leaving_date.is_not(None)) | (pupils.c.deleted_at.is_not(None)),
    )
    return conn.execute(
        delete(groups).where(groups.c.school_urn == school_urn, groups.c.pupil_key.in_(off_roll))
    ).rowcount


def record_ref(pseudonyms: Pseudonymiser, dataset: str, record: dict) -> str:
    """How quarantine names a record, stably across syncs so a fixed record can leave it, and
    one name per record so none overwrites another: a keyed digest (nothing beside the rule
    identifies a pupil) of the core record's connector id, or of another item's natural key;
    failing those, of the connector's id for the record; failing that, of its content."""
    if dataset == "pupils":
        identity = record.get("connector_pupil_id") or record.get("connector_record_id")
        material = ("pupils", identity) if identity else None
    else:
        key = tuple(record.get(k) for k in CONTRACTS[dataset].key)
        material = (dataset, *key) if None not in key else _id_material(dataset, record)
    if material is None:
        material = (dataset, "content", _content(record))
    return pseudonyms.digest(repr(material).encode())


def _id_material(dataset: str, record: dict) -> tuple | None:
    identity = record.get("connector_record_id")
    return (dataset, "id", identity) if identity else None


def _content(record: dict) -> bytes:
    """A record's content, in a stable order, without the time it was received (which can be the
    sync's own time and so differ between syncs)."""
    received = record.get("received", record)
    if isinstance(received, dict):
        received = {k: v for k, v in received.items() if k != "source_updated_at"}
    return orjson.dumps(received, option=orjson.OPT_SORT_KEYS, default=str)


def _refs_of_arrivals(pseudonyms: Pseudonymiser, dataset: str, records: list[dict]) -> set[str]:
    """Every name under which an earlier copy of these (good) records may be in quarantine: their
    natural key, and the connector's id for them (an earlier copy may have been unreadable)."""
    refs = {record_ref(pseudonyms, dataset, record) for record in records}
    if dataset != "pupils":
        refs.update(
            pseudonyms.digest(repr(m).encode()) for m in (_id_material(dataset, r) for r in records) if m
        )
    return refs


def _replace_quarantine(
    conn: Connection, vault: Vault, sync: DatasetSync, run_id: str | None, now: datetime
) -> list[Rejection]:
    """A full read replaces the dataset's quarantine; a delta replaces what it re-read.
    Either way a record that now arrives good leaves quarantine. Returns what it quarantined:
    one entry per rejected record (a record read twice in one sync, e.g. moved between pages,
    is one record)."""
    scope = and_(quarantine.c.school_urn == sync.school_urn, quarantine.c.dataset == sync.dataset)
    rejected = {record_ref(vault.pseudonyms, sync.dataset, r.record): r for r in sync.rejected}
    if sync.mode == "full":
        conn.execute(delete(quarantine).where(scope))
    else:
        refs = sorted(_refs_of_arrivals(vault.pseudonyms, sync.dataset, sync.good) | set(rejected))
        for start in range(0, len(refs), 500):
            conn.execute(
                delete(quarantine).where(scope, quarantine.c.record_ref.in_(refs[start : start + 500]))
            )
    if rejected:
        # Sealed under the pupil's own data key when the record names its pupil, so the purge of
        # that pupil makes it unreadable too; otherwise under the school's key.
        key_refs = {
            ref: r.record.get("pupil_key") or school_key_ref(sync.school_urn) for ref, r in rejected.items()
        }
        keys = vault.data_keys(conn, {key_ref: sync.school_urn for key_ref in key_refs.values()})
        conn.execute(
            insert(quarantine),
            [
                dict(
                    school_urn=sync.school_urn,
                    dataset=sync.dataset,
                    record_ref=ref,
                    rule=r.rule,
                    key_ref=key_refs[ref],
                    sealed_payload=seal_payload(r.record, keys[key_refs[ref]], sync.dataset, key_refs[ref]),
                    run_id=run_id,
                    quarantined_at=now,
                )
                for ref, r in rejected.items()
            ],
        )
    return list(rejected.values())


def _save_cursor(conn: Connection, sync: DatasetSync, run_id: str | None, now: datetime) -> None:
    values = dict(
        school_urn=sync.school_urn,
        dataset=sync.dataset,
        cursor=sync.cursor,
        last_sync_at=now,
        last_run_id=run_id,
    )
    if sync.mode == "full":
        values["last_full_sync_at"] = now
    dialect_insert = pg_insert if is_postgres(conn.engine) else sqlite_insert
    statement = dialect_insert(sync_state).values(**values)
    update = {k: statement.excluded[k] for k in values if k not in ("school_urn", "dataset")}
    conn.execute(statement.on_conflict_do_update(index_elements=["school_urn", "dataset"], set_=update))


def _log_row(sync: DatasetSync, counts: SyncCounts, run_id: str | None, now: datetime) -> dict:
    return dict(
        run_id=run_id,
        school_urn=sync.school_urn,
        dataset=sync.dataset,
        mode=sync.mode,
        started_at=sync.started_at,
        finished_at=now,
        fetched=counts.fetched,
        inserted=counts.inserted,
        updated=counts.updated,
        unchanged=counts.unchanged,
        quarantined=counts.quarantined,
    )


def read_cursors(engine: Engine, school_urn: str) -> dict[str, str | None]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                select(sync_state.c.dataset, sync_state.c.cursor).where(sync_state.c.school_urn == school_urn)
            ).all()
        )
