"""Wonde regional domains against the real simulator (connectors.md §1.2): the school object's
`region.domain` names the host that serves the school's data, and "using the wrong domain for a
school will return no data". The simulator serves a moved school's region on a loopback listener
of its own, which stands in for e.g. api-ap-southeast-2.wonde.com."""

from __future__ import annotations

from datetime import date

import pytest

from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline.sync.sources import ReadRequest, WondeSource
from mis_pipeline_tests.simulator.support import SEED, TOKEN
from mis_simulator.datasets import datasets_for
from mis_simulator.population import build_population
from mis_simulator.server import SimulatorServer

EVERY_ITEM = ("pupils", "pupil_details", "attendance_sessions", "assessment_results", "pupil_groups")


@pytest.fixture(scope="module")
def regional():
    """School 0 moved to Australia; school 1 stays at home. Both grant every item."""
    population = build_population(SEED, 2, 9)
    for school in population.schools:
        school.permissions = dict.fromkeys(school.permissions, True)
    with SimulatorServer(
        population, token=TOKEN, regional_schools={population.schools[0].id: "AUS"}
    ) as server:
        yield server, population.schools[0], population.schools[1]


def client(server: SimulatorServer) -> WondeResource:
    return WondeResource(
        api_url=server.wonde_url, api_token=TOKEN, per_page=4, backoff_factor=0.01, requests_per_second=0
    )


def ids(pages) -> list[str]:
    return [row["id"] for page in pages for row in page]


def test_the_school_object_names_the_regional_domain_and_the_client_follows_it(regional, loopback_allowed):
    server, away, home = regional
    wonde = client(server)
    region = wonde.get_school(away.id)["region"]
    regional_host = server.region_url("AUS").removeprefix("http://").removesuffix("/v1.0")
    assert (region["code"], region["domain"]) == ("AUS", regional_host)
    assert region["school_url"] == f"{server.region_url('AUS')}/schools/{away.id}"
    assert wonde.school_base_url(wonde.get_school(away.id)) == server.region_url("AUS") != server.wonde_url
    assert wonde.school_base_url(wonde.get_school(home.id)) == server.wonde_url  # api.wonde.com: kept


def test_each_domain_serves_its_own_schools_and_no_data_for_the_others(regional, loopback_allowed):
    server, away, home = regional
    wonde, abroad = client(server), server.region_url("AUS")
    assert ids(wonde.iter_student_pages(away.id, base_url=abroad)) == [p.id for p in away.pupils]  # 3 pages
    assert ids(wonde.iter_student_pages(away.id)) == []
    assert ids(wonde.iter_student_pages(home.id, base_url=abroad)) == []
    assert ids(wonde.iter_student_pages(home.id)) == [p.id for p in home.pupils]


def test_a_sync_reads_every_item_of_a_regional_school_from_its_domain_only(regional, loopback_allowed):
    server, away, _ = regional
    server.clear_request_log()
    request = ReadRequest(away.urn, away.id, EVERY_ITEM, {}, {}, date(2026, 9, 1), date(2026, 11, 30))
    fetched = {read.dataset: read.fetched for read in WondeSource(client(server)).read(request)}
    truth = datasets_for(server.population, away)
    assert fetched == {
        "pupils": 9,
        "pupil_details": 9,
        "attendance_sessions": len(truth.attendance),
        "assessment_results": len(truth.results),
        "pupil_groups": len(truth.groups),
    }
    regional_host = server.region_url("AUS").removeprefix("http://").removesuffix("/v1.0")
    hosts = {(r.path == f"/v1.0/schools/{away.id}", r.host) for r in server.request_log}
    assert hosts == {
        (True, f"{server.host}:{server.port}"),
        (False, regional_host),
    }  # school object, then data
