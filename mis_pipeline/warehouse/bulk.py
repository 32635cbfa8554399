"""Bulk loading into a per-transaction staging table: COPY on PostgreSQL, executemany on SQLite.

Callers stage a batch, then apply it with one set-based statement, so the cost of a sync grows with
the rows that arrive rather than with round trips.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, Table, text

from mis_pipeline.warehouse.engine import is_postgres


def stage_rows(conn: Connection, target: Table, columns: Sequence[str], rows: Iterable[tuple]) -> str:
    """Create an empty temporary copy of `target`'s columns, load `rows` into it, return its name."""
    stage = f"stage_{target.name}"
    column_list = ", ".join(columns)
    if is_postgres(conn.engine):
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {column_list} FROM {target.name} WITH NO DATA"
        )
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {stage} ({column_list}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return stage
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{stage}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE {stage} AS SELECT {column_list} FROM {target.name} WHERE 0")
    params = [dict(zip(columns, row, strict=True)) for row in rows]
    if params:
        placeholders = ", ".join(f":{column}" for column in columns)
        conn.execute(
            text(f"INSERT INTO {stage} ({column_list}) VALUES ({placeholders})").bindparams(
                *_typed_binds(target, columns)
            ),
            params,
        )
    return stage


def _typed_binds(target: Table, columns: Sequence[str]):
    # Bind with the target's column types so dates and timestamps are stored exactly as the
    # ORM-free Core inserts elsewhere store them.
    from sqlalchemy import bindparam

    return [bindparam(column, type_=target.c[column].type) for column in columns]


def drop_stage(conn: Connection, stage: str) -> None:
    if not is_postgres(conn.engine):  # Postgres drops it at commit
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{stage}")
