"""The agreement's retention rules, to the day. Pure: no Dagster, no database.

All pupil data from a school is removed from the named store no later than 6 calendar months after
the earliest of: (1) the school informs us the pupil has left, (2) the pupil completes the
school's highest national-curriculum key stage, (3) the school's subscription ends, or the school
stops granting us access at its connector. A pupil we hold no named record of (known only through
quarantine, or through rows without a core record) goes no later than 6 months after we first held
anything of theirs, or after the school's end if that is sooner. Un-named records go no later than
5 years after they became un-named. Dates are England's (Europe/London)
and months are calendar months: 6 months after 31 August is the last day of February.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from mis_pipeline.lib.academic import academic_year_start

NAMED_PERIOD = relativedelta(months=6)
UNNAMED_PERIOD = relativedelta(years=5)

RULE_LEFT = "left"  # the school informed us the pupil left (leaving date, or deleted at the connector)
RULE_COMPLETED = "completed_key_stage"  # 31 August of the year the pupil is in the school's final year group
RULE_SUBSCRIPTION = "subscription_ended"
RULE_ACCESS_REVOKED = "access_revoked"  # the school stopped granting us access at its connector
RULE_AGREEMENT_WITHDRAWN = "agreement_withdrawn"  # the school withdrew from the data sharing agreement
RULE_NO_NAMED_RECORD = "no_named_record"  # held only in quarantine or without a core record
RULES = (
    RULE_LEFT,
    RULE_COMPLETED,
    RULE_SUBSCRIPTION,
    RULE_ACCESS_REVOKED,
    RULE_AGREEMENT_WITHDRAWN,
    RULE_NO_NAMED_RECORD,
)

# NC years as numbers, so "years until the final year" is a subtraction. X (not following the NC)
# and the early-years codes before nursery have no place on this scale.
_NC_NUMBER = {"N1": -2, "N2": -1, "R": 0, **{str(n): n for n in range(1, 15)}}
NC_YEAR_CODES = tuple(_NC_NUMBER)  # the NC years the key-stage rule can place


def nc_year_number(nc_year: str | None) -> int | None:
    return _NC_NUMBER.get(nc_year) if nc_year else None


def final_year_group(
    phase: str | None, statutory_high_age: int | None, explicit: int | None = None
) -> int | None:
    """The school's final NC year: an explicit setting first, else GIAS `StatutoryHighAge − 5`
    (11 → Y6, 16 → Y11, 18 → Y13; 19 → Y13, a sixth form or special school), else None (unknown:
    the completion rule cannot fire). Nursery schools have no NC key stage to complete."""
    if explicit is not None:
        return explicit
    if phase and phase.strip().lower() == "nursery":
        return None
    if statutory_high_age is None or not 7 <= statutory_high_age <= 19:
        return None  # 99, blank or implausible: unknown, reported by status
    return min(statutory_high_age - 5, 13)


def completion_date(nc_year: str | None, observed_on: date, final_year: int | None) -> date | None:
    """31 August of the school year in which the pupil is in the school's final year group, from
    the NC year the school reported on `observed_on`; None when it cannot be known."""
    current = nc_year_number(nc_year)
    if current is None or final_year is None:
        return None
    years_to_go = max(final_year - current, 0)  # already past the final year: this year's end
    return date(academic_year_start(observed_on).year + years_to_go + 1, 8, 31)


@dataclass(frozen=True)
class PupilTimeline:
    """What the rules need to know about one named pupil; nothing that identifies them."""

    leaving_date: date | None  # from the MIS
    left_informed_on: date | None  # when we first held that leaving date
    deleted_on: date | None  # deleted at the connector and not restored (we were informed that day)
    nc_year: str | None
    nc_year_observed_on: date  # the day the school last reported the NC year
    final_year: int | None  # the school's final NC year (None: unknown)
    subscription_end: date | None
    access_ended_on: date | None = None  # the connector stopped granting us the school
    agreement_withdrawn_on: date | None = None  # the school withdrew from the agreement


@dataclass(frozen=True)
class Due:
    rule: str
    trigger: date
    due: date  # the last day the named data may be held is the day before; the purge runs on it


def left_trigger(timeline: PupilTimeline) -> date | None:
    """The later of the day we were informed and the leaving date itself: a back-dated leaving date
    cannot shorten the period, and a future one has not happened yet."""
    candidates = []
    if timeline.leaving_date is not None:
        informed = timeline.left_informed_on or timeline.leaving_date
        candidates.append(max(informed, timeline.leaving_date))
    if timeline.deleted_on is not None:
        candidates.append(timeline.deleted_on)
    return min(candidates) if candidates else None


def retention_due(timeline: PupilTimeline) -> Due | None:
    """The earliest trigger that applies, and the date by which the named data must be gone.

    Triggers in the future are reported too (the early-warning view needs them); whether one has
    happened is a matter of the as-of date, see `is_due`."""
    triggers = [
        (trigger, rule)
        for rule, trigger in (
            (RULE_LEFT, left_trigger(timeline)),
            (
                RULE_COMPLETED,
                completion_date(timeline.nc_year, timeline.nc_year_observed_on, timeline.final_year),
            ),
        )
        if trigger is not None
    ]
    school_end = school_end_due(
        timeline.subscription_end, timeline.access_ended_on, timeline.agreement_withdrawn_on
    )
    return _earliest(triggers + ([(school_end.trigger, school_end.rule)] if school_end else []))


def _earliest(triggers: list[tuple[date, str]]) -> Due | None:
    if not triggers:
        return None
    trigger, rule = min(triggers, key=lambda pair: (pair[0], RULES.index(pair[1])))
    return Due(rule, trigger, trigger + NAMED_PERIOD)


def school_end_due(
    subscription_end: date | None, access_ended_on: date | None, agreement_withdrawn_on: date | None = None
) -> Due | None:
    """When everything a school gave us must be gone: 6 months after its subscription ended, it
    stopped granting us access, or it withdrew from the agreement, whichever came first."""
    return _earliest(
        [
            (trigger, rule)
            for rule, trigger in (
                (RULE_SUBSCRIPTION, subscription_end),
                (RULE_ACCESS_REVOKED, access_ended_on),
                (RULE_AGREEMENT_WITHDRAWN, agreement_withdrawn_on),
            )
            if trigger is not None
        ]
    )


def unidentified_due(
    first_held: date,
    subscription_end: date | None,
    access_ended_on: date | None,
    agreement_withdrawn_on: date | None = None,
) -> Due:
    """A pupil of whom we hold no named record (only quarantined records, or rows without a core
    record): nothing else identifies when they left, so 6 months after we first held anything of
    theirs, or the school's end if that is sooner."""
    school_end = school_end_due(subscription_end, access_ended_on, agreement_withdrawn_on)
    return _earliest(
        [(first_held, RULE_NO_NAMED_RECORD)] + ([(school_end.trigger, school_end.rule)] if school_end else [])
    )


def latest_trigger_due_by(day: date, period: relativedelta = NAMED_PERIOD) -> date:
    """The last trigger date whose period has run by `day`: a trigger on or before it is due, one
    after it is not (adding calendar months never goes backwards). The database selects with it;
    for named data `retention_due` still decides each candidate."""
    latest = day - period  # at most 3 days short of the answer (month ends are clamped)
    while latest + timedelta(days=1) + period <= day:
        latest += timedelta(days=1)
    return latest


def is_due(due: Due | None, as_of: date) -> bool:
    return due is not None and as_of >= due.due


def unnamed_due(unnamed_on: date) -> date:
    """An un-named record is deleted no later than 5 years after it became un-named."""
    return unnamed_on + UNNAMED_PERIOD
