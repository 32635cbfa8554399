"""GIAS reference data in the warehouse: replaced whole on each import, read by the registry."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select

from mis_pipeline.warehouse.schema import gias_establishments


def replace_gias(engine: Engine, rows: list[dict]) -> int:
    """The extract is a full list of establishments, so it replaces the last one in one transaction."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(delete(gias_establishments))
        for start in range(0, len(rows), 5000):
            conn.execute(
                insert(gias_establishments),
                [{**row, "imported_at": now} for row in rows[start : start + 5000]],
            )
    return len(rows)


def gias_lookups(engine: Engine) -> tuple[dict[str, dict], dict[tuple[str, str], dict]]:
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(select(gias_establishments)).mappings()]
    by_urn = {row["urn"]: row for row in rows}
    by_la_estab = {
        (row["la_code"], row["establishment_number"]): row for row in rows if row["establishment_number"]
    }
    return by_urn, by_la_estab
