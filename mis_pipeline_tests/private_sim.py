"""A simulator of the test's own, with pipelines set up against it through the CLI, for tests that
move the source's time on (the session simulator is shared and must not change)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

CLI = shutil.which("mis-pipeline") or os.path.join(os.path.dirname(sys.executable), "mis-pipeline")
TOKEN = "sim-token"


def cli(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"mis-pipeline {' '.join(args)} failed: {result.stderr[-1500:]}")
    return result


@contextmanager
def private_simulator(population, folder: Path):
    """Start a simulator of `population` with its GIAS extract and XoD secrets written to `folder`;
    yields (server, the connector settings for the CLI)."""
    from mis_simulator.gias import write_gias_extract
    from mis_simulator.server import SimulatorServer
    from mis_simulator.xod_api import write_xod_secrets

    gias = write_gias_extract(population, folder / "edubasealldata.csv")
    secrets = write_xod_secrets(population, folder / "xod-secrets.json")
    with SimulatorServer(population, token=TOKEN).start() as server:
        env = {
            **os.environ,
            "WONDE_API_URL": server.wonde_url,
            "WONDE_API_TOKEN": TOKEN,
            "XPORTER_API_URL": server.xod_url,
            "XPORTER_SCHOOL_SECRETS": str(secrets),
            "MIS_TEST_GIAS": str(gias),
        }
        env.pop("DAGSTER_HOME", None)
        yield server, env


def set_up_pipeline(simulator_env: dict, home: Path, warehouse_url: str, accept: bool = True) -> dict:
    """A pipeline (its own MIS_HOME and warehouse) as an operator sets it up: GIAS imported,
    schools discovered and, by default, every school's acceptance of the agreement recorded."""
    env = {**simulator_env, "MIS_HOME": str(home), "MIS_DATABASE_URL": warehouse_url}
    cli(env, "schools", "import-gias", env["MIS_TEST_GIAS"])
    cli(env, "schools", "discover")
    if accept:
        listed = json.loads(cli(env, "schools", "list", "--json").stdout)["schools"]
        cli(env, "schools", "set", *[s["urn"] for s in listed], "--agreement-accepted", "2026-09-01")
    return env


@contextmanager
def private_pipeline(population, folder: Path, warehouse_url: str, accept: bool = True):
    """One simulator and one pipeline against it; yields (server, env for the CLI)."""
    with private_simulator(population, folder) as (server, simulator_env):
        yield server, set_up_pipeline(simulator_env, folder / "mis_home", warehouse_url, accept)
