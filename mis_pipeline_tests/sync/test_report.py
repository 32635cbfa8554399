"""What a school partition's events say, from its sync outcome alone (pure: no Dagster run)."""

from __future__ import annotations

import pytest

from mis_pipeline.registry.run_tags import school_tags
from mis_pipeline.sync.metadata import (
    PENDING,
    REMOVED,
    school_change_set_metadata,
    school_extract_metadata,
    school_pending_metadata,
    school_table_metadata,
)
from mis_pipeline.sync.runner import SchoolOutcome
from mis_pipeline.warehouse.school_store import SyncCounts

NEW_3 = SyncCounts(fetched=3, inserted=3, updated=0, unchanged=0, quarantined=0)
SAME_5 = SyncCounts(fetched=5, inserted=0, updated=0, unchanged=5, quarantined=0)
ONE_BAD = SyncCounts(fetched=2, inserted=0, updated=0, unchanged=1, quarantined=1)
CHANGE_SET = {"pupils": {"new": 3, "changed": 0, "left": 0, "deleted": 0, "restored": 0}}


def outcome(
    mode="incremental", counts=None, status="synced", change_set=None, change_set_status=None, withdrawn=()
):
    return SchoolOutcome(
        "100001",
        status,
        mode=mode,
        counts=counts or {},
        change_set=change_set,
        change_set_status=change_set_status,
        withdrawn=withdrawn,
    )


@pytest.mark.parametrize(
    "case, sync, reported",
    [
        (
            "a first, full read reports every table read, changed or not",
            outcome(
                "full",
                {"pupils": NEW_3, "pupil_groups": SAME_5},
                change_set=CHANGE_SET,
                change_set_status="applied",
            ),
            {"pupils", "pupil_groups"},
        ),
        (
            "an incremental sync reports only the tables it changed (quarantine is a change)",
            outcome("incremental", {"pupils": SAME_5, "pupil_details": ONE_BAD}),
            {"pupil_details"},
        ),
        (
            "a manual school's preview wrote no table",
            outcome("full", {"pupils": NEW_3}, change_set=CHANGE_SET, change_set_status="pending"),
            set(),
        ),
        ("a failed school wrote nothing", outcome(None, {}, status="failed"), set()),
    ],
)
def test_a_school_partition_reports_the_tables_its_own_sync_changed(case, sync, reported):
    assert set(school_table_metadata(sync, {"pupils": 3})) == reported, case


def test_an_item_removed_from_the_schools_scope_is_reported_once_as_removed_and_holding_nothing():
    sync = outcome(
        "incremental",
        {"pupils": NEW_3},
        change_set=CHANGE_SET,
        change_set_status="applied",
        withdrawn=("attendance_sessions",),
    )
    assert school_table_metadata(sync, {"pupils": 3, "attendance_sessions": 0})["attendance_sessions"] == {
        "status": REMOVED,
        "held": 0,
        "dagster/row_count": 0,
    }


def test_a_tables_figures_are_the_schools_own_with_what_it_holds_after_the_sync():
    sync = outcome("incremental", {"pupil_details": ONE_BAD})
    assert school_table_metadata(sync, {"pupil_details": 7}) == {
        "pupil_details": {
            "fetched": 2,
            "inserted": 0,
            "updated": 0,
            "unchanged": 1,
            "deleted": 0,
            "quarantined": 1,
            "held": 7,
            "dagster/row_count": 7,
        }
    }


def test_a_pending_change_set_is_reported_as_not_applied_and_an_applied_one_as_applied():
    pending = outcome("full", {"pupils": NEW_3}, change_set=CHANGE_SET, change_set_status="pending")
    assert school_pending_metadata(pending) == {
        "status": PENDING,
        "pupils_new": 3,
        "pupils_changed": 0,
        "pupils_left": 0,
        "pupils_deleted": 0,
        "pupils_restored": 0,
        "pupils_fetched": 3,
        "pupils_inserted": 3,
    }
    assert school_change_set_metadata(pending) is None
    applied = outcome("full", {"pupils": NEW_3}, change_set=CHANGE_SET, change_set_status="applied")
    assert (
        school_change_set_metadata(applied)["status"] == "applied"
        and school_pending_metadata(applied) is None
    )


def test_a_sync_with_nothing_new_materialises_no_extract():
    assert school_extract_metadata(outcome("incremental", {"pupils": SAME_5})) is None
    assert school_extract_metadata(outcome("incremental", {"pupil_details": ONE_BAD}))["records_fetched"] == 2


@pytest.mark.parametrize(
    "urns, expected",
    [
        ([], {"mis/schools": "0"}),
        (
            ["100001", "100002"],
            {
                "mis/schools": "2",
                "mis/school_range": "100001..100002",
                "mis/school_names": "100001 Ash Primary; 100002 (not registered)",
            },
        ),
        (
            [str(100001 + i) for i in range(7)],
            {
                "mis/schools": "7",
                "mis/school_range": "100001..100007",
                "mis/school_names": "100001 Ash Primary; 100002 (not registered); "
                "100003 (not registered); 100004 (not registered); "
                "100005 (not registered); +2 more",
            },
        ),
    ],
)
def test_a_runs_tags_name_how_many_schools_it_covers_their_range_and_the_first_few(urns, expected):
    assert school_tags(urns, {"100001": "Ash Primary"}) == expected
