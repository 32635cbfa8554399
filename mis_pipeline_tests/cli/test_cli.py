"""The console script as an operator runs it: a real process, real instance, real simulator."""

import json
import os
import shutil
import subprocess
import sys

import pytest

CLI = shutil.which("mis-pipeline") or os.path.join(os.path.dirname(sys.executable), "mis-pipeline")


def run_cli(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=timeout, env=env or os.environ.copy()
    )


@pytest.fixture
def cli_env(mis_env, simulator, registry):
    return os.environ.copy()


def test_sync_then_status_json_lists_every_approved_school_with_its_pupil_count(cli_env, population):
    synced = run_cli("sync", env=cli_env)
    assert synced.returncode == 0, synced.stderr[-1500:]
    status = run_cli("status", "--json", env=cli_env)
    assert status.returncode == 0
    document = json.loads(status.stdout)
    assert {s["urn"]: s["counts"]["pupils"] for s in document["schools"]} == {
        school.urn: len(school.pupils) for school in population.approved_schools()
    }
    first = document["schools"][0]
    assert set(first) >= {"urn", "name", "connector", "sync_mode", "paused", "last_sync", "counts"}
    assert (first["connector"], first["sync_mode"], first["paused"]) == ("wonde", "automatic", False)
    assert first["last_sync"] is not None
    assert set(first["counts"]) >= {"pupils", "quarantined", "pending_changes"}


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_an_unknown_school_is_refused_with_a_one_line_reason(cli_env):
    result = run_cli("sync", "--school", "999999", env=cli_env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "mis-pipeline: school 999999 is not registered: no approved connector school has that URN"
    ]


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_plain_http_to_the_connector_is_refused_unless_loopback_is_allowed(cli_env):
    env = {k: v for k, v in cli_env.items() if k != "MIS_ALLOW_LOOPBACK_HTTP"}
    env["MIS_DISCOVERY_MAX_AGE_MINUTES"] = "0"  # discover first, even though the registry is fresh
    result = run_cli("sync", env=env)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("mis-pipeline: school discovery failed:") and "MIS_ALLOW_LOOPBACK_HTTP" in line


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_status_before_any_discovery_says_how_to_start(mis_env):
    result = run_cli("status", env=os.environ.copy())
    assert result.returncode == 0
    assert "run `mis-pipeline schools discover`, then record each school's acceptance" in result.stdout


def test_the_simulator_prints_every_setting_a_plain_http_client_needs_and_stops_on_sigterm(tmp_path):
    import signal

    process = subprocess.Popen(
        [
            CLI,
            "simulator",
            "serve",
            "--port",
            "0",
            "--schools",
            "2",
            "--pupils-per-school",
            "2",
            "--xod-secrets-out",
            str(tmp_path / "secrets.json"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        printed = [process.stdout.readline().strip().partition("=")[::2] for _ in range(6)]
        assert [name for name, _ in printed] == [
            "WONDE_API_URL",
            "WONDE_API_TOKEN",
            "XPORTER_API_URL",
            "XPORTER_RELYING_PARTY",
            "XPORTER_SCHOOL_SECRETS",
            "MIS_ALLOW_LOOPBACK_HTTP",
        ]
        assert dict(printed)["MIS_ALLOW_LOOPBACK_HTTP"] == "1"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
