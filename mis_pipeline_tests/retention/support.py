"""Synthetic warehouse rows for retention tests: pupils held named or only through quarantine, with
their other rows, written directly (no connector) so a test can set every date it needs."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import sqlalchemy as sa

from mis_pipeline.warehouse.schema import (
    DATASET_TABLES,
    data_keys,
    metadata,
    pupil_changes,
    pupils,
    quarantine,
    schools,
    sync_state,
)

NOON = time(12, 0)


def at_noon(day: date) -> datetime:
    return datetime.combine(day, NOON, tzinfo=UTC)


def wipe(engine) -> None:
    """Empty every warehouse table (between hypothesis examples)."""
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(sa.delete(table))


def add_school(
    conn,
    urn: str,
    *,
    final_year: int | None = None,
    subscription_end: date | None = None,
    access_ended_on: date | None = None,
    agreement_withdrawn_on: date | None = None,
    last_sync: datetime | None = None,
) -> None:
    now = datetime(2026, 9, 1, tzinfo=UTC)
    conn.execute(
        sa.insert(schools).values(
            urn=urn,
            connector="wonde",
            connector_school_id=f"S{urn}",
            name=f"School {urn}",
            approval_state="approved",
            final_year_group=final_year,
            subscription_end=subscription_end,
            access_ended_on=access_ended_on,
            agreement_withdrawn_on=agreement_withdrawn_on,
            first_seen_at=now,
            updated_at=now,
        )
    )
    if last_sync is not None:
        conn.execute(sa.insert(sync_state).values(school_urn=urn, dataset="pupils", last_sync_at=last_sync))


def add_named(
    conn,
    key: str,
    urn: str,
    held_since: date,
    *,
    vault=None,
    leaving_date: date | None = None,
    left_informed_at: datetime | None = None,
    deleted_at: datetime | None = None,
    nc_year: str | None = None,
) -> None:
    """A named pupil, as a sync leaves one: record, data key, an attendance row, a change entry."""
    stamp = at_noon(held_since)
    conn.execute(
        sa.insert(pupils).values(
            pupil_key=key,
            school_urn=urn,
            connector="wonde",
            source_updated_at=stamp,
            sealed=b"sealed",
            row_hash="h",
            first_synced_at=stamp,
            last_changed_at=stamp,
            leaving_date=leaving_date,
            left_informed_at=left_informed_at,
            deleted_at=deleted_at,
            nc_year=nc_year,
            sex="F",
        )
    )
    _add_key_and_rows(conn, key, urn, held_since, vault)
    conn.execute(sa.insert(pupil_changes).values(change_set_id=1, pupil_key=key, kind="new", fields="[]"))


def add_quarantined(conn, key: str, urn: str, held_since: date, *, vault=None) -> None:
    """A pupil whose core record is held back by a check, and whose other items landed."""
    conn.execute(
        sa.insert(quarantine).values(
            school_urn=urn,
            dataset="pupils",
            record_ref=f"ref-{key}",
            rule="upn: upn_check_letter",
            key_ref=key,
            sealed_payload=b"sealed",
            quarantined_at=at_noon(held_since),
        )
    )
    _add_key_and_rows(conn, key, urn, held_since, vault)


def _add_key_and_rows(conn, key: str, urn: str, held_since: date, vault) -> None:
    """The pupil's data key (a real one when a vault is given: purges digest it), made that day."""
    stamp = at_noon(held_since)
    if vault is not None:
        vault.data_keys(conn, {key: urn})
        conn.execute(sa.update(data_keys).where(data_keys.c.key_ref == key).values(created_at=stamp))
    else:
        conn.execute(
            sa.insert(data_keys).values(
                key_ref=key, school_urn=urn, master_key_id="k", wrapped=b"w", created_at=stamp
            )
        )
    attendance = DATASET_TABLES["attendance_sessions"]
    conn.execute(
        sa.insert(attendance).values(
            pupil_key=key,
            school_urn=urn,
            session_date=held_since,
            session="AM",
            mark="/",
            source_updated_at=stamp,
            row_hash="h",
            first_synced_at=stamp,
            last_changed_at=stamp,
        )
    )


def release(conn, key: str, urn: str, day: date) -> None:
    """The school fixed the record: it leaves quarantine and is held named."""
    conn.execute(sa.delete(quarantine).where(quarantine.c.key_ref == key))
    stamp = at_noon(day)
    conn.execute(
        sa.insert(pupils).values(
            pupil_key=key,
            school_urn=urn,
            connector="wonde",
            source_updated_at=stamp,
            sealed=b"sealed",
            row_hash="h",
            first_synced_at=stamp,
            last_changed_at=stamp,
            sex="M",
        )
    )


def rows_of(conn, key: str) -> dict[str, int]:
    """Rows holding this pupil's key, per pupil-linked table (empty when none)."""
    from mis_pipeline.warehouse.schema import pupil_links

    counts = {
        name: conn.execute(
            sa.select(sa.func.count()).select_from(column.table).where(column == key)
        ).scalar_one()
        for name, column in pupil_links().items()
    }
    return {name: n for name, n in counts.items() if n}
