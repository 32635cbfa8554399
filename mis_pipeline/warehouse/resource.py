"""The warehouse as a Dagster resource."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import Engine

from mis_pipeline.config import master_keyring

from .engine import get_engine
from .vault import Vault, open_vault


class WarehouseResource(dg.ConfigurableResource):
    """The pipeline's own database: SQLite under MIS_HOME by default, PostgreSQL in production.

    `database_url` comes from `MIS_DATABASE_URL`, and the master keys from `MIS_MASTER_KEY` and
    `MIS_PREVIOUS_MASTER_KEYS` (all `EnvVar`s, so the UI never shows them); empty means the
    embedded default database and, outside production, the local key file in MIS_HOME. The schema
    is migrated on first use.
    """

    database_url: str = ""
    master_key: str = ""
    previous_master_keys: str = ""

    def engine(self) -> Engine:
        return get_engine(self.database_url or None)

    def vault(self) -> Vault:
        """The encryption keys, after proving the master key is this warehouse's."""
        return open_vault(self.engine(), master_keyring(self.master_key or None, self.previous_master_keys or None))
