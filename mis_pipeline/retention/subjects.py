"""Retention subjects: every row that holds a pupil's key, wherever it is, read from the schema.

A pupil is linked when we hold their named record (`pupils`) or a live quarantined record of theirs
(which may yet be released). A row keyed by a pupil who is neither is unlinked: nothing lets a
school or a subject access request reach it, so it must not exist. `unlinked_counts` is the check's
question (read-only); `remove_unlinked` is what the purge does about it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Column, Connection, and_, delete, exists, func, select, update

from mis_pipeline.warehouse.schema import pupil_links, pupils, quarantine

_CHUNK = 1000
SCHOOL_KEY_PREFIX = "school:"  # key refs of records that name no pupil (see vault.school_key_ref)


def _holds_a_pupil(column: Column):
    return and_(column.is_not(None), ~column.like(f"{SCHOOL_KEY_PREFIX}%"))


def _unlinked(column: Column):
    """Rows whose pupil has neither a named record nor a live quarantined record."""
    named, held_back = pupils.alias("named"), quarantine.alias("held_back")
    return and_(
        _holds_a_pupil(column),
        ~exists().where(named.c.pupil_key == column),
        ~exists().where(held_back.c.key_ref == column),
    )


def _linked_tables() -> dict[str, Column]:
    """Every pupil-linked table but the two that are the links themselves (the named record, and
    a quarantined record, which may yet be released)."""
    return {
        name: column for name, column in pupil_links().items() if name not in (pupils.name, quarantine.name)
    }


def unlinked_counts(conn: Connection) -> dict[str, int]:
    """Per pupil-linked table, the rows whose pupil has no named record and no live quarantine
    entry. Reads only: a check must never act."""
    return {
        name: conn.execute(
            select(func.count()).select_from(column.table).where(_unlinked(column))
        ).scalar_one()
        for name, column in sorted(_linked_tables().items())
    }


def _forget(conn: Connection, column: Column, condition) -> int:
    """Delete the rows, or, where the schema lets the link be empty (change history), keep the row
    (kinds, field names, counts) and drop only the link: nothing then ties it to the pupil."""
    table = column.table
    if column.nullable:
        return conn.execute(update(table).where(condition).values({column.name: None})).rowcount
    return conn.execute(delete(table).where(condition)).rowcount


def remove_unlinked(conn: Connection) -> dict[str, int]:
    """One set-based statement per pupil-linked table: every unlinked row goes (deleting a data key
    is crypto-shredding: whatever it sealed can never be opened again)."""
    removed = {
        name: _forget(conn, column, _unlinked(column)) for name, column in sorted(_linked_tables().items())
    }
    return {name: n for name, n in removed.items() if n}


def remove_subjects(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
    """Every row of these pupils in every pupil-linked table, the named record included; returns
    rows removed (or unlinked) per table."""
    ordered = sorted(set(keys))
    removed: dict[str, int] = {}
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        for name, column in sorted(pupil_links().items()):
            removed[name] = removed.get(name, 0) + _forget(conn, column, column.in_(chunk))
    return {name: n for name, n in sorted(removed.items()) if n}
