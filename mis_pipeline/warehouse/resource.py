"""The warehouse as a Dagster resource."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import Engine

from .engine import get_engine


class WarehouseResource(dg.ConfigurableResource):
    """The pipeline's own database: SQLite under MIS_HOME by default, PostgreSQL in production.

    `database_url` comes from `MIS_DATABASE_URL` (an `EnvVar`, so the UI never shows it); empty
    means the embedded default. The schema is migrated on first use.
    """

    database_url: str = ""

    def engine(self) -> Engine:
        return get_engine(self.database_url or None)
