"""The GIAS extract writer and download, checked against domain.md §3."""

from __future__ import annotations

import csv
import re
from collections import Counter

import requests

from mis_pipeline_tests.simulator.support import SEED
from mis_simulator.gias import COLUMNS, render_gias_extract, write_gias_extract
from mis_simulator.population import build_population

REQUIRED = (
    "URN",
    "LA (code)",
    "LA (name)",
    "EstablishmentNumber",
    "EstablishmentName",
    "TypeOfEstablishment (code)",
    "TypeOfEstablishment (name)",
    "EstablishmentStatus (code)",
    "EstablishmentStatus (name)",
    "PhaseOfEducation (code)",
    "PhaseOfEducation (name)",
    "StatutoryLowAge",
    "StatutoryHighAge",
    "OfficialSixthForm (code)",
    "Diocese (code)",
    "Diocese (name)",
    "TrustSchoolFlag (code)",
    "TrustSchoolFlag (name)",
    "Trusts (code)",
    "Trusts (name)",
    "UKPRN",
    "LastChangedDate",
)


def read_extract(path):
    with open(path, encoding="cp1252", newline="") as handle:
        return list(csv.DictReader(handle))


def test_about_half_the_schools_have_a_trust_and_some_trusts_have_several_schools():
    schools = build_population(SEED, 40, 0).schools
    trusts = Counter(school.trust_uid for school in schools if school.trust_uid)
    assert 12 <= sum(trusts.values()) <= 28
    assert max(trusts.values()) >= 3
    assert all(re.fullmatch(r"\d{4,5}", uid) for uid in trusts)
    assert all((school.trust_uid is None) == (school.trust_name is None) for school in schools)


def test_about_a_quarter_of_schools_have_a_diocese_and_none_is_stored_as_none():
    schools = build_population(SEED, 40, 0).schools
    codes = [school.diocese_code for school in schools]
    assert 4 <= sum(code is not None for code in codes) <= 18
    assert all(code is None or re.fullmatch(r"(CE|RC)\d\d", code) for code in codes)
    assert "0000" not in codes


def test_trust_and_diocese_are_the_same_for_the_same_seed():
    def links(seed):
        return [(s.trust_uid, s.diocese_code) for s in build_population(seed, 30, 0).schools]

    assert links(SEED) == links(SEED)


def test_the_extract_round_trips_through_dictreader_in_cp1252_with_every_school(tmp_path, population):
    rows = read_extract(write_gias_extract(population, tmp_path / "edubasealldata.csv"))
    assert set(REQUIRED) <= set(rows[0]) and list(rows[0]) == list(COLUMNS)
    by_urn = {row["URN"]: row for row in rows}
    assert {school.urn for school in population.schools} < set(by_urn)  # pending and revoked too
    assert len(rows) == len(population.schools) + 2
    for school in population.schools:
        row = by_urn[school.urn]
        assert row["Trusts (code)"] == (school.trust_uid or "")
        assert row["Diocese (code)"] == (school.diocese_code or "0000")
        assert row["EstablishmentName"] == school.name and row["LA (code)"] == school.la_code
        assert row["TrustSchoolFlag (code)"] == ("3" if school.trust_uid else "0")


def test_a_school_without_a_diocese_says_not_applicable_and_without_a_trust_is_blank(population):
    rows = read_bytes(render_gias_extract(population))
    lone = next(row for row in rows if row["Diocese (code)"] == "0000" and not row["Trusts (code)"])
    assert lone["Diocese (name)"] == "Not applicable" and lone["Trusts (name)"] == ""


def read_bytes(data: bytes):
    return list(csv.DictReader(data.decode("cp1252").splitlines()))


def test_the_file_is_cp1252_not_utf8_and_carries_a_non_ascii_school_name(population):
    data = render_gias_extract(population)
    assert "’".encode("cp1252") in data and "é".encode("cp1252") in data
    names = [row["EstablishmentName"] for row in read_bytes(data)]
    assert "St Thérèse’s Catholic Primary School" in names


def test_phase_codes_follow_gias_and_dates_are_day_month_year(population):
    rows = {row["URN"]: row for row in read_bytes(render_gias_extract(population))}
    expected = {
        "PRIMARY": ("2", "Primary"),
        "SECONDARY": ("4", "Secondary"),
        "ALL THROUGH": ("7", "All-through"),
    }
    for school in population.schools:
        row = rows[school.urn]
        assert (row["PhaseOfEducation (code)"], row["PhaseOfEducation (name)"]) == expected[
            school.phase_of_education
        ]
        assert row["StatutoryHighAge"] == str(school.statutory_high_age)
    for row in rows.values():
        for column in ("LastChangedDate", "OpenDate", "CloseDate"):
            assert row[column] == "" or re.fullmatch(r"\d\d-\d\d-\d{4}", row[column])
        assert re.fullmatch(r"10\d{6}", row["UKPRN"])


def test_the_extract_includes_a_closed_school_no_connector_serves(population):
    rows = read_bytes(render_gias_extract(population))
    extra = [row for row in rows if row["URN"] not in {school.urn for school in population.schools}]
    assert {row["EstablishmentStatus (name)"] for row in extra} == {"Open", "Closed"}


def test_the_simulator_serves_the_extract_without_authentication(server, population):
    response = requests.get(f"http://{server.host}:{server.port}/gias/edubasealldata.csv", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert response.content == render_gias_extract(population)
    assert server.gias_url.endswith("/gias/edubasealldata.csv")
    assert requests.get(f"http://{server.host}:{server.port}/gias/other.csv", timeout=10).status_code == 404
