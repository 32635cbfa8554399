"""The sync against both connectors, below Dagster: real simulators over HTTP, real warehouses.

These tests need simulators of their own (faults, both connectors for one school), so they drive
the sources directly with resources pointed at them rather than the code location's configured ones.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline.connectors.xod.client import XodResource
from mis_pipeline.lib.crypto import Pseudonymiser, generate_key
from mis_pipeline.registry.scopes import WONDE_PERMISSION_SCOPES
from mis_pipeline.registry.store import RegisteredSchool
from mis_pipeline.sync.extract import keyed_sync
from mis_pipeline.sync.sources import ReadRequest, WondeSource, XodSource
from mis_pipeline.warehouse.schema import DATASET_TABLES
from mis_simulator.population import build_population
from mis_simulator.server import SimulatorServer
from mis_simulator.xod_api import estab_of, school_secret

TOKEN, RP = "sim-token", "mis-pipeline.local"
ALL_ITEMS = ("core", "additional_details", "attendance", "assessments", "groups")
CONNECTOR_IDENTITY = {"connector", "connector_pupil_id", "connector_record_id", "upi", "source_updated_at"}
PSEUDONYMS = Pseudonymiser(generate_key())


def registered(school, connector: str | None = None) -> RegisteredSchool:
    connector = connector or school.connector
    granted = tuple(
        scope.value for identity, scope in WONDE_PERMISSION_SCOPES.items() if school.permissions[identity]
    )
    return RegisteredSchool(
        school.urn,
        connector,
        school.id if connector == "wonde" else estab_of(school),
        school.name,
        "approved",
        tuple(s for s in ALL_ITEMS if s in granted),
        "automatic",
        False,
    )


def sources_for(server: SimulatorServer, population, tmp_path) -> dict:
    secrets = tmp_path / "xod-secrets.json"
    secrets.write_text(json.dumps({estab_of(s): school_secret(s) for s in population.schools}))
    return {
        "wonde": WondeSource(WondeResource(api_url=server.wonde_url, api_token=TOKEN, requests_per_second=0)),
        "xod": XodSource(
            XodResource(
                api_url=server.xod_url,
                relying_party=RP,
                school_secrets_path=str(secrets),
                requests_per_second=0,
            )
        ),
    }


def request_for(school: RegisteredSchool, today) -> ReadRequest:
    return ReadRequest(
        school.urn,
        school.connector_school_id,
        ("pupils", "pupil_details", "attendance_sessions", "assessment_results", "pupil_groups"),
        {},
        {},
        today.replace(month=9, day=1),
        today,
    )


def canonical(reads, urn: str) -> dict[str, list[dict]]:
    started = datetime.now(UTC)
    rows = {}
    for read in reads:
        sync = keyed_sync(read, urn, started, PSEUDONYMS)
        assert sync.rejected == [], (read.dataset, [r.rule for r in sync.rejected][:3])
        rows[sync.dataset] = sorted(
            tuple(sorted((k, str(v)) for k, v in r.items() if k not in CONNECTOR_IDENTITY)) for r in sync.good
        )
    return rows


@pytest.fixture
def both_connectors(monkeypatch, tmp_path):
    monkeypatch.setenv("MIS_ALLOW_LOOPBACK_HTTP", "1")
    population = build_population(11, 6, 25)
    with SimulatorServer(population, token=TOKEN, serve_all_schools_on_both=True).start() as server:
        yield server, population, sources_for(server, population, tmp_path)


def test_the_same_school_normalises_to_identical_rows_through_wonde_and_xod(both_connectors):
    server, population, sources = both_connectors
    school = next(s for s in population.approved_schools() if all(s.permissions.values()))
    today = datetime.now(UTC).date()
    through_wonde = canonical(
        sources["wonde"].read(request_for(registered(school, "wonde"), today)), school.urn
    )
    through_xod = canonical(sources["xod"].read(request_for(registered(school, "xod"), today)), school.urn)
    assert set(through_wonde) == set(DATASET_TABLES) | {"pupils"}
    for dataset in through_wonde:
        assert through_wonde[dataset] == through_xod[dataset], dataset
        assert through_wonde[dataset], dataset


def test_a_fault_rate_of_a_fifth_ends_with_exactly_the_rows_of_a_clean_read(monkeypatch, tmp_path):
    monkeypatch.setenv("MIS_ALLOW_LOOPBACK_HTTP", "1")
    population = build_population(5, 6, 30)
    today = datetime.now(UTC).date()
    results = []
    for fault_rate in (0.0, 0.2):
        with SimulatorServer(population, token=TOKEN, fault_rate=fault_rate, retry_after_seconds=0) as server:
            sources = sources_for(server, population, tmp_path)
            rows = {}
            for school in population.approved_schools():
                reg = registered(school)
                rows[school.urn] = canonical(sources[reg.connector].read(request_for(reg, today)), school.urn)
            results.append(rows)
    assert results[0] == results[1]
    assert {s.connector for s in population.approved_schools()} == {"wonde", "xod"}
