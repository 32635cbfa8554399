from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from data_contracts import Rejection
from mis_pipeline.warehouse.engine import get_engine
from mis_pipeline.warehouse.school_store import DatasetSync, read_cursors, write_school
from mis_pipeline.warehouse.schema import pupils, quarantine, sync_state

STARTED = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)


def record(n: int, **changes) -> dict:
    values = dict(
        pupil_key=f"key{n}", school_urn="100001", connector="wonde", connector_pupil_id=f"A{n:010d}",
        upi=f"upi{n}", mis_id=str(n), upn="N371300724001", former_upn=None, legal_forename="Siobhán",
        legal_surname="D'Souza", forename=None, surname=None, middle_names=None,
        date_of_birth=date(2014, 2, 28), sex="F", nc_year="6", admission_date=date(2019, 9, 1),
        leaving_date=None, source_updated_at=datetime(2026, 9, 1, 8, 0, tzinfo=timezone.utc),
    )
    values.update(changes)
    return values


def sync_of(good, rejected=(), mode="full", cursor="2026-11-30T05:50:00+00:00") -> DatasetSync:
    return DatasetSync("100001", "pupils", mode, cursor, STARTED, len(good) + len(rejected), list(good), list(rejected))


def write_school_sync(engine, sync, run_id):
    return write_school(engine, [sync], run_id)["pupils"]


def table_rows(engine, table, *columns):
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(*(table.c[c] for c in columns))))


def test_a_first_sync_inserts_every_good_record(warehouse_url):
    engine = get_engine(warehouse_url)
    counts = write_school_sync(engine, sync_of([record(1), record(2)]), "run-1")
    assert (counts.inserted, counts.updated, counts.unchanged) == (2, 0, 0)
    assert table_rows(engine, pupils, "pupil_key", "legal_forename", "date_of_birth") == [
        ("key1", "Siobhán", date(2014, 2, 28)), ("key2", "Siobhán", date(2014, 2, 28))]


def test_the_same_records_again_write_nothing(warehouse_url):
    engine = get_engine(warehouse_url)
    write_school_sync(engine, sync_of([record(1), record(2)]), "run-1")
    before = table_rows(engine, pupils, "pupil_key", "last_changed_at", "last_run_id")
    counts = write_school_sync(engine, sync_of([record(1), record(2)], mode="incremental"), "run-2")
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, 2)
    assert table_rows(engine, pupils, "pupil_key", "last_changed_at", "last_run_id") == before


def test_a_changed_record_is_updated_in_place(warehouse_url):
    engine = get_engine(warehouse_url)
    write_school_sync(engine, sync_of([record(1), record(2)]), "run-1")
    counts = write_school_sync(engine, sync_of([record(2, nc_year="7")], mode="incremental"), "run-2")
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 0)
    assert table_rows(engine, pupils, "pupil_key", "nc_year", "last_run_id") == [
        ("key1", "6", "run-1"), ("key2", "7", "run-2")]


def test_a_quarantined_record_leaves_quarantine_when_it_arrives_fixed(warehouse_url):
    engine = get_engine(warehouse_url)
    bad = Rejection(record(3, upn="A371300724001"), "upn: upn_check_letter")
    write_school_sync(engine, sync_of([record(1)], [bad]), "run-1")
    assert table_rows(engine, quarantine, "record_ref", "rule") == [("A0000000003", "upn: upn_check_letter")]
    write_school_sync(engine, sync_of([record(3)], mode="incremental"), "run-2")
    assert table_rows(engine, quarantine, "record_ref") == []
    assert table_rows(engine, pupils, "pupil_key") == [("key1",), ("key3",)]


def test_the_cursor_is_saved_with_the_rows(warehouse_url):
    engine = get_engine(warehouse_url)
    write_school_sync(engine, sync_of([record(1)]), "run-1")
    assert read_cursors(engine, "100001") == {"pupils": "2026-11-30T05:50:00+00:00"}


def test_a_failed_write_leaves_neither_rows_nor_cursor(warehouse_url):
    engine = get_engine(warehouse_url)
    unstorable = record(2, date_of_birth=None)  # bypasses validation: the database refuses it
    with pytest.raises(Exception):
        write_school_sync(engine, sync_of([record(1), unstorable]), "run-1")
    assert table_rows(engine, pupils, "pupil_key") == []
    assert table_rows(engine, sync_state, "school_urn") == []


def test_a_pupil_missing_from_a_full_read_is_marked_deleted_not_dropped(warehouse_url):
    engine = get_engine(warehouse_url)
    write_school_sync(engine, sync_of([record(1), record(2)]), "run-1")
    counts = write_school_sync(engine, sync_of([record(2)]), "run-2")
    assert (counts.unchanged, counts.deleted) == (1, 1)
    rows = dict(table_rows(engine, pupils, "pupil_key", "deleted_at"))
    assert rows["key2"] is None and rows["key1"] is not None


def test_a_pupil_who_arrives_again_is_no_longer_deleted(warehouse_url):
    engine = get_engine(warehouse_url)
    write_school_sync(engine, sync_of([record(1), record(2)]), "run-1")
    write_school_sync(engine, sync_of([record(2)]), "run-2")
    write_school_sync(engine, sync_of([record(1)], mode="incremental"), "run-3")
    assert dict(table_rows(engine, pupils, "pupil_key", "deleted_at")) == {"key1": None, "key2": None}


def test_a_deletion_reported_by_the_connector_marks_the_pupil(warehouse_url):
    engine = get_engine(warehouse_url)
    write_school_sync(engine, sync_of([record(1), record(2)]), "run-1")
    deletion = DatasetSync("100001", "pupils", "incremental", "c", STARTED, 0, [], [], deleted_keys=frozenset({"key1"}))
    assert write_school(engine, [deletion], "run-2")["pupils"].deleted == 1
    rows = dict(table_rows(engine, pupils, "pupil_key", "deleted_at"))
    assert rows["key1"] is not None and rows["key2"] is None


def test_every_dataset_of_a_school_commits_together_or_not_at_all(warehouse_url):
    engine = get_engine(warehouse_url)
    attendance = DatasetSync("100001", "attendance_sessions", "full", "c", STARTED, 1, [dict(
        pupil_key="key1", school_urn="100001", session_date=None, session="AM", mark="/",
        source_updated_at=STARTED)], [])  # a NULL date the database refuses
    with pytest.raises(Exception):
        write_school(engine, [sync_of([record(1)]), attendance], "run-1")
    assert table_rows(engine, pupils, "pupil_key") == []
    assert table_rows(engine, sync_state, "school_urn") == []


def test_a_full_read_keeps_dated_rows_it_received_again(warehouse_url):
    engine = get_engine(warehouse_url)
    mark = dict(pupil_key="key1", school_urn="100001", session_date=date(2026, 9, 7), session="AM", mark="/",
                source_updated_at=STARTED)
    attendance = DatasetSync("100001", "attendance_sessions", "full", "c", STARTED, 1, [mark], [])
    write_school(engine, [attendance], "run-1")
    counts = write_school(engine, [attendance], "run-2")["attendance_sessions"]
    assert (counts.unchanged, counts.deleted) == (1, 0)
