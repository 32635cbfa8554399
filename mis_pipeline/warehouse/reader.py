"""Read held pupils back, opened with their data keys: the one way out of the encrypted store.

Subject access reports, partner shares and the sync's own id resolution read through here; a
pupil whose data key was destroyed has nothing left to open and is not returned.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from sqlalchemy import Engine, func, select

from data_contracts import PUPILS
from mis_pipeline.lib.dates import as_utc
from mis_pipeline.warehouse.quarantine_store import quarantined_connector_ids
from mis_pipeline.warehouse.schema import pupils, quarantine
from mis_pipeline.warehouse.sealing import open_direct, open_payload
from mis_pipeline.warehouse.vault import Vault

_PLAIN = tuple(c for c in pupils.c.keys() if c != "sealed")


def read_pupils(engine: Engine, vault: Vault, school_urn: str | None = None) -> list[dict]:
    """Every held pupil (of one school, or all), with direct identifiers opened, in key order."""
    query = select(pupils).order_by(pupils.c.pupil_key)
    if school_urn is not None:
        query = query.where(pupils.c.school_urn == school_urn)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
        keys = vault.existing_keys(conn, (row["pupil_key"] for row in rows))
    return [
        {
            **{c: as_utc(row[c]) for c in _PLAIN},
            **open_direct(PUPILS, row["sealed"], keys[row["pupil_key"]], row["pupil_key"]),
        }
        for row in rows
        if row["pupil_key"] in keys
    ]


def read_quarantine(engine: Engine, vault: Vault, school_urn: str) -> list[dict]:
    """A school's quarantined records as received, with the rule each broke."""
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(quarantine)
                .where(quarantine.c.school_urn == school_urn)
                .order_by(quarantine.c.dataset, quarantine.c.record_ref)
            )
            .mappings()
            .all()
        )
        keys = vault.existing_keys(conn, (row["key_ref"] for row in rows))
    return [
        {
            "dataset": row["dataset"],
            "rule": row["rule"],
            "run_id": row["run_id"],
            "record": open_payload(
                row["sealed_payload"], keys[row["key_ref"]], row["dataset"], row["key_ref"]
            ),
        }
        for row in rows
        if row["key_ref"] in keys
    ]


class ConnectorIds(Mapping):
    """The connector's pupil id -> MIS id for a school's held pupils and those whose core record
    waits in quarantine (their items are held back with them), opened only if a source asks (to
    resolve another item's reference to a pupil), so a sync that needs none decrypts nothing."""

    def __init__(self, engine: Engine, vault: Vault, school_urn: str):
        self._engine, self._vault, self._urn = engine, vault, school_urn
        self._ids: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._ids is None:
            self._ids = {
                **quarantined_connector_ids(self._engine, self._vault, self._urn),
                **{
                    p["connector_pupil_id"]: p["mis_id"]
                    for p in read_pupils(self._engine, self._vault, self._urn)
                },
            }
        return self._ids

    def __getitem__(self, connector_pupil_id: str) -> str:
        return self._load()[connector_pupil_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def counts_by_school(engine: Engine, table, *where) -> dict[str, int]:
    """Rows of `table` per school (the sync's Dagster metadata reports the same figures)."""
    with engine.connect() as conn:
        query = select(table.c.school_urn, func.count()).where(*where).group_by(table.c.school_urn)
        return dict(conn.execute(query).all())
