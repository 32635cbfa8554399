"""Shared fixtures: a real simulator over loopback HTTP, real SQLite and PostgreSQL warehouses,
and a real Dagster instance per test.

PostgreSQL tests skip when no server answers, except under CI (`MIS_REQUIRE_POSTGRES=1`), where a
missing server fails them.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import uuid

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get(
    "MIS_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SIM_TOKEN = "sim-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SIM_RELYING_PARTY = "mis-pipeline.local"


def pytest_configure(config):
    # The code location reads connector settings when it is imported, so the session simulator's
    # address and files are fixed before any test imports it.
    port = _free_port()
    files = tempfile.mkdtemp(prefix="mis-test-sim-")
    os.environ["MIS_TEST_SIM_PORT"] = str(port)
    os.environ["MIS_TEST_GIAS"] = os.path.join(files, "edubasealldata.csv")
    os.environ["WONDE_API_URL"] = f"http://127.0.0.1:{port}/v1.0"
    os.environ["WONDE_API_TOKEN"] = SIM_TOKEN
    os.environ["XPORTER_API_URL"] = f"http://127.0.0.1:{port}/api"
    os.environ["XPORTER_RELYING_PARTY"] = SIM_RELYING_PARTY
    os.environ["XPORTER_SCHOOL_SECRETS"] = os.path.join(files, "xod-secrets.json")
    os.environ["MIS_ALLOW_LOOPBACK_HTTP"] = "1"
    # the local simulator needs no politeness
    os.environ["WONDE_REQUESTS_PER_SECOND"] = os.environ["XPORTER_REQUESTS_PER_SECOND"] = "0"
    os.environ.pop("MIS_DATABASE_URL", None)
    os.environ.pop("DAGSTER_HOME", None)
    # Every test process (and the CLI it starts) encrypts under one throwaway master key.
    from mis_pipeline.lib.crypto import encode_key, generate_key

    os.environ["MIS_MASTER_KEY"] = encode_key(generate_key())
    os.environ.pop("MIS_PREVIOUS_MASTER_KEYS", None)
    os.environ.pop("MIS_ENV", None)


# ── simulator ────────────────────────────────────────────────────────────────────────────────
SIM_SCHOOLS, SIM_PUPILS, SIM_SEED = 12, 30, 7


@pytest.fixture(scope="session")
def population():
    from mis_simulator.population import build_population

    return build_population(seed=SIM_SEED, schools=SIM_SCHOOLS, pupils_per_school=SIM_PUPILS)


def write_sim_files(population) -> None:
    """The files an operator gets from the simulator: the GIAS extract and the XoD secrets."""
    from mis_simulator.gias import write_gias_extract
    from mis_simulator.xod_api import estab_of, school_secret

    write_gias_extract(population, os.environ["MIS_TEST_GIAS"])
    secrets = {estab_of(s): school_secret(s) for s in population.schools if s.connector == "xod"}
    with open(os.environ["XPORTER_SCHOOL_SECRETS"], "w", encoding="utf-8") as handle:
        json.dump(secrets, handle)


@pytest.fixture(scope="session")
def simulator(population):
    """The session's simulator (Wonde and XoD), at the address the code location was configured with."""
    from mis_simulator.server import SimulatorServer

    write_sim_files(population)
    server = SimulatorServer(population, port=int(os.environ["MIS_TEST_SIM_PORT"]), token=SIM_TOKEN).start()
    yield server
    server.stop()


# ── warehouses ───────────────────────────────────────────────────────────────────────────────
def _postgres_available() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


def postgres_or_skip() -> None:
    if _postgres_available():
        return
    if os.environ.get("MIS_REQUIRE_POSTGRES") == "1":
        pytest.fail("PostgreSQL is required here (MIS_REQUIRE_POSTGRES=1) but does not answer")
    pytest.skip("PostgreSQL is not running")


@pytest.fixture
def postgres_database():
    """A fresh, empty PostgreSQL database; yields its URL and drops it afterwards."""
    postgres_or_skip()
    name = f"mis_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    from mis_pipeline.warehouse.engine import dispose_all

    dispose_all()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.db'}"
    else:
        yield request.getfixturevalue("postgres_database")


@pytest.fixture
def mis_env(monkeypatch, tmp_path, warehouse_url):
    """A clean MIS_HOME and embedded Dagster instance, with the warehouse under test configured."""
    home = tmp_path / "mis_home"
    monkeypatch.setenv("MIS_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("MIS_DATABASE_URL", warehouse_url)
    yield home
    from mis_pipeline.warehouse.engine import dispose_all
    from mis_pipeline.warehouse.vault import forget_vaults

    dispose_all()
    forget_vaults()
    os.environ.pop("DAGSTER_HOME", None)  # set by the embedded instance, not by monkeypatch


@pytest.fixture
def engine(mis_env):
    from mis_pipeline.warehouse.engine import get_engine

    return get_engine()


@pytest.fixture
def vault(engine):
    """The warehouse's keys under the session's master key."""
    from mis_pipeline.config import master_keyring
    from mis_pipeline.warehouse.vault import open_vault

    return open_vault(engine, master_keyring())


@pytest.fixture
def instance(mis_env):
    from mis_pipeline.instance import get_instance

    inst = get_instance()
    yield inst
    inst.dispose()


@pytest.fixture
def registry(simulator, instance):
    """An instance set up as an operator would: the simulator's GIAS extract imported, the schools
    discovered, and every approved school's acceptance of the data sharing agreement recorded."""
    from datetime import date

    from mis_pipeline.cli.runs import run_job
    from mis_pipeline.registry.jobs import DISCOVER_SCHOOLS_JOB, IMPORT_GIAS_JOB
    from mis_pipeline.registry.settings import SettingsChange, apply_settings
    from mis_pipeline.registry.store import list_schools
    from mis_pipeline.warehouse.engine import get_engine

    result = run_job(
        instance,
        IMPORT_GIAS_JOB,
        {"ops": {"gias_establishments": {"config": {"path": os.environ["MIS_TEST_GIAS"]}}}},
    )
    assert result.success
    assert run_job(instance, DISCOVER_SCHOOLS_JOB).success
    engine = get_engine()
    apply_settings(
        engine,
        [s.urn for s in list_schools(engine)],
        SettingsChange(agreement_accepted_on=date(2026, 9, 1), agreement_version="1.0"),
        actor="test set-up",
    )
    return instance
