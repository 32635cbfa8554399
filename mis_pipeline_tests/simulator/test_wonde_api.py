"""The simulator's Wonde API over real loopback HTTP, checked against connectors.md §1 and §3."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from urllib.parse import parse_qsl, urlsplit

from mis_pipeline_tests.simulator.support import SEED, TOKEN, basic, bearer, get, wonde_schools
from mis_simulator.population import build_population
from mis_simulator.server import SimulatorServer


def students_path(school) -> str:
    return f"schools/{school.id}/students"


def test_a_small_result_without_per_page_has_no_pagination_object(server, population):
    body = get(server, students_path(population.schools[0])).json()
    assert len(body["data"]) == 23
    assert "pagination" not in body["meta"]
    assert "education_details" in body["meta"]["includes"]


def test_per_page_forces_pagination_on_even_for_a_small_result(server, population):
    body = get(server, students_path(population.schools[0]), {"per_page": "100"}).json()
    assert body["meta"]["pagination"] == {
        "next": None,
        "previous": None,
        "more": False,
        "per_page": "100",
        "current_page": 1,
    }


def test_per_page_is_echoed_as_the_string_from_the_query(server, population):
    pagination = get(server, students_path(population.schools[0]), {"per_page": "5"}).json()["meta"][
        "pagination"
    ]
    assert pagination["per_page"] == "5" and pagination["more"] is True


def test_next_link_is_absolute_and_keeps_every_query_parameter(server, population):
    params = {"include": "education_details,contacts", "per_page": "5", "updated_after": "2026-09-01"}
    pagination = get(server, students_path(population.schools[0]), params).json()["meta"]["pagination"]
    link = urlsplit(pagination["next"])
    assert f"{link.scheme}://{link.netloc}" == server.wonde_url.rsplit("/v1.0", 1)[0]
    assert link.path == f"/v1.0/{students_path(population.schools[0])}"
    assert dict(parse_qsl(link.query)) == {**params, "page": "2"}
    assert "include=education_details,contacts" in link.query  # commas stay literal, as recorded


def test_following_next_visits_every_row_once_with_previous_more_and_current_page(server, population):
    school = population.schools[0]
    url, seen, pages = f"{server.wonde_url}/{students_path(school)}?per_page=10", [], []
    while url:
        body = get_url(url)
        pagination = body["meta"]["pagination"]
        pages.append((pagination["current_page"], pagination["more"], pagination["previous"] is not None))
        seen += [row["id"] for row in body["data"]]
        url = pagination["next"]
    assert pages == [(1, True, False), (2, True, True), (3, False, True)]
    assert seen == [pupil.id for pupil in school.pupils]


def get_url(url: str) -> dict:
    import requests

    return requests.get(url, headers=bearer(), timeout=10).json()


def test_a_large_result_without_per_page_is_paged_by_fifty_with_an_integer_per_page(large_server):
    school = large_server.population.schools[0]
    pagination = get(large_server, students_path(school)).json()["meta"]["pagination"]
    assert pagination["per_page"] == 50 and pagination["more"] is True


def test_per_page_is_clamped_to_two_hundred(large_server):
    school = large_server.population.schools[0]
    body = get(large_server, students_path(school), {"per_page": "1000"}).json()
    assert len(body["data"]) == 200
    assert body["meta"]["pagination"]["per_page"] == "200"


def test_a_page_beyond_the_end_is_empty_with_no_next(server, population):
    body = get(server, students_path(population.schools[0]), {"per_page": "10", "page": "9"}).json()
    assert body["data"] == [] and body["meta"]["pagination"]["next"] is None


def test_updated_after_keeps_only_strictly_later_pupils(server, population):
    school = population.schools[1]
    pivot = sorted(p.updated_at for p in school.pupils)[10]
    text = pivot.strftime("%Y-%m-%d %H:%M:%S")
    rows = get(server, students_path(school), {"updated_after": text}).json()["data"]
    assert {row["id"] for row in rows} == {p.id for p in school.pupils if p.updated_at > pivot}


def test_updated_after_accepts_a_plain_date_and_updated_before_is_strict(server, population):
    school = population.schools[1]
    rows = get(
        server, students_path(school), {"updated_after": "2026-10-01", "updated_before": "2026-10-15"}
    ).json()
    expected = {
        p.id for p in school.pupils if "2026-10-01" <= p.updated_at.strftime("%Y-%m-%d") < "2026-10-15"
    }
    assert {row["id"] for row in rows["data"]} == expected


def test_an_unparseable_updated_after_is_a_422(server, population):
    assert (
        get(server, students_path(population.schools[1]), {"updated_after": "yesterday"}).status_code == 422
    )


def test_upn_and_nc_year_appear_only_inside_education_details(server, population):
    school = population.schools[0]
    plain = get(server, students_path(school)).json()["data"][0]
    included = get(server, students_path(school), {"include": "education_details"}).json()["data"][0]
    assert "education_details" not in plain and "upn" not in plain and "current_nc_year" not in plain
    details = included["education_details"]["data"]
    assert (
        details["upn"] == school.pupils[0].upn
        and details["current_nc_year"] == school.pupils[0].current_nc_year
    )
    assert details["former_upn"] is None and details["leaving_date"] is None


def test_dates_are_php_datetime_objects(server, population):
    row = get(server, students_path(population.schools[0]), {"include": "education_details"}).json()["data"][
        0
    ]
    assert row["updated_at"]["timezone"] == "UTC" and row["updated_at"]["timezone_type"] == 3
    assert len(row["updated_at"]["date"]) == len("2016-10-04 08:48:52.000000")
    assert row["date_of_birth"]["timezone"] == "Europe/London"
    assert row["education_details"]["data"]["admission_date"]["date"].endswith(" 00:00:00.000000")
    assert row["gender"] in ("MALE", "FEMALE") and isinstance(row["mis_id"], str)


def test_json_is_utf8_without_ascii_escapes(server, population):
    response = get(server, students_path(population.schools[0]))
    assert response.headers["Content-Type"] == "application/json"
    assert b"\\u" not in response.content
    assert response.content.decode("utf-8") == json.dumps(
        response.json(), ensure_ascii=False, separators=(",", ":")
    )


def test_bearer_and_basic_authentication_are_both_accepted(server):
    assert get(server, "schools", headers=bearer()).status_code == 200
    assert get(server, "schools", headers=basic()).status_code == 200


def test_a_missing_or_wrong_token_is_401_unauthenticated(server):
    for headers in ({}, bearer("nope"), basic("nope"), {"Authorization": "Token test-token"}):
        response = get(server, "schools", headers=headers)
        assert (response.status_code, response.json()) == (401, {"error": "Unauthenticated."})


def test_schools_lists_only_approved_schools_and_the_state_lists_the_rest(server, population):
    def ids(path):
        return [row["id"] for row in get(server, path).json()["data"]]

    assert ids("schools") == [s.id for s in wonde_schools(population)]
    assert ids("schools/pending") == [population.schools[6].id]
    assert ids("schools/revoked") == [population.schools[10].id]


def test_a_school_object_has_the_recorded_shape(server, population):
    school = population.schools[0]
    body = get(server, f"schools/{school.id}").json()
    assert body["meta"] == {"includes": ["cbds"]}
    assert body["data"]["urn"] == int(school.urn) and body["data"]["la_code"] == school.la_code
    assert body["data"]["phase_of_education"] == school.phase_of_education


def test_an_unknown_school_is_404(server):
    assert get(server, "schools/A0000000001").status_code == 404
    assert get(server, "schools/A0000000001/students").status_code == 404


def test_students_of_a_pending_or_revoked_school_are_403(server, population):
    assert get(server, students_path(population.schools[6])).status_code == 403
    assert get(server, students_path(population.schools[10])).status_code == 403


def test_students_without_the_students_read_permission_are_403():
    population = build_population(SEED, 1, 3)
    population.schools[0].permissions["students.read"] = False
    with SimulatorServer(population, token=TOKEN) as server:
        assert get(server, students_path(population.schools[0])).status_code == 403


def test_permissions_are_listed_as_permission_objects(server, population):
    rows = get(server, f"meta/schools/{population.schools[0].id}/permissions").json()["data"]
    by_identity = {row["identity"]: row for row in rows}
    assert by_identity["students.read"]["approved"] is True
    assert set(rows[0]) >= {"identity", "name", "approved", "optional", "audited", "declined", "active_from"}


def test_the_request_log_records_method_path_query_and_status(server, population):
    server.clear_request_log()
    get(server, "schools", {"per_page": "3"})
    get(server, "schools/A0000000001")
    log = server.request_log
    assert [(r.method, r.path, r.status) for r in log] == [
        ("GET", "/v1.0/schools", 200),
        ("GET", "/v1.0/schools/A0000000001", 404),
    ]
    assert log[0].query == {"per_page": ["3"]}


def test_injected_faults_are_spent_one_per_request_in_order(server):
    server.inject_faults([429, "garble"])
    first, second, third = (get(server, "schools") for _ in range(3))
    assert first.status_code == 429 and first.headers["Retry-After"] == "1"
    assert second.status_code == 200 and second.headers["Content-Type"] == "text/html"
    assert third.status_code == 200 and third.json()["data"]


def test_cli_prints_its_settings_and_exits_cleanly_on_sigterm():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mis_simulator", "--port", "0", "--schools", "2", "--pupils-per-school", "3"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url_line, token_line = process.stdout.readline().strip(), process.stdout.readline().strip()
        assert url_line.startswith("WONDE_API_URL=http://127.0.0.1:") and url_line.endswith("/v1.0")
        assert token_line == "WONDE_API_TOKEN=sim-token"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
