"""Quarantine keeps every bad record: one entry each, named stably (the connector's id, else a
digest of the content), with a rule a school's data manager can act on, and an entry leaves when
its record arrives readable."""

from __future__ import annotations

from datetime import UTC, datetime

from mis_pipeline.connectors.xod.normalise import normalise_xod_attendance
from mis_pipeline.sync.extract import keyed_sync
from mis_pipeline.sync.sources import DatasetRead
from mis_pipeline.warehouse.reader import read_quarantine
from mis_pipeline.warehouse.school_store import write_school

URN = "100001"
STARTED = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


def marks(count: int, **changes) -> list[dict]:
    """Documented AttendMarks rows (connectors.md §2.3) of one pupil on consecutive days."""
    rows = [
        {
            "Id": f"9919.2026-09-{day:02d}.AM",
            "Date": f"2026-09-{day:02d}",
            "InstanceId": "38764",
            "StudentId": "9919",
            "Mark": "/",
            "MinsLate": None,
            "Notes": None,
            "Type": "S",
            "Session": "AM",
        }
        for day in range(1, count + 1)
    ]
    return [{**row, **changes} for row in rows]


def write(engine, vault, rows: list[dict], full: bool = False):
    read = DatasetRead("attendance_sessions", full)
    read.take(rows, lambda raw: [normalise_xod_attendance(raw, URN, STARTED)], lambda raw: raw.get("Id"))
    sync = keyed_sync(read, URN, STARTED, vault.pseudonyms)
    return write_school(engine, vault, [sync], "run", URN).counts["attendance_sessions"]


def test_every_unreadable_record_keeps_its_own_entry_with_the_field_that_is_wrong(engine, vault):
    counts = write(engine, vault, marks(30, Date=None) + [{"Mark": "L"}, {"Mark": "N"}])
    entries = read_quarantine(engine, vault, URN)
    assert counts.quarantined == len(entries) == 32
    assert counts.quarantined_by_rule == (("Date: missing", 30), ("StudentId: missing", 2))
    assert sorted(
        e["record"]["received"]["Id"] for e in entries if "Id" in e["record"]["received"]
    ) == sorted(row["Id"] for row in marks(30))


def test_a_record_that_arrives_readable_leaves_quarantine_and_lands(engine, vault):
    write(engine, vault, marks(3, Date=None))
    counts = write(engine, vault, marks(3))
    assert (counts.inserted, counts.quarantined) == (3, 0)
    assert read_quarantine(engine, vault, URN) == []


def test_a_session_that_is_not_am_or_pm_is_said_so(engine, vault):
    counts = write(engine, vault, marks(2, Session="XX"))
    assert counts.quarantined_by_rule == (("session: not AM/PM", 2),)
