"""The Wonde client under random faults, over HTTPS, paced, and choosing regional hosts."""

from __future__ import annotations

import threading
import time

import pytest

from mis_pipeline.connectors.errors import InsecureTransportError
from mis_pipeline.connectors.http import CertificateVerificationError, HostRateLimiter, build_session
from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline_tests.simulator.support import SEED, TOKEN, wonde_schools
from mis_simulator.faults import Fault
from mis_simulator.population import build_population
from mis_simulator.server import SimulatorServer


def read_everything(client: WondeResource) -> dict:
    """Every approved school and all its student rows, as the client returns them."""
    schools = list(client.iter_approved_schools())
    return {
        "schools": schools,
        "students": {
            s["id"]: [row for page in client.iter_student_pages(s["id"]) for row in page] for s in schools
        },
    }


def fast_client(url: str, **overrides) -> WondeResource:
    settings = dict(api_url=url, api_token=TOKEN, per_page=10, backoff_factor=0.01, requests_per_second=0)
    return WondeResource(**{**settings, **overrides})


# -- faults ---------------------------------------------------------------------------------
def test_a_full_read_at_a_twenty_percent_fault_rate_returns_exactly_the_fault_free_records(loopback_allowed):
    population = build_population(SEED, 8, 60)  # 5 approved Wonde schools of 12 pages each: ~65 requests
    with (
        SimulatorServer(population, token=TOKEN) as clean,
        SimulatorServer(population, token=TOKEN, fault_rate=0.2, seed=SEED, retry_after_seconds=0) as faulty,
    ):
        expected = read_everything(fast_client(clean.wonde_url, per_page=5))
        assert read_everything(fast_client(faulty.wonde_url, per_page=5)) == expected
        assert sum(len(rows) for rows in expected["students"].values()) == 5 * 60  # 2 and 5 are on XoD
        statuses = [record.status for record in faulty.request_log]
        assert {429, 500, 503} <= set(statuses)
        assert len(statuses) > len(clean.request_log)


def test_a_retry_after_of_zero_is_retried_promptly(loopback_allowed):
    with SimulatorServer(build_population(SEED, 2, 3), token=TOKEN) as server:
        server.inject_faults([Fault(status=429, retry_after=0)])
        started = time.monotonic()
        assert len(list(fast_client(server.wonde_url).iter_approved_schools())) == 2
        assert time.monotonic() - started < 0.5
        assert [record.status for record in server.request_log] == [429, 200]


# -- TLS ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, population):
    with SimulatorServer(population, token=TOKEN, tls_dir=tmp_path_factory.mktemp("tls")) as running:
        yield running


@pytest.fixture()
def no_loopback_http(monkeypatch):
    monkeypatch.delenv("MIS_ALLOW_LOOPBACK_HTTP", raising=False)


def test_with_requests_ca_bundle_the_client_reads_over_https_without_the_loopback_opt_in(
    tls_server, population, monkeypatch, no_loopback_http
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_server.ca_path))
    client = fast_client(tls_server.wonde_url, per_page=7)
    assert [s["id"] for s in client.iter_approved_schools()] == [s.id for s in wonde_schools(population)]
    school = population.schools[0]
    rows = [
        row["id"] for page in client.iter_student_pages(school.id) for row in page
    ]  # 9 pages of https `next`
    assert rows == [pupil.id for pupil in school.pupils]


def test_without_the_ca_the_client_fails_fast_with_a_one_line_tls_verification_error(
    tls_server, monkeypatch, no_loopback_http
):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    client = fast_client(tls_server.wonde_url, api_token="secret-token-value", backoff_factor=0.5)
    tls_server.clear_request_log()
    started = time.monotonic()
    with pytest.raises(CertificateVerificationError) as caught:
        list(client.iter_approved_schools())
    message = str(caught.value)
    assert "TLS certificate verification failed" in message and "REQUESTS_CA_BUNDLE" in message
    assert "\n" not in message and "Traceback" not in message and "secret-token-value" not in message
    assert isinstance(caught.value, InsecureTransportError)
    assert time.monotonic() - started < 1.0  # not retried through the backoff schedule
    assert tls_server.request_log == []


def test_sessions_keep_trust_env_so_requests_ca_bundle_is_honoured():
    assert build_session().trust_env is True


# -- pacing ---------------------------------------------------------------------------------
def test_eleven_requests_at_fifty_per_second_take_at_least_a_fifth_of_a_second(
    server, population, loopback_allowed
):
    client = fast_client(server.wonde_url, requests_per_second=50)
    school_id = population.schools[0].id
    started = time.monotonic()
    for _ in range(11):
        client.get_school(school_id)
    assert time.monotonic() - started >= 0.2


def test_the_limiter_paces_all_threads_together_per_host_and_leaves_other_hosts_alone():
    limiter = HostRateLimiter()
    started = time.monotonic()
    threads = [
        threading.Thread(target=lambda: [limiter.wait("https://api.wonde.com/x", 100) for _ in range(3)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 11 / 100
    assert limiter.wait("https://api-us-west-2.wonde.com/x", 100) == 0.0
    assert limiter.wait("https://api.wonde.com/x", 0) == 0.0  # 0 = unlimited


# -- regional domain ------------------------------------------------------------------------
def school(domain: str | None) -> dict:
    return {"id": "A1930499544", "region": {"code": "AUS", "domain": domain} if domain is not None else None}


@pytest.mark.parametrize(
    ("configured", "fixture", "expected"),
    [
        ("https://api.wonde.com/v1.0", school("api.wonde.com"), "https://api.wonde.com/v1.0"),
        ("https://api.wonde.com/v1.0/", school("API.Wonde.com."), "https://api.wonde.com/v1.0"),
        (
            "https://api.wonde.com/v1.0",
            school("api-ap-southeast-2.wonde.com"),
            "https://api-ap-southeast-2.wonde.com/v1.0",
        ),
        ("https://api.wonde.com/v1.0", school(None), "https://api.wonde.com/v1.0"),
        ("https://api.wonde.com/v1.0", {"id": "A1"}, "https://api.wonde.com/v1.0"),
        ("https://api.wonde.com/v1.0", school(""), "https://api.wonde.com/v1.0"),
        ("http://127.0.0.1:8710/v1.0", school("api-us-west-2.wonde.com"), "http://127.0.0.1:8710/v1.0"),
        ("https://localhost:9443/v1.0", school("api-af-south-1.wonde.com"), "https://localhost:9443/v1.0"),
    ],
)
def test_school_base_url_follows_the_region_domain_except_for_a_loopback_simulator(
    configured, fixture, expected
):
    assert WondeResource(api_url=configured, api_token=TOKEN).school_base_url(fixture) == expected


def test_a_region_domain_outside_wonde_com_is_refused_rather_than_sent_the_token():
    client = WondeResource(api_token=TOKEN)
    for domain in ("evil.example.com", "api.wonde.com.evil.example", "wonde.com@evil.example"):
        with pytest.raises(InsecureTransportError, match="outside wonde.com"):
            client.school_base_url(school(domain))


def test_data_methods_read_from_the_base_url_they_are_given(server, population, loopback_allowed):
    client = fast_client(server.wonde_url, per_page=7)
    other = f"http://localhost:{server.port}/v1.0"  # same simulator, a different origin
    server.clear_request_log()
    school = population.schools[0]
    assert client.get_school(school.id, base_url=other)["id"] == school.id
    assert len(client.get_permissions(school.id, base_url=other)) == 5
    rows = [row["id"] for page in client.iter_student_pages(school.id, base_url=other) for row in page]
    assert rows == [pupil.id for pupil in school.pupils]  # localhost `next` links accepted for that base
    assert client.school_base_url(client.get_school(school.id)) == server.wonde_url
