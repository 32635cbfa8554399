"""Each kind of audit entry in plain English: names beside codes, dates in words, no Python values."""

from datetime import UTC, datetime

import pytest

from mis_pipeline.audit.wording import Names, describe

NAMES = Names(
    schools={"100002": "Highfield Primary School", "100048": "Moor Lane Academy"},
    partners={"la-371": "Local authority: Doncaster", "trust-2044": "Academy trust: Sheffield Diocese Trust"},
)
WINTER = datetime(2026, 12, 5, 14, 3, tzinfo=UTC)
SUMMER = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
SHARE = {
    "partner": "la-371",
    "schools": ["100002", "100048"],
    "counts": {"pupils": 57, "attendance_sessions": 1140, "assessment_results": 0},
    "pupils_by_school": {"100002": 27, "100048": 30},
}


def entry(action: str, detail: dict, *, urn: str | None = "100002", actor: str = "Jo Bloggs", at=WINTER, n=1):
    return {
        "id": n,
        "occurred_at": at,
        "school_urn": urn,
        "action": action,
        "detail": detail,
        "actor": actor,
        "run_id": None,
    }


@pytest.mark.parametrize(
    ("action", "detail", "urn", "school", "expected"),
    [
        (
            "settings_changed",
            {"withheld_items": {"before": [], "after": ["attendance"]}},
            "100002",
            "100002",
            "Attendance: withheld from 5 December 2026.",
        ),
        (
            "settings_changed",
            {
                "withheld_items": {"before": ["groups", "attendance"], "after": ["attendance"]},
                "sharing_off": {"before": [], "after": ["diocese"]},
            },
            "100002",
            "100002",
            "Groups: collected again from 5 December 2026; Sharing with the diocese: switched off from 5 December 2026.",
        ),
        (
            "settings_changed",
            {
                "subscription_end": {"before": None, "after": "2027-08-31"},
                "paused": {"before": False, "after": True},
            },
            "100002",
            "100002",
            "Subscription end: 31 August 2027 (was not set); Data collection: paused from 5 December 2026 "
            "(the school is not contacted).",
        ),
        (
            "settings_changed",
            {
                "agreement_accepted_on": {"before": None, "after": "2026-09-01"},
                "agreement_version": {"before": None, "after": "1.0"},
            },
            "100002",
            "100002",
            "Data sharing agreement: accepted on 1 September 2026; Agreement version: 1.0.",
        ),
        (
            "share_made",
            SHARE,
            None,
            "100002",
            "Shared with Local authority: Doncaster (la-371): 27 of this school's pupils (Attendance), with 1 other school "
            "of the same partner.",
        ),
        (
            "share_made",
            SHARE,
            None,
            None,
            "Shared with Local authority: Doncaster (la-371): 57 pupils of 2 schools (Attendance).",
        ),
        (
            "change_set_applied",
            {
                "pupils": {"new": 27, "changed": 3, "left": 1, "deleted": 0, "restored": 0},
                "items": {"attendance_sessions": {"inserted": 540, "updated": 0, "deleted": 0}},
            },
            "100002",
            "100002",
            "Pupils: 27 new, 3 changed and 1 left. Attendance: 540 added, 0 updated, 0 removed.",
        ),
        (
            "purge",
            {
                "kind": "named",
                "as_of": "2027-05-30",
                "pupils": 4,
                "by_rule": {"left": 3, "subscription_ended": 1},
            },
            "100002",
            "100002",
            "Names and identifiers of 4 pupils removed (3 because the pupil left and 1 because the "
            "school's subscription ended), due by 30 May 2027; the un-named figures are kept for up to 5 years.",
        ),
        (
            "purge",
            {"kind": "unnamed", "as_of": "2032-05-30", "unnamed_records": 1, "change_sets": 2},
            None,
            "100002",
            "Across all schools: 1 un-named record and 2 change sets deleted, 5 years after they were un-named.",
        ),
        (
            "items_removed",
            {"reason": "out of the school's scope", "rows_removed": {"pupil_groups": 90}},
            "100002",
            "100002",
            "No longer authorised by the school, so removed: Groups: 90 rows.",
        ),
        (
            "subject_access_report",
            {"format": "pdf", "found": True, "sections": {}},
            "100002",
            "100002",
            "Subject access report (PDF): a pupil was found and reported. The report names no pupil here.",
        ),
        (
            "keys_rotated",
            {"data_keys_rewrapped": 1, "master_key": "k2", "retired_master_keys": ["k1"]},
            None,
            None,
            "Encryption keys rotated: 1 pupil data key re-wrapped under master key k2; master keys retired: k1.",
        ),
    ],
)
def test_each_entry_reads_as_plain_english_with_names_beside_codes(action, detail, urn, school, expected):
    assert describe(entry(action, detail, urn=urn), NAMES, school) == expected
