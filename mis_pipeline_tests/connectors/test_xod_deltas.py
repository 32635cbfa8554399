"""XoD attendance and assessment results by `changedRows` through `XodSource`, against the real
simulator: one chain per exact call, stored as {changes_key: NextChangedRows}, and a full read
from `*` whenever the stored chain does not fit the call (a new school year, an expired hash, a
cursor from before deltas)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from mis_pipeline.connectors.xod.client import XodResource, changes_key
from mis_pipeline.sync.sources import ReadRequest, XodSource
from mis_pipeline_tests.simulator.support import SEED, xod_server
from mis_simulator.datasets import datasets_for
from mis_simulator.population import build_population
from mis_simulator.xod_api import estab_of, write_xod_secrets

ITEMS = ("pupils", "attendance_sessions", "assessment_results")
YEAR = (date(2026, 9, 1), date(2026, 11, 30))
AT = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


@pytest.fixture()
def xod(tmp_path, loopback_allowed):
    """A served XoD school granting every item, and a source reading it."""
    population = build_population(SEED, 3, 12)
    school = population.schools[2]
    school.permissions = dict.fromkeys(school.permissions, True)
    with xod_server(population, serve_all_schools_on_both=False) as (server, api, base):
        resource = XodResource(
            api_url=base,
            relying_party=server.xod_relying_party,
            page_size=50,
            requests_per_second=0,
            school_secrets_path=str(write_xod_secrets(population, tmp_path / "secrets.json")),
        )
        yield server, school, XodSource(resource)


def read(source: XodSource, school, cursors: dict, year=YEAR) -> dict:
    request = ReadRequest(school.urn, estab_of(school), ITEMS, cursors, {}, *year)
    return {r.dataset: r for r in source.read(request)}


def sent(server, endpoint: str) -> list[str]:
    """The changedRows of each call to `endpoint` (its first page: later pages repeat it)."""
    return [
        r.query["changedRows"][0]
        for r in server.request_log
        if r.path.endswith(f"/{endpoint}") and r.query["page"] == ["1"]
    ]


def test_attendance_keeps_an_am_and_a_pm_chain_for_the_whole_school_year(xod):
    server, school, source = xod
    first = read(source, school, {})
    chains = json.loads(first["attendance_sessions"].next_cursor)
    window = {"DateFrom": "2026-09-01", "DateTo": "2027-08-31", "options": "includeLeavers"}
    assert set(chains) == {
        changes_key("AttendanceForDateRange", {**window, "SessionType": s}) for s in ("AM", "PM")
    }
    truth = datasets_for(server.population, school)
    assert first["attendance_sessions"].fetched == len(truth.attendance)
    assert first["assessment_results"].fetched == len(truth.results) and first["assessment_results"].full
    changes = server.advance(at=AT).schools[school.urn]
    server.clear_request_log()
    cursors = {d: first[d].next_cursor for d in ITEMS}
    second = read(source, school, cursors)
    assert sorted(sent(server, "AttendanceForDateRange")) == sorted(chains.values())
    assert sent(server, "assessmentresults") == list(json.loads(cursors["assessment_results"]).values())
    arrived = len(changes.new) + len(changes.restored)
    assert second["attendance_sessions"].fetched == 20 * arrived and not second["attendance_sessions"].full
    assert second["assessment_results"].fetched == 6 * arrived and not second["assessment_results"].full


def test_a_new_school_year_starts_the_attendance_chain_again_from_a_full_read(xod):
    server, school, source = xod
    last_year = read(source, school, {}, year=(date(2025, 9, 1), date(2026, 7, 20)))
    server.clear_request_log()
    read(source, school, {"attendance_sessions": last_year["attendance_sessions"].next_cursor})
    assert sent(server, "AttendanceForDateRange") == ["*", "*"]


@pytest.mark.parametrize("stored", ["2026-11-30T09:00:00+00:00", "not json", json.dumps(["a", "list"])])
def test_a_cursor_that_is_no_chain_map_is_read_as_no_chain(xod, stored):
    server, school, source = xod
    reads = read(source, school, {"attendance_sessions": stored, "assessment_results": stored})
    assert sent(server, "AttendanceForDateRange") == ["*", "*"] and sent(server, "assessmentresults") == ["*"]
    assert reads["assessment_results"].full


def test_an_expired_hash_falls_back_to_a_full_read_of_that_item_only(xod):
    server, school, source = xod
    first = read(source, school, {})
    server.xod.snapshot_ttl_seconds = 0  # every stored hash has now expired
    server.clear_request_log()
    again = read(source, school, {d: first[d].next_cursor for d in ITEMS})
    results = json.loads(first["assessment_results"].next_cursor)
    assert sent(server, "assessmentresults") == [*results.values(), "*"]
    assert (
        again["assessment_results"].full
        and again["assessment_results"].fetched == first["assessment_results"].fetched
    )
    assert again["attendance_sessions"].fetched == first["attendance_sessions"].fetched
