"""Shared helpers for tests that talk to a real in-process simulator over loopback HTTP."""

from __future__ import annotations

import base64
from contextlib import contextmanager

import requests

from mis_simulator.population import Population, build_population
from mis_simulator.server import SimulatorServer
from mis_simulator.xod_api import RELYING_PARTY as XOD_RELYING_PARTY
from mis_simulator.xod_api import estab_of, school_secret

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
    return requests.get(
        f"{server.wonde_url}/{path}",
        params=params,
        headers=bearer() if headers is None else headers,
        timeout=10,
    )


def wonde_schools(population: Population, approval: str | None = "approved") -> list:
    """The schools the Wonde API serves (`connector == "wonde"`), approved ones by default
    (`approval=None`: every state). Indexes 2, 5, 8, 11 of a population are on XoD instead."""
    return [s for s in population.schools_on("wonde") if approval is None or s.approval == approval]


def xod_schools(population: Population, approval: str | None = "approved") -> list:
    """The schools the XoD API serves (`connector == "xod"`), approved ones by default."""
    return [s for s in population.schools_on("xod") if approval is None or s.approval == approval]


# -- XoD --------------------------------------------------------------------------------------
RP = XOD_RELYING_PARTY  # the relying party the simulator's XoD expects


@contextmanager
def xod_server(population: Population, *, serve_all_schools_on_both: bool = True, **xod_settings):
    """A running SimulatorServer (XoD under /api/); yields (server, its XodApi, XoD base url).
    Every school is served on both connectors unless told otherwise, so XoD tests can use any
    school; `xod_settings` are set on the XodApi (e.g. `snapshot_ttl_seconds=1`)."""
    with SimulatorServer(
        population, token=TOKEN, serve_all_schools_on_both=serve_all_schools_on_both
    ) as server:
        for name, value in xod_settings.items():
            if not hasattr(server.xod, name):
                raise AttributeError(f"XodApi has no setting {name!r}")
            setattr(server.xod, name, value)
        yield server, server.xod, server.xod_url


def xod_token(base: str, school, **overrides) -> requests.Response:
    body = {
        "estab": estab_of(school),
        "relyingParty": RP,
        "password": school_secret(school),
        "thirdpartyid": "XporterOnDemand",
        **overrides,
    }
    return requests.post(f"{base}/oauth/GetToken", json=body, timeout=10)


def idaas(base: str, school) -> dict[str, str]:
    return {"Authorization": f"Idaas {xod_token(base, school).json()['token']}"}


def xod_get(base: str, school, endpoint: str, params=None, headers=None) -> requests.Response:
    return requests.get(
        f"{base}/v1/School/{estab_of(school)}/{endpoint}",
        params=params,
        headers=headers or idaas(base, school),
        timeout=10,
    )
