from __future__ import annotations

import pytest

from mis_pipeline_tests.simulator.support import SEED, TOKEN, small_population
from mis_simulator.population import build_population
from mis_simulator.server import SimulatorServer


@pytest.fixture(scope="module")
def population():
    return small_population()


@pytest.fixture(scope="module")
def server(population):
    with SimulatorServer(population, token=TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def large_server():
    """Two schools of 450 pupils: enough rows for default (50) and clamped (200) paging."""
    with SimulatorServer(build_population(SEED, 2, 450), token=TOKEN) as running:
        yield running
