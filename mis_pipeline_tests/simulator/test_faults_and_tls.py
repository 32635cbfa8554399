"""Seeded fault rate and HTTPS on the simulator, over real loopback connections."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from cryptography import x509

from mis_pipeline_tests.simulator.support import TOKEN, bearer, small_population
from mis_simulator.faults import SLOW_SECONDS, RandomFaults
from mis_simulator.server import SimulatorServer
from mis_simulator.xod_api import RELYING_PARTY


def outcome(url: str, **kwargs) -> str:
    """What one request saw: a status code, "truncated", or "slow" for a late 200."""
    started = time.monotonic()
    try:
        response = requests.get(url, headers=bearer(), timeout=10, **kwargs)
    except requests.exceptions.ChunkedEncodingError:
        return "truncated"
    if response.status_code == 200 and time.monotonic() - started >= SLOW_SECONDS:
        return "slow"
    return str(response.status_code)


def test_the_fault_rate_draws_the_same_faults_for_the_same_seed():
    def draws(seed):
        faults = RandomFaults(0.3, seed)
        return [faults.draw() for _ in range(200)]

    assert draws(5) == draws(5)
    assert draws(5) != draws(6)
    assert 35 <= sum(fault is not None for fault in draws(5)) <= 85


def test_a_zero_fault_rate_never_draws_and_a_rate_outside_zero_to_one_is_refused():
    assert all(RandomFaults(0.0, 1).draw() is None for _ in range(100))
    with pytest.raises(ValueError):
        RandomFaults(1.5, 1)


def test_a_full_fault_rate_serves_every_kind_of_transient_fault_with_rate_limit_headers():
    with SimulatorServer(
        small_population(2, 3), token=TOKEN, fault_rate=1.0, seed=11, retry_after_seconds=0
    ) as server:
        seen = {outcome(f"{server.wonde_url}/schools") for _ in range(30)}
        assert seen == {"429", "500", "503", "slow", "truncated"}
        while True:
            response = requests.get(f"{server.wonde_url}/schools", headers=bearer(), timeout=10)
            if response.status_code == 429:
                break
        assert response.headers["Retry-After"] == "0" and response.headers["X-RateLimit-Remaining"] == "0"
        assert response.json() == {"error": "Too Many Requests"}


def test_queued_faults_take_precedence_over_the_fault_rate():
    with SimulatorServer(small_population(2, 3), token=TOKEN, fault_rate=1.0, seed=11) as server:
        server.inject_faults(["garble"])
        assert (
            requests.get(f"{server.wonde_url}/schools", headers=bearer(), timeout=10).headers["Content-Type"]
            == "text/html"
        )


def test_the_same_seed_gives_the_same_faults_request_by_request():
    def run():
        with SimulatorServer(
            small_population(2, 3), token=TOKEN, fault_rate=0.5, seed=4, retry_after_seconds=0
        ) as s:
            return [outcome(f"{s.wonde_url}/schools") for _ in range(12)]

    assert run() == run()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    with SimulatorServer(
        small_population(12, 23), token=TOKEN, tls_dir=tmp_path_factory.mktemp("tls")
    ) as running:
        yield running


def test_tls_serves_https_that_verifies_against_the_private_ca(tls_server):
    assert tls_server.wonde_url.startswith("https://127.0.0.1:")
    response = requests.get(
        f"{tls_server.wonde_url}/schools", headers=bearer(), verify=str(tls_server.ca_path), timeout=10
    )
    assert response.status_code == 200 and response.json()["data"]


def test_the_certificate_names_loopback_by_ip_and_by_localhost(tls_server):
    url = f"https://localhost:{tls_server.port}/v1.0/schools"
    assert requests.get(url, headers=bearer(), verify=str(tls_server.ca_path), timeout=10).status_code == 200
    cert = x509.load_pem_x509_certificate(tls_server.tls_files.server_cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}


def test_without_the_ca_the_certificate_is_rejected(tls_server):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{tls_server.wonde_url}/schools", headers=bearer(), verify=True, timeout=10)


def test_next_links_over_tls_are_https(tls_server):
    school = tls_server.population.schools[0]
    body = requests.get(
        f"{tls_server.wonde_url}/schools/{school.id}/students",
        params={"per_page": "5"},
        headers=bearer(),
        verify=str(tls_server.ca_path),
        timeout=10,
    ).json()
    assert body["meta"]["pagination"]["next"].startswith(f"https://127.0.0.1:{tls_server.port}/v1.0/")


def test_the_ca_is_reused_across_restarts_and_the_key_is_owner_only(tmp_path):
    with SimulatorServer(small_population(1, 1), tls_dir=tmp_path) as first:
        ca = first.ca_path.read_bytes()
    with SimulatorServer(small_population(1, 1), tls_dir=tmp_path) as second:
        assert second.ca_path.read_bytes() == ca
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o077 == 0


def test_cli_with_tls_fault_rate_gias_and_xod_secrets_out_prints_every_setting(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    gias = tmp_path / "gias" / "edubasealldata.csv"
    secrets = tmp_path / "xod" / "secrets.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mis_simulator",
            "--port",
            "0",
            "--schools",
            "3",
            "--pupils-per-school",
            "3",
            "--fault-rate",
            "0",
            "--tls-dir",
            str(tmp_path / "tls"),
            "--gias-out",
            str(gias),
            "--xod-secrets-out",
            str(secrets),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        printed = [process.stdout.readline().strip().partition("=")[::2] for _ in range(7)]
        lines = dict(printed)
        assert [name for name, _ in printed[:4]] == [
            "WONDE_API_URL",
            "WONDE_API_TOKEN",
            "XPORTER_API_URL",
            "XPORTER_RELYING_PARTY",
        ]
        assert lines["WONDE_API_URL"].startswith("https://127.0.0.1:")
        assert lines["WONDE_API_TOKEN"] == "sim-token"
        assert lines["XPORTER_API_URL"] == lines["WONDE_API_URL"].removesuffix("/v1.0") + "/api"
        assert lines["XPORTER_RELYING_PARTY"] == RELYING_PARTY
        assert lines["XPORTER_SCHOOL_SECRETS"] == str(secrets.resolve())
        assert lines["REQUESTS_CA_BUNDLE"] == str(tmp_path / "tls" / "ca.pem")
        assert lines["GIAS_EXTRACT"] == str(gias.resolve()) and gias.exists()
        response = requests.get(
            f"{lines['WONDE_API_URL']}/schools",
            headers=bearer("sim-token"),
            verify=lines["REQUESTS_CA_BUNDLE"],
            timeout=10,
        )
        assert response.status_code == 200 and len(response.json()["data"]) == 2  # school 2 is on XoD
        ((estab, secret),) = json.loads(secrets.read_text()).items()
        token = requests.post(
            f"{lines['XPORTER_API_URL']}/oauth/GetToken",
            verify=lines["REQUESTS_CA_BUNDLE"],
            json={
                "estab": estab,
                "relyingParty": lines["XPORTER_RELYING_PARTY"],
                "password": secret,
                "thirdPartyId": "XporterOnDemand",
            },
            timeout=10,
        ).json()
        assert token["ExceptionMessage"] is None and token["token"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_a_server_started_twice_still_stops():
    import threading

    from mis_simulator.population import build_population
    from mis_simulator.server import SimulatorServer

    before = {t for t in threading.enumerate() if t.name == "mis-simulator"}
    with SimulatorServer(build_population(1, 1, 2)).start() as server:
        server.start()
        assert len({t for t in threading.enumerate() if t.name == "mis-simulator"} - before) == 1
    assert {t for t in threading.enumerate() if t.name == "mis-simulator"} - before == set()
