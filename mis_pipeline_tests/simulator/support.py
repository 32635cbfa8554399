"""Shared helpers for tests that talk to a real in-process simulator over loopback HTTP."""

from __future__ import annotations

import base64

import requests

from mis_pipeline.simulator.population import Population, build_population
from mis_pipeline.simulator.server import SimulatorServer

TOKEN = "test-token"
SEED = 7


def small_population(schools: int = 12, pupils_per_school: int = 23) -> Population:
    # 12 schools: index 6 is pending, index 10 revoked, the rest approved.
    return build_population(SEED, schools, pupils_per_school)


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{token}:".encode()).decode()}


def get(server: SimulatorServer, path: str, params=None, headers=None) -> requests.Response:
    return requests.get(f"{server.wonde_url}/{path}", params=params, headers=bearer() if headers is None else headers,
                        timeout=10)
