import calendar
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mis_pipeline.retention.rules import (
    RULE_ACCESS_REVOKED,
    RULE_AGREEMENT_WITHDRAWN,
    RULE_COMPLETED,
    RULE_LEFT,
    RULE_NO_NAMED_RECORD,
    RULE_SUBSCRIPTION,
    UNNAMED_PERIOD,
    Due,
    PupilTimeline,
    completion_date,
    final_year_group,
    is_due,
    latest_trigger_due_by,
    retention_due,
    school_end_due,
    unidentified_due,
    unnamed_due,
)

SYNCED = date(2026, 11, 30)


def timeline(**changes) -> PupilTimeline:
    values = dict(
        leaving_date=None,
        left_informed_on=None,
        deleted_on=None,
        nc_year="4",
        nc_year_observed_on=SYNCED,
        final_year=6,
        subscription_end=None,
    )
    values.update(changes)
    return PupilTimeline(**values)


@pytest.mark.parametrize(
    "phase, high_age, explicit, expected",
    [
        ("Primary", 11, None, 6),
        ("Secondary", 16, None, 11),
        ("Secondary", 18, None, 13),
        ("Primary", 7, None, 2),
        ("Middle deemed secondary", 13, None, 8),
        ("Secondary", 19, None, 13),
        ("Primary", 99, None, None),
        ("Primary", None, None, None),
        ("Nursery", 5, None, None),
        ("Primary", 11, 4, 4),
    ],
)
def test_the_final_year_group_comes_from_an_explicit_setting_else_the_statutory_high_age(
    phase, high_age, explicit, expected
):
    assert final_year_group(phase, high_age, explicit) == expected


@pytest.mark.parametrize(
    "nc_year, observed, final, expected",
    [
        ("6", date(2026, 11, 30), 6, date(2027, 8, 31)),  # Y6 this year in a primary
        ("5", date(2026, 11, 30), 6, date(2028, 8, 31)),
        ("6", date(2026, 8, 31), 6, date(2026, 8, 31)),  # 31 August still belongs to the year ending
        ("6", date(2026, 9, 1), 6, date(2027, 8, 31)),
        ("11", date(2027, 3, 1), 11, date(2027, 8, 31)),  # 11-16 secondary
        ("13", date(2027, 3, 1), 13, date(2027, 8, 31)),  # 11-18 secondary
        ("R", date(2026, 11, 30), 2, date(2029, 8, 31)),  # infant school, reception now
        ("X", date(2026, 11, 30), 6, None),
        ("6", date(2026, 11, 30), None, None),
        (None, date(2026, 11, 30), 6, None),
    ],
)
def test_a_pupil_completes_the_schools_last_key_stage_on_31_august_of_their_final_year(
    nc_year, observed, final, expected
):
    assert completion_date(nc_year, observed, final) == expected


@pytest.mark.parametrize(
    "changes, expected",
    [
        # left on the day we heard: 6 calendar months later
        (
            dict(leaving_date=date(2026, 11, 20), left_informed_on=date(2026, 11, 20)),
            Due(RULE_LEFT, date(2026, 11, 20), date(2027, 5, 20)),
        ),
        # a back-dated leaving date counts from the day we were told
        (
            dict(leaving_date=date(2026, 1, 10), left_informed_on=date(2026, 11, 30)),
            Due(RULE_LEFT, date(2026, 11, 30), date(2027, 5, 30)),
        ),
        # a future leaving date counts from itself
        (
            dict(leaving_date=date(2027, 2, 1), left_informed_on=date(2026, 11, 30)),
            Due(RULE_LEFT, date(2027, 2, 1), date(2027, 8, 1)),
        ),
        # deleted at the connector
        (dict(deleted_on=date(2026, 10, 31)), Due(RULE_LEFT, date(2026, 10, 31), date(2027, 4, 30))),
        # completion: 31 August + 6 months is the last day of February (29th in a leap year)
        (dict(nc_year="6"), Due(RULE_COMPLETED, date(2027, 8, 31), date(2028, 2, 29))),
        (dict(nc_year="5"), Due(RULE_COMPLETED, date(2028, 8, 31), date(2029, 2, 28))),
        # the subscription ends before anything else
        (
            dict(subscription_end=date(2027, 3, 31)),
            Due(RULE_SUBSCRIPTION, date(2027, 3, 31), date(2027, 9, 30)),
        ),
        # the earliest trigger wins
        (
            dict(
                nc_year="6",
                subscription_end=date(2028, 1, 1),
                leaving_date=date(2027, 5, 1),
                left_informed_on=date(2027, 5, 2),
            ),
            Due(RULE_LEFT, date(2027, 5, 2), date(2027, 11, 2)),
        ),
        # nothing known: no rule can fire
        (dict(nc_year="X"), None),
    ],
)
def test_the_earliest_trigger_sets_the_date_the_named_data_must_be_gone(changes, expected):
    assert retention_due(timeline(**changes)) == expected


def test_named_data_is_due_on_its_date_and_not_a_day_before():
    due = retention_due(timeline(deleted_on=date(2026, 10, 31)))
    assert not is_due(due, date(2027, 4, 29))
    assert is_due(due, date(2027, 4, 30))
    assert not is_due(None, date(2099, 1, 1))


@pytest.mark.parametrize(
    "unnamed_on, expected",
    [
        (date(2026, 11, 30), date(2031, 11, 30)),
        (date(2028, 2, 29), date(2033, 2, 28)),
    ],
)
def test_an_un_named_record_goes_five_years_after_it_was_un_named(unnamed_on, expected):
    assert unnamed_due(unnamed_on) == expected


# ── properties over random timelines, against an independent calendar oracle ─────────────────────
def months_later(day: date, months: int) -> date:
    """Calendar months by hand: same day number, clamped to the target month's length."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


days = st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31))
optional_days = st.none() | days
timelines = st.builds(
    PupilTimeline,
    leaving_date=optional_days,
    left_informed_on=optional_days,
    deleted_on=optional_days,
    nc_year=st.sampled_from(["N1", "N2", "R", "X", None, *map(str, range(1, 15))]),
    nc_year_observed_on=days,
    final_year=st.none() | st.integers(min_value=2, max_value=13),
    subscription_end=optional_days,
    access_ended_on=optional_days,
    agreement_withdrawn_on=optional_days,
)


def oracle_trigger(t: PupilTimeline) -> date | None:
    triggers = []
    if t.leaving_date:
        triggers.append(max(t.left_informed_on or t.leaving_date, t.leaving_date))
    if t.deleted_on:
        triggers.append(t.deleted_on)
    if t.subscription_end:
        triggers.append(t.subscription_end)
    if t.access_ended_on:
        triggers.append(t.access_ended_on)
    if t.agreement_withdrawn_on:
        triggers.append(t.agreement_withdrawn_on)
    numbers = {"N1": -2, "N2": -1, "R": 0, **{str(n): n for n in range(1, 15)}}
    if t.nc_year in numbers and t.final_year is not None:
        start_year = t.nc_year_observed_on.year - (t.nc_year_observed_on.month < 9)
        triggers.append(date(start_year + max(t.final_year - numbers[t.nc_year], 0) + 1, 8, 31))
    return min(triggers, default=None)


@settings(max_examples=3000, deadline=None)
@given(timelines, days)
def test_no_named_record_survives_past_its_due_date_and_none_goes_before_it(t, as_of):
    trigger = oracle_trigger(t)
    purged = is_due(retention_due(t), as_of)
    if trigger is None:
        assert not purged
    else:
        deadline = months_later(trigger, 6)
        assert purged == (as_of >= deadline)


@settings(max_examples=3000, deadline=None)
@given(days, days)
def test_un_named_records_go_exactly_five_years_after_un_naming(unnamed_on, as_of):
    assert (as_of >= unnamed_due(unnamed_on)) == (as_of >= months_later(unnamed_on, 60))


@settings(max_examples=500, deadline=None)
@given(timelines)
def test_a_pupil_who_returns_before_the_purge_is_not_purged_for_leaving(t):
    returned = PupilTimeline(
        None, None, None, t.nc_year, t.nc_year_observed_on, t.final_year, t.subscription_end
    )
    due = retention_due(returned)
    assert due is None or due.rule != RULE_LEFT


@settings(max_examples=2000, deadline=None)
@given(days, optional_days, optional_days, optional_days, days)
def test_a_pupil_without_a_named_record_goes_six_months_after_first_held_or_after_the_schools_end(
    first_held, subscription_end, access_ended_on, withdrawn_on, as_of
):
    due = unidentified_due(first_held, subscription_end, access_ended_on, withdrawn_on)
    deadline = months_later(
        min(d for d in (first_held, subscription_end, access_ended_on, withdrawn_on) if d), 6
    )
    assert (as_of >= due.due) == (as_of >= deadline)


@pytest.mark.parametrize(
    "subscription_end, access_ended_on, expected",
    [
        (None, None, None),
        (date(2027, 8, 31), None, Due(RULE_SUBSCRIPTION, date(2027, 8, 31), date(2028, 2, 29))),
        (None, date(2027, 8, 31), Due(RULE_ACCESS_REVOKED, date(2027, 8, 31), date(2028, 2, 29))),
        (date(2027, 9, 1), date(2027, 8, 31), Due(RULE_ACCESS_REVOKED, date(2027, 8, 31), date(2028, 2, 29))),
        (date(2027, 8, 31), date(2027, 8, 31), Due(RULE_SUBSCRIPTION, date(2027, 8, 31), date(2028, 2, 29))),
    ],
)
def test_a_schools_data_goes_six_months_after_its_subscription_ends_or_it_revokes_access(
    subscription_end, access_ended_on, expected
):
    assert school_end_due(subscription_end, access_ended_on) == expected


def test_a_schools_data_goes_six_months_after_it_withdraws_from_the_agreement_when_that_comes_first():
    assert school_end_due(date(2028, 7, 31), date(2028, 1, 1), date(2027, 12, 31)) == Due(
        RULE_AGREEMENT_WITHDRAWN, date(2027, 12, 31), date(2028, 6, 30)
    )


def test_a_pupil_without_a_named_record_is_due_by_that_rule_when_it_comes_first():
    assert unidentified_due(date(2027, 1, 31), date(2027, 3, 1), None) == Due(
        RULE_NO_NAMED_RECORD, date(2027, 1, 31), date(2027, 7, 31)
    )


@pytest.mark.parametrize(
    "day, expected",
    [
        (date(2028, 2, 29), date(2027, 8, 31)),  # 31 August + 6 months is the last day of February
        (date(2027, 2, 28), date(2026, 8, 31)),
        (date(2027, 3, 1), date(2026, 9, 1)),
        (date(2027, 8, 31), date(2027, 2, 28)),  # not 29-31 Feb
    ],
)
def test_the_latest_due_trigger_is_the_last_day_whose_six_months_have_run(day, expected):
    assert latest_trigger_due_by(day) == expected


@settings(max_examples=3000, deadline=None)
@given(days, days)
def test_a_trigger_is_due_exactly_when_it_is_on_or_before_the_latest_due_trigger(trigger, day):
    assert (trigger <= latest_trigger_due_by(day)) == (months_later(trigger, 6) <= day)
    assert (trigger <= latest_trigger_due_by(day, UNNAMED_PERIOD)) == (months_later(trigger, 60) <= day)
