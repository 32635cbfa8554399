"""The audit trail as an auditor and a school's DPO read it: times in UK time, JSON and CSV carrying
the same facts, a PDF with a summary page first."""

import csv
import io
import json

import pypdf

from mis_pipeline.audit.render import FIELDS, as_csv, as_json, as_pdf, events
from mis_pipeline_tests.audit.test_wording import NAMES, SHARE, SUMMER, WINTER, entry


def test_times_are_in_uk_time_with_the_zone_named_in_winter_and_summer():
    winter, summer = events(
        [entry("keys_rotated", {}, at=WINTER), entry("keys_rotated", {}, at=SUMMER)], NAMES
    )
    assert (winter.occurred_at_uk, winter.occurred_at) == (
        "5 December 2026, 14:03 GMT",
        "2026-12-05T14:03:00+00:00",
    )
    assert (summer.occurred_at_uk, summer.occurred_at) == (
        "1 July 2026, 09:30 BST",
        "2026-07-01T08:30:00+00:00",
    )


def test_json_and_csv_carry_the_same_documented_fields_for_a_schools_share():
    rows = events([entry("share_made", SHARE, urn=None, n=7)], NAMES, "100002")
    [document] = json.loads(as_json(rows))["entries"]
    [row] = list(csv.DictReader(io.StringIO(as_csv(rows))))
    assert list(document) == list(FIELDS) == list(row)
    assert {
        k: document[k] for k in ("school_urn", "school_name", "partner", "partner_name", "pupils", "section")
    } == {
        "school_urn": "100002",
        "school_name": "Highfield Primary School",
        "partner": "la-371",
        "partner_name": "Local authority: Doncaster",
        "pupils": 27,
        "section": "shared",
    }
    assert {k: row[k] for k in FIELDS if k != "detail"} == {
        k: "" if document[k] is None else str(document[k]) for k in FIELDS if k != "detail"
    }
    assert json.loads(row["detail"]) == document["detail"] == SHARE


def test_the_pdf_starts_with_a_summary_page_and_numbers_its_pages():
    entries = [
        entry("settings_changed", {"withheld_items": {"before": [], "after": ["attendance"]}}, n=1),
        entry("share_made", SHARE, urn=None, actor="schedule nightly_share", n=2),
    ]
    pdf = as_pdf(
        events(entries, NAMES, "100002"),
        "Data processing record: Highfield Primary School (URN 100002)",
        [("School", "Highfield Primary School, URN 100002")],
        WINTER,
        per_school=True,
    )
    pages = [" ".join(page.extract_text().split()) for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]
    assert len(pages) == 2
    assert "Summary" in pages[0] and "Local authority: Doncaster: 1 share" in pages[0]
    assert "Page 1 of 2" in pages[0] and "Page 2 of 2" in pages[1]
    assert "Attendance: withheld from 5 December 2026. Jo Bloggs" in pages[1]
    assert "schedule nightly_share" in pages[1] and "Nothing recorded." in pages[1]
    assert not any(literal in " ".join(pages) for literal in ("None", "[]", "['", "{'"))


def test_the_report_for_all_schools_names_each_entrys_school_or_how_many_a_share_covered():
    entries = [
        entry("settings_changed", {"paused": {"before": False, "after": True}}, n=1),
        entry("share_made", SHARE, urn=None, n=2),
        entry("keys_rotated", {"data_keys_rewrapped": 2}, urn=None, n=3),
    ]
    pdf = as_pdf(
        events(entries, NAMES),
        "Data processing record: all schools",
        [("Schools", "2 known")],
        WINTER,
        per_school=False,
    )
    text = " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages).split())
    assert "Highfield Primary School (100002) Data collection: paused from 5 December 2026" in text
    assert (
        "2 schools Shared with Local authority: Doncaster (la-371): 57 pupils of 2 schools (Attendance)."
        in text
    )
    assert "all schools Encryption keys rotated: 2 pupil data keys re-wrapped" in text
