"""XoD normalisers: the recorded shapes, value conventions, and a whole school over HTTP compared
with the population's ground truth."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

import pytest

from mis_pipeline.connectors.canonical import CANONICAL_FIELDS, NATURAL_KEYS
from mis_pipeline.connectors.xod.client import XodResource
from mis_pipeline.connectors.xod.normalise import (
    normalise_xod_attendance,
    normalise_xod_details,
    normalise_xod_group,
    normalise_xod_groups,
    normalise_xod_result,
    normalise_xod_student,
    xod_utc,
)
from mis_pipeline_tests.simulator.support import RP, SEED, xod_server
from mis_simulator.datasets import ATTENDANCE_START, build_school_datasets, school_days
from mis_simulator.population import build_population
from mis_simulator.xod_api import estab_of, school_secret

RECORDED_STUDENT = {  # the 2018 recording (connectors.md §2.3), trimmed, plus a UPN
    "Id": "3116",
    "XID": "xUYWRO2",
    "ExternalId": "05a289a1-d579-4285-b050-894f5e11e04a",
    "IdaasId": "PL-3116",
    "Forename": "Albus",
    "Surname": "Dumbledore",
    "Gender": "M",
    "YearGroup": "Year  4",
    "DateofBirth": "2009-01-12",
    "MiddleName": None,
    "LegalForename": "Albus",
    "LegalSurname": "Dumbledore",
    "EntryDate": "2012-09-01",
    "LeavingDate": None,
    "SENProvision": "K",
    "FSMEligible": 0,
    "PupilPremium": 0,
    "EAL": 1,
    "ServiceChild": "0",
    "InLeaCare": 0,
    "EthnicityCode": "ABAN",
    "Ethnicity": "Bangladeshi",
    "FirstLanguage": "English",
    "FirstLanguageCode": "ENG",
    "UPN": "A123456789012",
    "StudentStatus": "OnRoll",
    "LastUpdated": "2018-06-12T02:07:21.03",
    "RowHash": "D33933841636DA3C985B7F24263572B445ECE329",
}


def test_the_recorded_student_normalises_to_the_core_record():
    assert normalise_xod_student(RECORDED_STUDENT, "100002") == {
        "school_urn": "100002",
        "connector": "xod",
        "connector_pupil_id": "3116",
        "upi": "05a289a1-d579-4285-b050-894f5e11e04a",
        "mis_id": "3116",
        "upn": "A123456789012",
        "former_upn": None,
        "legal_forename": "Albus",
        "legal_surname": "Dumbledore",
        "forename": "Albus",
        "surname": "Dumbledore",
        "middle_names": None,
        "date_of_birth": date(2009, 1, 12),
        "sex": "M",
        "nc_year": "4",
        "admission_date": date(2012, 9, 1),
        "leaving_date": None,
        "source_updated_at": datetime(2018, 6, 12, 2, 7, 21, 30000, tzinfo=UTC),
    }


def test_every_normaliser_produces_exactly_the_canonical_keys():
    assert tuple(normalise_xod_student(RECORDED_STUDENT, "1")) == CANONICAL_FIELDS["pupils"]
    assert tuple(normalise_xod_details(RECORDED_STUDENT, "1")) == CANONICAL_FIELDS["pupil_details"]
    mark = {
        "Id": "9919.2016-08-26.PM",
        "Date": "2016-08-26",
        "StudentId": "9919",
        "Mark": "\\",
        "Session": "PM",
        "LastUpdated": "2016-08-26T17:00:00",
    }
    assert tuple(normalise_xod_attendance(mark, "1")) == CANONICAL_FIELDS["attendance_sessions"]
    result = {
        "Id": "1289067",
        "StudentId": "9919",
        "AspectId": "702",
        "ResultDate": "2015-09-03",
        "ResultSetId": "24",
        "Result": "6C",
        "LastUpdated": "2015-09-03T18:00:00",
    }
    assert (
        tuple(normalise_xod_result(result, "1", {"702": "Maths"}, {"24": "Autumn"}))
        == CANONICAL_FIELDS["assessment_results"]
    )
    group = {
        "Id": "31",
        "Type": "YearGrp",
        "Code": "1",
        "Name": "Year  1",
        "LastUpdated": "2017-12-20T01:38:21.48",
    }
    row = normalise_xod_group(group, {"GroupId": "31", "StudentId": "9660"}, "1")
    assert tuple(row) == CANONICAL_FIELDS["pupil_groups"]
    assert (row["group_type"], row["group_code"], row["group_name"]) == ("year", "1", "Year 1")


def test_details_use_census_codes_and_flags():
    details = normalise_xod_details(RECORDED_STUDENT, "1")
    assert (
        details["sen_status"],
        details["fsm_eligible"],
        details["eal"],
        details["first_language"],
        details["ethnicity"],
        details["in_care"],
    ) == ("K", False, True, "ENG", "ABAN", False)
    without_scope = {
        key: value
        for key, value in RECORDED_STUDENT.items()
        if key
        not in (
            "SENProvision",
            "FSMEligible",
            "PupilPremium",
            "EAL",
            "FirstLanguageCode",
            "EthnicityCode",
            "InLeaCare",
        )
    }
    assert normalise_xod_details(without_scope, "1") is None


@pytest.mark.parametrize(
    "year_group, expected",
    [
        ("Year  4", "4"),
        ("Year 11", "11"),
        ("Reception", "R"),
        ("Nursery 2", "N2"),
        ("Nursery", None),
        (None, None),
    ],
)
def test_nc_year_from_sims_year_group_names(year_group, expected):
    assert normalise_xod_student({**RECORDED_STUDENT, "YearGroup": year_group}, "1")["nc_year"] == expected


def test_an_explicit_nc_year_wins_and_timestamps_take_seven_fraction_digits():
    assert (
        normalise_xod_student({**RECORDED_STUDENT, "NCYear": "N2", "YearGroup": "Nursery"}, "1")["nc_year"]
        == "N2"
    )
    assert xod_utc("2021-04-17T09:34:46.4025550Z") == datetime(2021, 4, 17, 9, 34, 46, 402555, tzinfo=UTC)
    assert xod_utc("2021-04-17T10:34:46+01:00") == datetime(2021, 4, 17, 9, 34, 46, tzinfo=UTC)


RECEIVED = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize("inferred", [False, True], ids=["documented shapes", "inferred fields"])
def test_a_school_over_http_normalises_to_its_ground_truth(tmp_path, monkeypatch, inferred):
    """Documented shapes carry no LastUpdated on marks and results (the sync's time stands in)
    and no FormerUPN; with inferred fields the simulator's own times and former UPNs come through."""
    monkeypatch.setenv("MIS_ALLOW_LOOPBACK_HTTP", "1")
    population = build_population(SEED, 2, 30)
    school = population.schools[0]
    assert all(school.permissions.values())
    estab, urn = estab_of(school), school.urn
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({estab: school_secret(school)}))
    truth = build_school_datasets(SEED, school)
    days = school_days(ATTENDANCE_START, 10)
    with xod_server(population, inferred_fields=inferred) as (_, _, base):
        client = XodResource(
            api_url=base,
            relying_party=RP,
            school_secrets_path=str(secrets),
            page_size=11,
            requests_per_second=0,
        )
        students = [row for page in client.iter_student_pages(estab) for row in page]
        marks = [row for page in client.iter_attendance_pages(estab, days[0], days[-1]) for row in page]
        results = [row for page in client.iter_assessment_pages(estab) for row in page]
        group_pages = list(client.iter_group_pages(estab))
    groups = [row for page in group_pages for row in page["Group"]]
    members = [row for page in group_pages for row in page["StudentMembers"]]

    def by_key(rows, dataset):
        return sorted(rows, key=lambda row: tuple(row[k] for k in NATURAL_KEYS[dataset]))

    expected_pupils = [
        {
            "school_urn": urn,
            "connector": "xod",
            "connector_pupil_id": p.mis_id,
            "upi": str(uuid.UUID(hex=p.upi)),
            "mis_id": p.mis_id,
            "upn": p.upn,
            "former_upn": p.former_upn if inferred else None,
            "legal_forename": p.legal_forename,
            "legal_surname": p.legal_surname,
            "forename": p.forename,
            "surname": p.surname,
            "middle_names": p.middle_names,
            "date_of_birth": p.date_of_birth,
            "sex": p.gender[0],
            "nc_year": p.current_nc_year,
            "admission_date": p.admission_date,
            "leaving_date": p.leaving_date,
            "source_updated_at": p.updated_at,
        }
        for p in school.pupils
    ]
    assert by_key([normalise_xod_student(row, urn, RECEIVED) for row in students], "pupils") == by_key(
        expected_pupils, "pupils"
    )

    # One LastUpdated per XoD student row, so details carry the pupil's timestamp (module docstring).
    expected_details = [
        {
            "school_urn": urn,
            "pupil_mis_id": p.mis_id,
            "sen_status": d.sen_status,
            "fsm_eligible": d.fsm_eligible,
            "pupil_premium": d.pupil_premium,
            "eal": d.eal,
            "first_language": d.first_language,
            "ethnicity": d.ethnicity,
            "in_care": d.in_care,
            "source_updated_at": p.updated_at,
        }
        for p in school.pupils
        for d in [truth.details[p.id]]
    ]
    assert by_key([normalise_xod_details(row, urn) for row in students], "pupil_details") == by_key(
        expected_details, "pupil_details"
    )

    expected_marks = [
        {
            "school_urn": urn,
            "pupil_mis_id": m.mis_id,
            "session_date": m.date,
            "session": m.session,
            "mark": m.code,
            "source_updated_at": m.updated_at if inferred else RECEIVED,
        }
        for m in truth.attendance
    ]
    assert by_key(
        [normalise_xod_attendance(row, urn, RECEIVED) for row in marks], "attendance_sessions"
    ) == by_key(expected_marks, "attendance_sessions")

    aspects = {a.id: a.name for a in truth.aspects}
    result_sets = {r.id: r.name for r in truth.result_sets}
    expected_results = [
        {
            "school_urn": urn,
            "pupil_mis_id": r.mis_id,
            "aspect_name": aspects[r.aspect_id],
            "result_set_name": result_sets[r.result_set_id],
            "result": r.result,
            "result_date": r.result_date,
            "source_updated_at": r.updated_at if inferred else RECEIVED,
        }
        for r in truth.results
    ]
    assert by_key(
        [normalise_xod_result(row, urn, received_at=RECEIVED) for row in results], "assessment_results"
    ) == by_key(expected_results, "assessment_results")

    mis_by_id = {p.id: p.mis_id for p in school.pupils}
    expected_groups = [
        {
            "school_urn": urn,
            "pupil_mis_id": mis_by_id[pupil_id],
            "group_type": g.type,
            "group_code": g.code,
            "group_name": g.name,
            "source_updated_at": g.updated_at,
        }
        for g in truth.groups
        for pupil_id in g.member_ids
    ]
    assert len(students) == 30 and len(marks) == 600 and len(results) == 180 and len(members) == 90
    assert by_key(normalise_xod_groups(groups, members, urn), "pupil_groups") == by_key(
        expected_groups, "pupil_groups"
    )
