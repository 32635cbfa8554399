"""The warehouse as a Dagster resource."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import Engine

from mis_pipeline.config import master_keyring
from mis_pipeline.warehouse.engine import get_engine
from mis_pipeline.warehouse.vault import Vault, open_vault


class WarehouseResource(dg.ConfigurableResource):
    """The pipeline's own database: SQLite under MIS_HOME by default, PostgreSQL in production.

    The database URL (`MIS_DATABASE_URL`) and the master keys (`MIS_MASTER_KEY`,
    `MIS_PREVIOUS_MASTER_KEYS`) are read from the run's environment when used, and are not config
    fields at all: the launchpad can neither show nor edit them (an `EnvVar` field would still be
    offered as editable run config). Unset means the embedded default database and, outside
    production, the local key file in MIS_HOME. The schema is migrated on first use.
    """

    def engine(self) -> Engine:
        return get_engine()

    def vault(self) -> Vault:
        """The encryption keys, after proving the master key is this warehouse's."""
        return open_vault(self.engine(), master_keyring())
