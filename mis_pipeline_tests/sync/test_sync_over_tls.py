"""A Dagster sync over HTTPS: the code location's own resources, pointed at a simulator started
with TLS, trusting its private CA only through REQUESTS_CA_BUNDLE (no plain-HTTP opt-in)."""

from __future__ import annotations

import time
from datetime import date

import pytest
import sqlalchemy as sa

from mis_pipeline.cli.launch import run_sync
from mis_pipeline.cli.runs import failure_reason, run_job
from mis_pipeline.registry.jobs import DISCOVER_SCHOOLS_JOB, IMPORT_GIAS_JOB
from mis_pipeline.registry.partitions import SCHOOLS
from mis_pipeline.registry.run_tags import RANGE_END, RANGE_START
from mis_pipeline.registry.settings import SettingsChange, apply_settings
from mis_pipeline.registry.store import list_schools
from mis_pipeline.sync.assets import SYNC_OP
from mis_pipeline.sync.jobs import SYNC_SCHOOLS_JOB
from mis_pipeline.warehouse.schema import DATASET_TABLES, pupils
from mis_pipeline_tests.conftest import SIM_TOKEN
from mis_simulator.datasets import datasets_for
from mis_simulator.gias import write_gias_extract
from mis_simulator.population import build_population
from mis_simulator.server import SimulatorServer
from mis_simulator.xod_api import write_xod_secrets

PERMISSION_OF = {
    "pupil_details": "students.extended.read",
    "attendance_sessions": "attendance.read",
    "assessment_results": "assessment.read",
    "pupil_groups": "groups.read",
}


@pytest.fixture
def tls_simulator(tmp_path, monkeypatch, instance):
    """Schools 0 and 1 on Wonde, 2 on XoD, served over HTTPS only; the code location configured
    for them and their GIAS rows imported. No CA is trusted yet."""
    population = build_population(17, 3, 10)
    with SimulatorServer(population, token=SIM_TOKEN, tls_dir=tmp_path / "tls") as server:
        monkeypatch.setenv("WONDE_API_URL", server.wonde_url)
        monkeypatch.setenv("XPORTER_API_URL", server.xod_url)
        monkeypatch.setenv(
            "XPORTER_SCHOOL_SECRETS", str(write_xod_secrets(population, tmp_path / "secrets.json"))
        )
        monkeypatch.delenv("MIS_ALLOW_LOOPBACK_HTTP")
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name, raising=False)
        gias = write_gias_extract(population, tmp_path / "edubasealldata.csv")
        assert run_job(
            instance, IMPORT_GIAS_JOB, {"ops": {"gias_establishments": {"config": {"path": str(gias)}}}}
        ).success
        yield server


def discover_and_accept(instance, engine) -> list[str]:
    """Discovery (needs the CA), then every school's acceptance of the data sharing agreement
    recorded, as an operator does before the first sync. Returns the school partitions."""
    assert run_job(instance, DISCOVER_SCHOOLS_JOB).success
    apply_settings(
        engine,
        [s.urn for s in list_schools(engine)],
        SettingsChange(agreement_accepted_on=date(2026, 9, 1), agreement_version="1.0"),
        actor="test set-up",
    )
    return instance.get_dynamic_partitions(SCHOOLS.name)


def served(population) -> dict[str, dict[str, int]]:
    """Per table, the rows each approved school serves of the items it granted."""
    counts: dict[str, dict[str, int]] = {"pupils": {}, **{name: {} for name in PERMISSION_OF}}
    for school in population.approved_schools():
        data = datasets_for(population, school)
        counts["pupils"][school.urn] = len(school.pupils)
        rows = {
            "pupil_details": len(data.details),
            "attendance_sessions": len(data.attendance),
            "assessment_results": len(data.results),
            "pupil_groups": sum(len(g.member_ids) for g in data.groups),
        }
        for name, permission in PERMISSION_OF.items():
            if school.permissions[permission]:
                counts[name][school.urn] = rows[name]
    return counts


def held(engine) -> dict[str, dict[str, int]]:
    with engine.connect() as conn:
        return {
            table.name: dict(
                conn.execute(
                    sa.select(table.c.school_urn, sa.func.count()).group_by(table.c.school_urn)
                ).all()
            )
            for table in (pupils, *DATASET_TABLES.values())
        }


def refused_handshakes(server: SimulatorServer) -> int:
    """The server's count of failed TLS handshakes, once it has stopped moving (the server
    notices a client's refusal a moment after the client does)."""
    seen, deadline = -1, time.monotonic() + 2
    while time.monotonic() < deadline:
        now = server.tls_handshake_failures
        if now == seen:
            return now
        seen = now
        time.sleep(0.2)
    return seen


def assert_one_clear_line(reason: str, population) -> None:
    assert "\n" not in reason and "Traceback" not in reason
    assert "TLS certificate verification failed" in reason and "REQUESTS_CA_BUNDLE" in reason
    values = {
        value
        for school in population.schools
        for p in school.pupils
        for value in (p.surname, p.legal_forename, p.upn, p.date_of_birth.isoformat())
    }
    assert not {value for value in values if value in reason}


def test_with_the_ca_bundle_the_sync_lands_every_granted_item_with_the_served_counts(
    tls_simulator, instance, engine, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_simulator.ca_path))
    assert len(discover_and_accept(instance, engine)) == 3
    summary = run_sync(instance)
    assert summary.success, summary.failure_reason
    assert held(engine) == served(tls_simulator.population)
    assert {s.connector for s in tls_simulator.population.approved_schools()} == {"wonde", "xod"}
    assert refused_handshakes(tls_simulator) == 0


def test_without_the_ca_bundle_discovery_fails_at_its_first_request_with_one_clear_line(
    tls_simulator, instance, engine
):
    summary = run_sync(instance)
    assert not summary.success
    assert summary.failure_reason.startswith("school discovery failed: ")
    assert_one_clear_line(summary.failure_reason, tls_simulator.population)
    assert refused_handshakes(tls_simulator) == 1  # never retried
    assert held(engine)["pupils"] == {}


def test_a_sync_run_that_loses_the_ca_bundle_fails_each_school_once_with_one_clear_line(
    tls_simulator, instance, engine, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_simulator.ca_path))
    schools = discover_and_accept(instance, engine)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    result = run_job(
        instance,
        SYNC_SCHOOLS_JOB,
        {"ops": {SYNC_OP: {"config": {"max_workers": 3}}}},
        tags={RANGE_START: schools[0], RANGE_END: schools[-1]},
    )
    assert not result.success
    reason = failure_reason(result)
    assert (
        reason.startswith("3 of 3 schools not synced: ")
        and reason.count("TLS certificate verification failed") == 3
    )
    assert_one_clear_line(reason, tls_simulator.population)
    assert refused_handshakes(tls_simulator) == 3  # one per school, none retried
    assert held(engine)["pupils"] == {}
