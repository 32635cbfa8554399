"""Resources for the code location, configured from the environment (secrets as EnvVar)."""

from __future__ import annotations

import os

import dagster as dg

from mis_pipeline.connectors.wonde import WondeResource
from mis_pipeline.warehouse.resource import WarehouseResource

WONDE_DEFAULT_URL = "https://api.wonde.com/v1.0"


def _env_or(name: str, default: str):
    # EnvVar keeps the value out of the UI; a variable that is not set falls back to the default.
    return dg.EnvVar(name) if os.environ.get(name) else default


def build_resources() -> dict:
    return {
        "wonde": WondeResource(api_url=_env_or("WONDE_API_URL", WONDE_DEFAULT_URL),
                               api_token=dg.EnvVar("WONDE_API_TOKEN")),
        "warehouse": WarehouseResource(database_url=_env_or("MIS_DATABASE_URL", "")),
    }
