"""The Wonde normaliser on the recorded real shapes (connectors.md §1.4) and the documented variants."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime

import pytest

from mis_pipeline.connectors.canonical import RecordDefect
from mis_pipeline.connectors.wonde.normalise import (
    CORE_KEYS,
    normalise_wonde_school,
    normalise_wonde_student,
    wonde_date,
    wonde_datetime,
    wonde_utc,
)
from mis_simulator.population import build_population
from mis_simulator.wonde_api import render_student

RECORDED = {  # the real 2016 record, with education_details as documented
    "id": "A1039521228",
    "upi": "36e4f5c3264740a3af91abb6c50094d2",
    "mis_id": "9919",
    "initials": "GA",
    "title": None,
    "surname": "Shields",
    "forename": "Manuel",
    "middle_names": "Chris",
    "legal_surname": "Shields",
    "legal_forename": "Manuel",
    "gender": "MALE",
    "gender_identity": None,
    "date_of_birth": {"date": "2002-09-29 00:00:00.000000", "timezone_type": 3, "timezone": "Europe/London"},
    "restored_at": None,
    "created_at": {"date": "2016-01-28 14:43:29.000000", "timezone_type": 3, "timezone": "UTC"},
    "updated_at": {"date": "2016-10-04 08:48:52.000000", "timezone_type": 3, "timezone": "UTC"},
    "education_details": {
        "data": {
            "admission_number": "001275",
            "upn": "A123456789012",
            "former_upn": None,
            "local_upn": None,
            "learner_number": None,
            "current_nc_year": "10",
            "part_time": False,
            "part_time_rate": None,
            "admission_date": {
                "date": "2012-09-01 00:00:00.000000",
                "timezone_type": 3,
                "timezone": "Europe/London",
            },
            "leaving_date": None,
        }
    },
}


def test_the_recorded_real_student_normalises_to_the_core_record():
    assert normalise_wonde_student(RECORDED, "100002") == {
        "school_urn": "100002",
        "connector": "wonde",
        "connector_pupil_id": "A1039521228",
        "upi": "36e4f5c3264740a3af91abb6c50094d2",
        "mis_id": "9919",
        "upn": "A123456789012",
        "former_upn": None,
        "legal_forename": "Manuel",
        "legal_surname": "Shields",
        "forename": "Manuel",
        "surname": "Shields",
        "middle_names": "Chris",
        "date_of_birth": date(2002, 9, 29),
        "sex": "M",
        "nc_year": "10",
        "admission_date": date(2012, 9, 1),
        "leaving_date": None,
        "source_updated_at": datetime(2016, 10, 4, 8, 48, 52, tzinfo=UTC),
    }


def test_the_core_record_has_exactly_the_core_keys():
    assert tuple(normalise_wonde_student(RECORDED, "1")) == CORE_KEYS


def test_plain_date_strings_are_accepted_as_the_docs_describe():
    raw = {
        **RECORDED,
        "date_of_birth": "2010-02-11",
        "updated_at": "2024-07-19T02:11:09Z",
        "education_details": {"data": {"current_nc_year": "R", "admission_date": "2014-09-03"}},
    }
    record = normalise_wonde_student(raw, "1")
    assert record["date_of_birth"] == date(2010, 2, 11) and record["admission_date"] == date(2014, 9, 3)
    assert record["source_updated_at"] == datetime(2024, 7, 19, 2, 11, 9, tzinfo=UTC)
    assert record["nc_year"] == "R"


def test_missing_legal_names_fall_back_to_the_preferred_names():
    raw = {key: value for key, value in RECORDED.items() if not key.startswith("legal_")}
    record = normalise_wonde_student({**raw, "forename": "Zoë", "surname": "O'Connor"}, "1")
    assert (record["legal_forename"], record["legal_surname"]) == ("Zoë", "O'Connor")


def test_a_student_without_education_details_has_no_upn_or_year():
    raw = {key: value for key, value in RECORDED.items() if key != "education_details"}
    record = normalise_wonde_student(raw, "1")
    assert record["upn"] is None and record["nc_year"] is None and record["admission_date"] is None
    assert normalise_wonde_student({**raw, "education_details": {"data": None}}, "1")["upn"] is None


def test_sex_maps_male_and_female_and_anything_else_to_none():
    assert normalise_wonde_student({**RECORDED, "gender": "FEMALE"}, "1")["sex"] == "F"
    assert normalise_wonde_student({**RECORDED, "gender": None}, "1")["sex"] is None


def test_a_student_without_updated_at_takes_the_syncs_time_and_without_one_says_the_field_is_missing():
    received = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    assert (
        normalise_wonde_student({**RECORDED, "updated_at": None}, "1", received)["source_updated_at"]
        == received
    )
    with pytest.raises(RecordDefect, match="^updated_at: missing$"):
        normalise_wonde_student({**RECORDED, "updated_at": None}, "1")


def test_a_london_midnight_date_of_birth_does_not_slip_a_day():
    value = {"date": "2002-06-29 00:00:00.000000", "timezone_type": 3, "timezone": "Europe/London"}
    assert wonde_date(value) == date(2002, 6, 29)
    assert wonde_utc(value) == datetime(2002, 6, 28, 23, 0, tzinfo=UTC)


def test_wonde_datetime_reads_objects_strings_and_nothing():
    assert wonde_datetime(None) is None and wonde_datetime("") is None
    assert wonde_datetime("2026-09-01") == date(2026, 9, 1)
    assert wonde_datetime("2026-09-01 10:00:00") == datetime(2026, 9, 1, 10, tzinfo=UTC)
    assert wonde_datetime(
        {"date": "2026-09-01 10:00:00.000000", "timezone_type": 3, "timezone": "UTC"}
    ).tzinfo


def test_the_school_urn_becomes_a_string_because_wonde_sends_an_int():
    raw = {
        "id": "A1930499544",
        "name": "Wonde Testing School",
        "establishment_number": "10000",
        "urn": 10003,
        "phase_of_education": "SECONDARY",
        "la_code": "10000",
        "mis": "SIMS",
    }
    assert normalise_wonde_school(raw)["urn"] == "10003"


def test_simulated_students_round_trip_to_the_population_values():
    school = build_population(7, 1, 40).schools[0]
    for pupil in school.pupils:
        raw = json.loads(json.dumps(render_student(pupil, True)))
        record = normalise_wonde_student(raw, school.urn)
        assert (record["upn"], record["date_of_birth"], record["nc_year"]) == (
            pupil.upn,
            pupil.date_of_birth,
            pupil.current_nc_year,
        )
        assert (
            record["source_updated_at"] == pupil.updated_at and record["legal_surname"] == pupil.legal_surname
        )


def test_normalising_fifty_thousand_students_is_fast():
    school = build_population(7, 1, 500).schools[0]
    raws = [json.loads(json.dumps(render_student(p, True))) for p in school.pupils] * 100
    started = time.perf_counter()
    for raw in raws:
        normalise_wonde_student(raw, "1")
    # ~0.2 s on the shared 2-vCPU box (0.8 s per 200k); bound loosely to avoid flakes.
    assert time.perf_counter() - started < 1.5
