from __future__ import annotations

import pytest

from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline_tests.simulator.support import TOKEN, small_population
from mis_simulator.server import SimulatorServer


@pytest.fixture(scope="module")
def population():
    return small_population(schools=12, pupils_per_school=57)


@pytest.fixture(scope="module")
def server(population):
    with SimulatorServer(population, token=TOKEN) as running:
        yield running


@pytest.fixture()
def loopback_allowed(monkeypatch):
    monkeypatch.setenv("MIS_ALLOW_LOOPBACK_HTTP", "1")


@pytest.fixture()
def client(server, loopback_allowed):
    server.faults.clear()
    # Pacing off: these tests are about behaviour, and pacing has its own test.
    return WondeResource(
        api_url=server.wonde_url,
        api_token=TOKEN,
        per_page=7,
        backoff_factor=0.01,
        max_retries=3,
        requests_per_second=0,
    )
