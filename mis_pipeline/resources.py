"""Resources for the code location, configured from the environment (secrets as EnvVar)."""

from __future__ import annotations

import os

import dagster as dg

from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline.connectors.xod.client import XodResource
from mis_pipeline.warehouse.resource import WarehouseResource

WONDE_DEFAULT_URL = "https://api.wonde.com/v1.0"
XPORTER_DEFAULT_URL = "https://xporter.groupcall.com/api"
DEFAULT_REQUESTS_PER_SECOND = 10.0


def _env_or(name: str, default: str):
    # EnvVar keeps the value out of the UI; a variable that is not set falls back to the default.
    return dg.EnvVar(name) if os.environ.get(name) else default


def _requests_per_second(name: str) -> float:
    """Polite by default (10 requests/s per host); 0 lifts the limit, e.g. for the local simulator."""
    value = os.environ.get(name, "")
    return float(value) if value else DEFAULT_REQUESTS_PER_SECOND


def build_resources() -> dict:
    return {
        "wonde": WondeResource(
            api_url=_env_or("WONDE_API_URL", WONDE_DEFAULT_URL),
            api_token=_env_or("WONDE_API_TOKEN", ""),  # none: Wonde is not used
            requests_per_second=_requests_per_second("WONDE_REQUESTS_PER_SECOND"),
        ),
        # School secrets are read from the file named by XPORTER_SCHOOL_SECRETS when needed.
        "xod": XodResource(
            api_url=_env_or("XPORTER_API_URL", XPORTER_DEFAULT_URL),
            relying_party=_env_or("XPORTER_RELYING_PARTY", ""),
            requests_per_second=_requests_per_second("XPORTER_REQUESTS_PER_SECOND"),
        ),
        # The database URL and master keys: read from the environment when used, never run config.
        "warehouse": WarehouseResource(),
    }
