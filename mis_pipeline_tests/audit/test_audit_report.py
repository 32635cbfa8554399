"""The audit trail as an auditor and a school's DPO read it: JSON, CSV and a PDF that parses."""

import csv
import io
import json

import pypdf
import pytest

from mis_pipeline.audit.log import read_audit, record_audit
from mis_pipeline.audit.report import SECTIONS, as_csv, as_json, as_pdf
from mis_pipeline.warehouse.engine import get_engine

pytestmark = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)

RECEIVED = {"pupils": {"new": 27, "changed": 3, "left": 1, "deleted": 0, "restored": 0},
            "items": {"attendance_sessions": {"inserted": 540, "updated": 0, "deleted": 0}}}
PURGED = {"kind": "named", "as_of": "2027-05-30", "pupils": 4, "by_rule": {"left": 3, "subscription_ended": 1},
          "rows_removed": {"pupils": 4}}


@pytest.fixture
def entries(warehouse_url):
    engine = get_engine(warehouse_url)
    with engine.begin() as conn:
        record_audit(conn, "settings_changed", {"sync_mode": {"before": "automatic", "after": "manual"}},
                     actor="cli", school_urn="100002")
        record_audit(conn, "change_set_applied", RECEIVED, actor="sync", school_urn="100002", run_id="run-1")
        record_audit(conn, "purge", PURGED, actor="purge", school_urn="100002", run_id="run-2")
        record_audit(conn, "change_set_applied", RECEIVED, actor="sync", school_urn="100048", run_id="run-1")
    return read_audit(engine, school_urn="100002")


def test_the_pdf_parses_and_shows_each_section_with_its_counts(entries):
    pdf = as_pdf(entries, "Data processing record: Highfield Primary School", "URN 100002")
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    text = " ".join(text.split())
    assert "Data processing record: Highfield Primary School" in text
    for name, _ in SECTIONS:
        assert name in text
    assert "Pupils: 27 new, 3 changed, 1 left." in text
    assert "attendance sessions: 540 added, 0 updated, 0 removed." in text
    assert "Named data of 4 pupils removed (3 because left, 1 because subscription ended), due by 2027-05-30" in text
    assert "sync mode: automatic -> manual" in text
    assert "(3 entries)" in text and "100048" not in text


def test_csv_and_json_carry_every_entry_with_its_detail(entries):
    rows = list(csv.DictReader(io.StringIO(as_csv(entries))))
    assert [(r["action"], r["school_urn"], r["run_id"]) for r in rows] == [
        ("settings_changed", "100002", ""), ("change_set_applied", "100002", "run-1"), ("purge", "100002", "run-2")]
    assert json.loads(rows[2]["detail"]) == PURGED
    document = json.loads(as_json(entries))
    assert [e["detail"] for e in document["entries"]][1] == RECEIVED
    assert document["entries"][0]["occurred_at"].endswith("+00:00")
