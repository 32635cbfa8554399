"""WondeResource against the real simulator over loopback HTTP: no HTTP mocks."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from mis_pipeline.connectors.errors import (
    ConnectorAuthError,
    ConnectorUnavailableError,
    InsecureTransportError,
    InvalidResponseError,
    NotAuthorisedError,
    UnknownSchoolError,
)
from mis_pipeline.connectors.wonde.client import WondeResource, format_updated_after, parse_pagination
from mis_pipeline_tests.simulator.support import TOKEN, wonde_schools
from mis_simulator.faults import Fault


def student_ids(client, school_id, **kwargs):
    return [row["id"] for page in client.iter_student_pages(school_id, **kwargs) for row in page]


def test_client_follows_next_across_many_pages_and_returns_exactly_the_population(client, server, population):
    school = population.schools[0]
    server.clear_request_log()
    assert student_ids(client, school.id) == [pupil.id for pupil in school.pupils]
    assert len(server.request_log) == 9  # 57 pupils at 7 a page
    first = server.request_log[0].query
    assert first["include"] == ["education_details"] and first["per_page"] == ["7"]


def test_client_yields_pages_one_at_a_time(client, population):
    pages = client.iter_student_pages(population.schools[0].id)
    assert len(next(pages)) == 7


def test_student_rows_carry_education_details(client, population):
    row = next(client.iter_student_pages(population.schools[0].id))[0]
    assert row["education_details"]["data"]["upn"] == population.schools[0].pupils[0].upn


def test_client_lists_only_approved_schools_across_pages(client, population):
    assert [s["id"] for s in client.iter_approved_schools()] == [s.id for s in wonde_schools(population)]


def test_client_reads_a_school_and_its_permissions(client, population):
    school = population.schools[0]
    assert client.get_school(school.id)["urn"] == int(school.urn)
    identities = {row["identity"]: row["approved"] for row in client.get_permissions(school.id)}
    assert identities == school.permissions


def test_client_tolerates_a_response_without_meta(client, server, population):
    server.clear_request_log()
    assert len(client.get_permissions(population.schools[1].id)) == 5  # that endpoint sends no meta
    assert len(server.request_log) == 1


def test_updated_after_is_sent_in_utc_and_filters_the_pupils(client, server, population):
    school = population.schools[3]  # index 2 is on XoD
    pivot = sorted(p.updated_at for p in school.pupils)[20].replace(microsecond=0)
    in_london = pivot.astimezone(timezone(timedelta(hours=1)))
    server.clear_request_log()
    ids = student_ids(client, school.id, updated_after=in_london)
    assert set(ids) == {p.id for p in school.pupils if p.updated_at > pivot}
    assert server.request_log[0].query["updated_after"] == [pivot.strftime("%Y-%m-%d %H:%M:%S")]


def test_format_updated_after_treats_naive_datetimes_as_utc():
    assert format_updated_after(datetime(2026, 9, 1, 8, 5, 3)) == "2026-09-01 08:05:03"


def test_pagination_per_page_and_current_page_strings_are_coerced_to_int():
    body = {"meta": {"pagination": {"next": None, "more": False, "per_page": "10", "current_page": "2"}}}
    assert parse_pagination(body)["per_page"] == 10 and parse_pagination(body)["current_page"] == 2
    assert parse_pagination({"data": []}) is None and parse_pagination({"meta": []}) is None


def test_basic_auth_scheme_is_accepted(server, loopback_allowed, population):
    basic = WondeResource(api_url=server.wonde_url, api_token=TOKEN, auth_scheme="basic")
    assert len(list(basic.iter_approved_schools())) == len(wonde_schools(population))


def test_a_wrong_token_raises_an_auth_error_that_never_shows_the_token(server, loopback_allowed):
    wrong = WondeResource(api_url=server.wonde_url, api_token="secret-wrong-token")
    with pytest.raises(ConnectorAuthError) as caught:
        list(wrong.iter_approved_schools())
    assert "secret-wrong-token" not in str(caught.value) and "401" in str(caught.value)


def test_a_pending_school_raises_not_authorised_naming_the_school(client, population):
    pending = population.schools[6]
    with pytest.raises(NotAuthorisedError) as caught:
        list(client.iter_student_pages(pending.id))
    message = str(caught.value)
    assert pending.id in message and "403" in message and "\n" not in message
    assert "?" not in message and "per_page" not in message


def test_an_unknown_school_raises_unknown_school(client):
    with pytest.raises(UnknownSchoolError):
        client.get_school("A0000000001")


def test_plain_http_is_refused_without_the_loopback_opt_in(server, monkeypatch):
    monkeypatch.delenv("MIS_ALLOW_LOOPBACK_HTTP", raising=False)
    server.clear_request_log()
    with pytest.raises(InsecureTransportError, match="MIS_ALLOW_LOOPBACK_HTTP"):
        list(WondeResource(api_url=server.wonde_url, api_token=TOKEN).iter_approved_schools())
    assert server.request_log == []


def test_plain_http_to_a_non_loopback_host_is_refused_even_with_the_opt_in(loopback_allowed):
    client = WondeResource(api_url="http://api.wonde.com/v1.0", api_token=TOKEN)
    with pytest.raises(InsecureTransportError, match="non-loopback"):
        client.get_school("A1930499544")


def test_a_next_url_on_another_host_is_refused(client, server, population):
    server.wonde.public_host = f"localhost:{server.port}"  # same machine, different origin
    try:
        pages = client.iter_student_pages(population.schools[0].id)
        next(pages)
        with pytest.raises(InsecureTransportError, match="another origin"):
            next(pages)
    finally:
        server.wonde.public_host = None


@pytest.mark.parametrize("fault", [503, 500, "truncate", "garble", "drop"])
def test_client_retries_a_transient_fault_and_still_returns_every_pupil(client, server, population, fault):
    school = population.schools[3]
    server.inject_faults([fault])
    assert student_ids(client, school.id) == [pupil.id for pupil in school.pupils]
    assert len(server.faults) == 0


def test_client_waits_for_retry_after_on_a_429(client, server, population):
    server.inject_faults([429])
    started = time.monotonic()
    assert len(list(client.iter_approved_schools())) == len(wonde_schools(population))
    assert time.monotonic() - started >= 0.9


def test_client_gives_up_with_unavailable_after_its_retries(client, server):
    server.inject_faults([Fault(status=503, retry_after=0)] * 4)
    with pytest.raises(ConnectorUnavailableError, match="503"):
        list(client.iter_approved_schools())
    server.faults.clear()


def test_client_gives_up_on_bodies_that_are_never_json(client, server):
    server.inject_faults(["garble"] * 3)
    with pytest.raises(InvalidResponseError):
        list(client.iter_approved_schools())


def test_one_resource_can_be_used_from_several_threads(client, population):
    approved = wonde_schools(population)[:4]
    results: dict[str, list[str]] = {}

    def read(school_id: str) -> None:
        results[school_id] = student_ids(client, school_id)

    threads = [threading.Thread(target=read, args=(s.id,)) for s in approved]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {s.id: [p.id for p in s.pupils] for s in approved}
