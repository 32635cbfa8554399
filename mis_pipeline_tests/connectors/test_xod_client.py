"""The XoD client against the simulator over real loopback HTTP."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest

from mis_pipeline.connectors.errors import (
    ConnectorAuthError,
    InsecureTransportError,
    InvalidResponseError,
    NotAuthorisedError,
)
from mis_pipeline.connectors.xod.client import (
    SchoolPausedAtConnectorError,
    XodChangesetError,
    XodResource,
    XodResponseError,
)
from mis_pipeline_tests.simulator.support import RP, SEED, xod_server
from mis_simulator.faults import Fault
from mis_simulator.population import build_population
from mis_simulator.xod_api import error_body, estab_of, school_secret


def write_secrets(path, schools, **overrides) -> str:
    secrets = {estab_of(school): school_secret(school) for school in schools}
    secrets.update(overrides)
    path.write_text(json.dumps(secrets))
    return str(path)


@pytest.fixture(scope="module")
def xod():
    with xod_server(build_population(SEED, 12, 23)) as running:
        yield running


@pytest.fixture()
def client(xod, tmp_path, monkeypatch):
    monkeypatch.setenv("MIS_ALLOW_LOOPBACK_HTTP", "1")
    server, api, base = xod
    server.faults.clear()
    return XodResource(
        api_url=base,
        relying_party=RP,
        school_secrets_path=write_secrets(tmp_path / "s.json", api.population.schools),
        page_size=7,
        backoff_factor=0.01,
        max_retries=3,
        requests_per_second=0,
    )


def _school(api, state="approved", index=0):
    return api.population.schools_in_state(state)[index]


def gettoken_calls(server) -> int:
    return sum(1 for record in server.request_log if record.path.lower().endswith("/oauth/gettoken"))


def test_students_come_in_pages_until_page_number_reaches_page_count(xod, client):
    server, api, _ = xod
    school = _school(api)
    server.clear_request_log()
    pages = list(client.iter_student_pages(estab_of(school)))
    assert [len(page) for page in pages] == [7, 7, 7, 2]  # NextPage on the last page is not followed
    assert [row["Id"] for page in pages for row in page] == [pupil.mis_id for pupil in school.pupils]
    data_calls = [r for r in server.request_log if r.path.endswith("/Students")]
    assert len(data_calls) == 4 and all(r.query["options"] == ["includeLeavers"] for r in data_calls)


def test_the_token_is_cached_per_estab(xod, client):
    server, api, _ = xod
    first, second = _school(api, index=0), _school(api, index=1)
    server.clear_request_log()
    for school in (first, second, first):
        client.school_info(estab_of(school))
        assert client.granted_scopes(estab_of(school))
    assert gettoken_calls(server) == 2


def test_the_token_is_refreshed_before_it_expires(xod, tmp_path, monkeypatch):
    server, api, base = xod
    monkeypatch.setenv("MIS_ALLOW_LOOPBACK_HTTP", "1")
    monkeypatch.setattr(api, "token_lifetime_seconds", 2.0)  # refresh at 90%: 1.8 s
    school = _school(api)
    resource = XodResource(
        api_url=base,
        relying_party=RP,
        school_secrets_path=write_secrets(tmp_path / "s.json", [school]),
        requests_per_second=0,
    )
    server.clear_request_log()
    resource.school_info(estab_of(school))
    time.sleep(1.85)  # the server token is still valid for ~0.15 s; the client renews anyway
    resource.school_info(estab_of(school))
    assert gettoken_calls(server) == 2
    assert all(record.status == 200 for record in server.request_log)


def test_a_token_refused_mid_run_is_renewed_once(xod, client):
    server, api, _ = xod
    school = _school(api)
    client.school_info(estab_of(school))
    api.expire_tokens()
    server.clear_request_log()
    assert client.school_info(estab_of(school))["Id"] == estab_of(school)
    assert [record.status for record in server.request_log] == [401, 200, 200]


def test_a_paused_school_raises_its_own_error_once(xod, client):
    server, api, _ = xod
    school = _school(api, "pending")
    server.clear_request_log()
    with pytest.raises(SchoolPausedAtConnectorError) as caught:
        client.school_info(estab_of(school))
    assert isinstance(caught.value, NotAuthorisedError) and caught.value.school_id == estab_of(school)
    assert gettoken_calls(server) == 1


def test_a_wrong_secret_or_revoked_school_is_an_auth_error_that_names_no_secret(xod, client, tmp_path):
    _, api, base = xod
    school, revoked = _school(api), _school(api, "revoked")
    wrong = client.model_copy(
        update={
            "school_secrets_path": write_secrets(
                tmp_path / "w.json", [revoked], **{estab_of(school): "not-the-secret"}
            )
        }
    )
    for target in (school, revoked):
        with pytest.raises(ConnectorAuthError) as caught:
            wrong.school_info(estab_of(target))
        assert "secret" not in str(caught.value).replace("secret wrong", "") and "not-the-secret" not in str(
            caught.value
        )
    with pytest.raises(ConnectorAuthError):
        client.school_info("9999999")  # no secret on file


def test_a_200_with_an_exception_message_is_an_error(xod, client):
    server, api, _ = xod
    school = _school(api)
    client.school_info(estab_of(school))  # token cached, so the fault hits the data call
    body = json.dumps(error_body("Something went wrong")).encode()
    route = server.routes["/api/"]
    route.handle = lambda *args, **kwargs: (200, {"Content-Type": "application/json"}, body)
    try:
        with pytest.raises(XodResponseError) as caught:
            list(client.iter_student_pages(estab_of(school)))
    finally:
        del route.handle  # back to the class's method
    assert isinstance(caught.value, InvalidResponseError)
    assert estab_of(school) in str(caught.value) and "Something went wrong" not in str(caught.value)


def test_transient_faults_are_retried(xod, client):
    server, api, _ = xod
    school = _school(api)
    client.school_info(estab_of(school))
    server.inject_faults([Fault("status", status=503, retry_after=0), "truncate"])
    assert sum(len(page) for page in client.iter_student_pages(estab_of(school))) == 23


def test_attendance_reads_both_sessions_and_keeps_the_backslash(xod, client):
    _, api, _ = xod
    school = _school(api)
    rows = [
        row
        for page in client.iter_attendance_pages(estab_of(school), date(2026, 9, 7), date(2026, 9, 8))
        for row in page
    ]
    assert len(rows) == 23 * 2 * 2 and {row["Session"] for row in rows} == {"AM", "PM"}
    assert any(row["Mark"] == "\\" for row in rows)


def test_a_missing_scope_is_not_authorised(xod, client):
    _, api, _ = xod
    school = next(s for s in api.population.approved_schools() if not s.permissions["attendance.read"])
    with pytest.raises(NotAuthorisedError):
        list(client.iter_attendance_pages(estab_of(school), date(2026, 9, 7), date(2026, 9, 8)))


def test_assessment_rows_carry_names(xod, client):
    _, api, _ = xod
    school = _school(api)
    rows = [row for page in client.iter_assessment_pages(estab_of(school)) for row in page]
    assert len(rows) == 23 * 6 and all(row["AspectName"] and row["ResultSetName"] for row in rows)


def test_plain_http_needs_the_loopback_switch(xod, client, monkeypatch):
    monkeypatch.delenv("MIS_ALLOW_LOOPBACK_HTTP")
    with pytest.raises(InsecureTransportError):
        client.school_info(estab_of(_school(xod[1])))


def test_changed_rows_full_then_delta_with_deletions(tmp_path, monkeypatch):
    monkeypatch.setenv("MIS_ALLOW_LOOPBACK_HTTP", "1")
    population = build_population(SEED, 2, 16)
    with xod_server(population) as (server, api, base):
        school = population.schools[0]
        estab = estab_of(school)
        client = XodResource(
            api_url=base,
            relying_party=RP,
            page_size=5,
            requests_per_second=0,
            school_secrets_path=write_secrets(tmp_path / "s.json", population.schools),
        )
        full = client.student_changes(estab, None)
        with pytest.raises(RuntimeError):
            full.next_cursor  # noqa: B018 - not before every page is read
        assert sum(len(page) for page in full.pages()) == 16 and full.full and full.deleted_ids == []
        changed, removed = school.pupils[2], school.pupils[9]
        changed.surname = "Renamed"
        school.pupils.remove(removed)
        api.invalidate_cache()
        delta = client.student_changes(estab, full.next_cursor)
        rows = [row for page in delta.pages() for row in page]
        assert [(row["Id"], row["Surname"]) for row in rows] == [(changed.mis_id, "Renamed")]
        assert delta.deleted_ids == [removed.mis_id] and not delta.full
        quiet = client.student_changes(estab, delta.next_cursor)
        assert [row for page in quiet.pages() for row in page] == [] and quiet.deleted_ids == []
        with pytest.raises(XodChangesetError):
            list(client.student_changes(estab, "f" * 32).pages())
        assert all(
            r.query.get("options") == ["includeLeavers"]
            for r in server.request_log
            if r.path.endswith("Students")
        )
