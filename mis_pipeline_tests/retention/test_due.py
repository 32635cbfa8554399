"""Who is due, as the database finds them (indexed candidates, then the pure rules), is exactly who
the pure rules say is due when asked about every pupil held: random pupils, schools and days,
month ends, 31 August and 29 February included, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mis_pipeline.lib.dates import london_date
from mis_pipeline.retention.due import due_subjects
from mis_pipeline.retention.rules import PupilTimeline, retention_due
from mis_pipeline.warehouse.engine import get_engine
from mis_pipeline_tests.retention.support import add_named, add_school, wipe

pytestmark = pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)

SPECIAL = [
    date(2027, 2, 28),
    date(2028, 2, 29),
    date(2027, 8, 31),
    date(2028, 8, 31),
    date(2027, 3, 1),
    date(2028, 3, 31),
    date(2027, 12, 31),
    date(2028, 4, 30),
]
as_of_days = st.sampled_from(SPECIAL) | st.dates(min_value=date(2026, 6, 1), max_value=date(2029, 12, 31))
# Triggers cluster around "6 months before the day asked about", where a day too many or too few
# in the database's bound would show; some fall anywhere.
offsets = st.integers(min_value=-5, max_value=5) | st.integers(min_value=-400, max_value=400)
optional_offsets = st.none() | offsets
minutes = st.sampled_from([-90, -30, 0, 30, 90, 720])  # around midnight in England, summer and winter
schools = st.fixed_dictionaries(
    {
        "final_year": st.sampled_from([None, 6, 11, 13]),
        "subscription_end": optional_offsets,
        "access_ended_on": optional_offsets,
        "agreement_withdrawn_on": optional_offsets,
        "last_sync": st.none() | st.tuples(offsets, minutes),
    }
)
pupils = st.fixed_dictionaries(
    {
        "school": st.integers(min_value=0, max_value=2),
        "leaving_date": optional_offsets,
        "left_informed_at": st.none() | st.tuples(offsets, minutes),
        "deleted_at": st.none() | st.tuples(offsets, minutes),
        "nc_year": st.sampled_from([None, "X", "N1", "R", "5", "6", "10", "11", "12", "13"]),
    }
)


def materialise(row: dict, as_of: date) -> dict:
    """Offsets (days from 6 months before `as_of`, and minutes past midnight UTC) to dates and stamps."""
    base = as_of - relativedelta(months=6)
    out = {}
    for name, value in row.items():
        if isinstance(value, tuple):
            day = base + timedelta(days=value[0])
            value = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=value[1])
        elif isinstance(value, int) and name not in ("school", "final_year"):
            value = base + timedelta(days=value)
        out[name] = value
    return out


@pytest.fixture
def warehouse(warehouse_url):
    return get_engine(warehouse_url)


def expected_due(school_rows: list[dict], pupil_rows: list[dict], as_of: date) -> dict:
    """Every held pupil through `retention_due`, no database involved."""
    due = {}
    for n, p in enumerate(pupil_rows):
        s = school_rows[p["school"]]
        timeline = PupilTimeline(
            leaving_date=p["leaving_date"],
            left_informed_on=london_date(p["left_informed_at"]),
            deleted_on=london_date(p["deleted_at"]),
            nc_year=p["nc_year"],
            nc_year_observed_on=london_date(s["last_sync"]) or as_of,
            final_year=s["final_year"],
            subscription_end=s["subscription_end"],
            access_ended_on=s["access_ended_on"],
            agreement_withdrawn_on=s["agreement_withdrawn_on"],
        )
        found = retention_due(timeline)
        if found is not None and found.due <= as_of:
            due[f"p{n}"] = found
    return due


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(schools, min_size=3, max_size=3), st.lists(pupils, max_size=12), as_of_days)
def test_the_database_finds_exactly_the_pupils_the_rules_say_are_due(
    warehouse, school_rows, pupil_rows, as_of
):
    school_rows = [materialise(s, as_of) for s in school_rows]
    pupil_rows = [materialise(p, as_of) for p in pupil_rows]
    wipe(warehouse)
    with warehouse.begin() as conn:
        for i, s in enumerate(school_rows):
            add_school(conn, f"10000{i}", **s)
        for n, p in enumerate(pupil_rows):
            add_named(
                conn,
                f"p{n}",
                f"10000{p['school']}",
                date(2026, 1, 1),
                leaving_date=p["leaving_date"],
                left_informed_at=p["left_informed_at"],
                deleted_at=p["deleted_at"],
                nc_year=p["nc_year"],
            )
    with warehouse.connect() as conn:
        found = {s.pupil_key: s.due for s in due_subjects(conn, as_of, as_of)}
    assert found == expected_due(school_rows, pupil_rows, as_of)
