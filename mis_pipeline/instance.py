"""The Dagster instance the CLI runs on: `DAGSTER_HOME` if set, else an embedded one in MIS_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from mis_pipeline.config import embedded_dagster_home

EMBEDDED_INSTANCE_YAML = """\
# Embedded instance for local use (SQLite under this folder). Production points DAGSTER_HOME at a
# folder holding the repository's dagster.yaml (PostgreSQL storage).
telemetry:
  enabled: false
"""


def dagster_home() -> Path:
    """The instance folder; creates the embedded one (and sets DAGSTER_HOME) when none is configured."""
    configured = os.environ.get("DAGSTER_HOME")
    if configured:
        return Path(configured)
    home = embedded_dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(EMBEDDED_INSTANCE_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance() -> dg.DagsterInstance:
    dagster_home()
    return dg.DagsterInstance.get()


def hold_storage_connections(instance: dg.DagsterInstance) -> None:
    """Let a process that runs many steps reuse its instance-storage connections.

    dagster-postgres opens a fresh connection for every event by default (NullPool), which made
    each school partition's materialisation cost ~40 ms here. The webserver switches the storages
    to a small pool with this same call; a launcher process benefits the same way. A no-op on SQLite.
    """
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
