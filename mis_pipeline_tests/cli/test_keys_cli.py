"""The master key as an operator handles it: created, rotated, wrong, missing. Real processes."""

import json
import os
import stat
import subprocess
import sys

import pytest
import sqlalchemy as sa

from mis_pipeline.lib.crypto import Keyring, MasterKey, encode_key, generate_key
from mis_pipeline.warehouse.reader import read_pupils
from mis_pipeline.warehouse.schema import metadata
from mis_pipeline.warehouse.vault import forget_vaults, open_vault
from mis_pipeline_tests.cli.test_cli import run_cli

pytestmark = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)


@pytest.fixture
def cli_env(mis_env, simulator, registry):
    return os.environ.copy()


def without_key(env: dict) -> dict:
    return {k: v for k, v in env.items() if k not in ("MIS_MASTER_KEY", "MIS_PREVIOUS_MASTER_KEYS")}


def every_row(engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {
            name: sorted(map(tuple, conn.execute(sa.select(table)).all()), key=repr)
            for name, table in metadata.tables.items()
        }


def test_keys_init_makes_an_owner_only_key_file_that_the_sync_then_uses(cli_env, mis_env):
    env = without_key(cli_env)
    created = run_cli("keys", "init", env=env)
    assert created.returncode == 0
    path = mis_env / "master.key"
    assert created.stdout.startswith(f"generated a master key at {path} (mode 0600).")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert run_cli("keys", "init", env=env).stdout.strip() == f"a local master key already exists at {path}"
    assert run_cli("sync", env=env).returncode == 0
    status = json.loads(run_cli("keys", "status", "--json", env=env).stdout)
    key_id = MasterKey.parse(path.read_text()).key_id
    assert status["current"] == key_id and [k["key_id"] for k in status["master_keys"]] == [key_id]
    assert status["master_keys"][0]["data_keys"] > 0


def test_production_refuses_to_start_without_a_master_key(cli_env):
    env = {**without_key(cli_env), "MIS_ENV": "production"}
    message = "MIS_ENV=production and MIS_MASTER_KEY is not set: refusing to start"
    synced = run_cli("sync", env=env)
    assert (synced.returncode, synced.stderr.strip()) == (1, f"mis-pipeline: {message}")
    assert run_cli("keys", "init", env=env).returncode == 1
    loaded = subprocess.run(
        [sys.executable, "-c", "import mis_pipeline.definitions"], env=env, capture_output=True, text=True
    )
    assert loaded.returncode == 1 and message in loaded.stderr


def test_a_wrong_master_key_fails_the_sync_with_a_clear_error_and_changes_nothing(cli_env, engine):
    assert run_cli("sync", env=cli_env).returncode == 0
    before = every_row(engine)
    wrong = encode_key(generate_key())
    result = run_cli("sync", env={**cli_env, "MIS_MASTER_KEY": wrong})
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        f"mis-pipeline: MIS_MASTER_KEY (key id {MasterKey.parse(wrong).key_id}) "
        "is not this warehouse's master key"
    )
    assert wrong not in result.stdout + result.stderr
    assert every_row(engine) == before


def without_deletion(pupil: dict) -> dict:
    return {k: v for k, v in pupil.items() if k != "deleted_at"}


@pytest.fixture
def own_simulator(cli_env):
    """A simulator of the same population as the session's, free to move its time on."""
    from mis_pipeline_tests.conftest import SIM_PUPILS, SIM_SCHOOLS, SIM_SEED, SIM_TOKEN
    from mis_simulator.population import build_population
    from mis_simulator.server import SimulatorServer

    with SimulatorServer(
        build_population(SIM_SEED, SIM_SCHOOLS, SIM_PUPILS), token=SIM_TOKEN
    ).start() as server:
        yield server, {**cli_env, "WONDE_API_URL": server.wonde_url, "XPORTER_API_URL": server.xod_url}


def test_rotation_then_a_sync_and_a_read_back_lose_nothing(own_simulator, engine):
    simulator, cli_env = own_simulator
    old = MasterKey.parse(cli_env["MIS_MASTER_KEY"])
    assert run_cli("sync", env=cli_env).returncode == 0
    held = read_pupils(engine, open_vault(engine, Keyring(old)))
    new_text = run_cli("keys", "generate", env=cli_env).stdout.strip()
    new = MasterKey.parse(new_text)

    rotated = run_cli(
        "keys",
        "rotate",
        env={**cli_env, "MIS_MASTER_KEY": new_text, "MIS_PREVIOUS_MASTER_KEYS": cli_env["MIS_MASTER_KEY"]},
    )
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.strip() == (
        f"re-wrapped {len(held)} data keys under master key {new.key_id}; retired master keys: {old.key_id}"
    )
    after_rotation = {**cli_env, "MIS_MASTER_KEY": new_text}
    simulator.advance()  # the sync after the rotation has real changes to write
    synced = run_cli("sync", env=after_rotation)
    assert synced.returncode == 0, synced.stderr

    forget_vaults()
    now = {p["pupil_key"]: p for p in read_pupils(engine, open_vault(engine, Keyring(new)))}
    unchanged = [
        p
        for p in held
        if p["pupil_key"] in now and now[p["pupil_key"]]["source_updated_at"] == p["source_updated_at"]
    ]
    # A pupil the source did not change reads back exactly (only a deletion mark may have appeared).
    assert unchanged and all(without_deletion(now[p["pupil_key"]]) == without_deletion(p) for p in unchanged)
    assert set(p["pupil_key"] for p in held) < set(
        now
    )  # new pupils arrived; leavers and deletions are kept, marked
    assert run_cli("sync", env=cli_env).returncode == 1  # the old key alone is retired
