from datetime import date

import pytest
import sqlalchemy as sa

from data_contracts import Rejection
from mis_pipeline.config import master_keyring
from mis_pipeline.warehouse.engine import get_engine
from mis_pipeline.warehouse.reader import read_pupils, read_quarantine
from mis_pipeline.warehouse.schema import pupils, quarantine, sync_state
from mis_pipeline.warehouse.school_store import DatasetSync, read_cursors, write_school
from mis_pipeline.warehouse.vault import forget_vaults, open_vault
from mis_pipeline_tests.warehouse.support import STARTED, record, sync_of


@pytest.fixture
def engine(warehouse_url):
    yield get_engine(warehouse_url)
    forget_vaults()


def vault_of(engine):
    return open_vault(engine, master_keyring())


def write_school_sync(engine, sync, run_id):
    return write_school(engine, vault_of(engine), [sync], run_id).counts["pupils"]


def table_rows(engine, table, *columns):
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(*(table.c[c] for c in columns))))


def test_a_first_sync_inserts_every_good_record(engine):
    counts = write_school_sync(engine, sync_of([record(1), record(2)]), "run-1")
    assert (counts.inserted, counts.updated, counts.unchanged) == (2, 0, 0)
    held = read_pupils(engine, vault_of(engine))
    assert [(p["pupil_key"], p["legal_forename"], p["legal_surname"], p["date_of_birth"]) for p in held] == [
        ("key1", "Siobhán", "D'Souza", date(2014, 2, 28)),
        ("key2", "Siobhán", "D'Souza", date(2014, 2, 28)),
    ]
    assert [{k: v for k, v in p.items() if k in record(1)} for p in held] == [record(1), record(2)]


def test_the_same_records_again_write_nothing(engine):
    write_school_sync(engine, sync_of([record(1), record(2)]), "run-1")
    before = table_rows(engine, pupils, "pupil_key", "last_changed_at", "last_run_id")
    counts = write_school_sync(engine, sync_of([record(1), record(2)], mode="incremental"), "run-2")
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, 2)
    assert table_rows(engine, pupils, "pupil_key", "last_changed_at", "last_run_id") == before


def test_a_changed_record_is_updated_in_place(engine):
    write_school_sync(engine, sync_of([record(1), record(2)]), "run-1")
    counts = write_school_sync(engine, sync_of([record(2, nc_year="7")], mode="incremental"), "run-2")
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 0)
    assert table_rows(engine, pupils, "pupil_key", "nc_year", "last_run_id") == [
        ("key1", "6", "run-1"),
        ("key2", "7", "run-2"),
    ]


def test_a_quarantined_record_leaves_quarantine_when_it_arrives_fixed(engine):
    bad = Rejection(record(3, upn="A371300724001"), "upn: upn_check_letter")
    write_school_sync(engine, sync_of([record(1)], [bad]), "run-1")
    [held] = read_quarantine(engine, vault_of(engine), "100001")
    assert (held["dataset"], held["rule"], held["record"]["upn"]) == (
        "pupils",
        "upn: upn_check_letter",
        "A371300724001",
    )
    write_school_sync(engine, sync_of([record(3)], mode="incremental"), "run-2")
    assert table_rows(engine, quarantine, "record_ref") == []
    assert table_rows(engine, pupils, "pupil_key") == [("key1",), ("key3",)]


def test_the_cursor_is_saved_with_the_rows(engine):
    write_school_sync(engine, sync_of([record(1)]), "run-1")
    assert read_cursors(engine, "100001") == {"pupils": "2026-11-30T05:50:00+00:00"}


def test_a_failed_write_leaves_neither_rows_nor_cursor(engine):
    unstorable = record(2, connector=None)  # bypasses validation: the database refuses it
    with pytest.raises(sa.exc.IntegrityError):
        write_school_sync(engine, sync_of([record(1), unstorable]), "run-1")
    assert table_rows(engine, pupils, "pupil_key") == []
    assert table_rows(engine, sync_state, "school_urn") == []


def test_a_pupil_missing_from_a_full_read_is_marked_deleted_not_dropped(engine):
    write_school_sync(engine, sync_of([record(1), record(2)]), "run-1")
    counts = write_school_sync(engine, sync_of([record(2)]), "run-2")
    assert (counts.unchanged, counts.deleted) == (1, 1)
    rows = dict(table_rows(engine, pupils, "pupil_key", "deleted_at"))
    assert rows["key2"] is None and rows["key1"] is not None


def test_a_pupil_who_arrives_again_is_no_longer_deleted(engine):
    write_school_sync(engine, sync_of([record(1), record(2)]), "run-1")
    write_school_sync(engine, sync_of([record(2)]), "run-2")
    write_school_sync(engine, sync_of([record(1)], mode="incremental"), "run-3")
    assert dict(table_rows(engine, pupils, "pupil_key", "deleted_at")) == {"key1": None, "key2": None}


def test_a_deletion_reported_by_the_connector_marks_the_pupil(engine):
    write_school_sync(engine, sync_of([record(1), record(2)]), "run-1")
    deletion = DatasetSync(
        "100001", "pupils", "incremental", "c", STARTED, 0, [], [], deleted_keys=frozenset({"key1"})
    )
    assert write_school(engine, vault_of(engine), [deletion], "run-2").counts["pupils"].deleted == 1
    rows = dict(table_rows(engine, pupils, "pupil_key", "deleted_at"))
    assert rows["key1"] is not None and rows["key2"] is None


def test_every_dataset_of_a_school_commits_together_or_not_at_all(engine):
    attendance = DatasetSync(
        "100001",
        "attendance_sessions",
        "full",
        "c",
        STARTED,
        1,
        [
            dict(
                pupil_key="key1",
                school_urn="100001",
                session_date=None,
                session="AM",
                mark="/",
                source_updated_at=STARTED,
            )
        ],
        [],
    )  # a NULL date the database refuses
    with pytest.raises(sa.exc.IntegrityError):
        write_school(engine, vault_of(engine), [sync_of([record(1)]), attendance], "run-1")
    assert table_rows(engine, pupils, "pupil_key") == []
    assert table_rows(engine, sync_state, "school_urn") == []


def test_a_full_read_keeps_dated_rows_it_received_again(engine):
    mark = dict(
        pupil_key="key1",
        school_urn="100001",
        session_date=date(2026, 9, 7),
        session="AM",
        mark="/",
        source_updated_at=STARTED,
    )
    attendance = DatasetSync("100001", "attendance_sessions", "full", "c", STARTED, 1, [mark], [])
    write_school(engine, vault_of(engine), [attendance], "run-1")
    counts = write_school(engine, vault_of(engine), [attendance], "run-2").counts["attendance_sessions"]
    assert (counts.unchanged, counts.deleted) == (1, 0)
