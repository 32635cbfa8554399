from datetime import date

import pytest

from mis_pipeline.registry.eligibility import sync_blocker

TODAY = date(2026, 11, 30)
ACCEPTED = date(2026, 9, 1)


@pytest.mark.parametrize(
    "approval, paused, accepted, subscription_end, expected",
    [
        ("approved", False, ACCEPTED, None, None),
        ("approved", False, ACCEPTED, TODAY, None),  # the last day of a subscription is still inside it
        ("approved", False, ACCEPTED, date(2026, 11, 29), "the subscription ended on 2026-11-29"),
        (
            "approved",
            False,
            None,
            None,
            "the data sharing agreement has not been accepted (schools set URN --agreement-accepted DATE)",
        ),
        ("approved", True, ACCEPTED, None, "paused by the school: collection stopped until it is resumed"),
        (
            "not_listed",
            False,
            ACCEPTED,
            None,
            "access revoked at the connector (no longer listed as approved)",
        ),
        # several fail: the connector's answer comes first, then the school's own choices
        (
            "not_listed",
            True,
            None,
            date(2020, 1, 1),
            "access revoked at the connector (no longer listed as approved)",
        ),
        ("approved", True, None, None, "paused by the school: collection stopped until it is resumed"),
    ],
)
def test_a_school_is_contacted_only_while_every_condition_holds(
    approval, paused, accepted, subscription_end, expected
):
    assert sync_blocker(approval, paused, accepted, subscription_end, TODAY) == expected
