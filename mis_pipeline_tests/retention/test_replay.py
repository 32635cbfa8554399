"""A backup taken before a purge still holds the purged pupils' data keys. Restoring it brings them
back; `mis-pipeline purge --replay-after-restore` purges them again from the audit log exported
before the restore, as the original purge did, and leaves everyone else alone."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, date, datetime

import sqlalchemy as sa

from mis_pipeline.audit.render import as_json, events, load_names
from mis_pipeline.config import master_keyring
from mis_pipeline.retention.store import purge_named
from mis_pipeline.warehouse.audit_log import read_audit
from mis_pipeline.warehouse.engine import dispose_all, get_engine
from mis_pipeline.warehouse.schema import unnamed_pupils
from mis_pipeline.warehouse.vault import forget_vaults, open_vault
from mis_pipeline_tests.private_sim import cli
from mis_pipeline_tests.retention.support import add_named, add_school, rows_of

HELD = date(2026, 10, 1)
PURGED_ON = date(2027, 6, 1)


def copy_database(source, target) -> None:
    """SQLite's online backup: a consistent copy, whatever its write-ahead log holds."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def test_replaying_after_a_restore_purges_again_exactly_the_pupils_purged_since_the_backup(
    tmp_path, monkeypatch
):
    path = tmp_path / "warehouse.db"
    url = f"sqlite:///{path}"
    engine = get_engine(url)
    vault = open_vault(engine, master_keyring())
    with engine.begin() as conn:
        add_school(conn, "100001")
        add_named(
            conn,
            "left-early",
            "100001",
            HELD,
            vault=vault,
            leaving_date=date(2026, 11, 1),
            left_informed_at=datetime(2026, 11, 1, 12, tzinfo=UTC),
            nc_year="5",
        )
        add_named(
            conn,
            "left-later",
            "100001",
            HELD,
            vault=vault,
            leaving_date=date(2026, 11, 20),
            left_informed_at=datetime(2026, 11, 20, 12, tzinfo=UTC),
            nc_year="3",
        )
        add_named(conn, "stays", "100001", HELD, vault=vault, nc_year="4")
    dispose_all()
    backup = tmp_path / "backup.db"
    copy_database(path, backup)  # the backup, before any purge
    backup_time = datetime.now(UTC)

    assert purge_named(engine, vault, PURGED_ON, actor="test").pupils == 2
    audit_file = tmp_path / "audit.json"
    entries = read_audit(engine)
    audit_file.write_text(
        as_json(events(entries, load_names(engine, entries))), encoding="utf-8"
    )  # exported before the restore
    dispose_all()
    forget_vaults()
    copy_database(
        backup, path
    )  # the restore: the purged pupils and their keys are back, the audit log is not
    with engine.connect() as conn:
        assert rows_of(conn, "left-early") and rows_of(conn, "left-later")

    env_home = tmp_path / "home"
    monkeypatch.setenv("MIS_HOME", str(env_home))
    monkeypatch.setenv("MIS_DATABASE_URL", url)
    env = dict(os.environ)
    out = cli(
        env, "purge", "--replay-after-restore", backup_time.isoformat(), "--audit-file", str(audit_file)
    ).stdout
    again = cli(
        env, "purge", "--replay-after-restore", backup_time.isoformat(), "--audit-file", str(audit_file)
    ).stdout

    assert "2 data keys destroyed; purged again 2 pupils the restore brought back (2 left)" in out
    assert "purged again 0 pupils" in again
    with engine.connect() as conn:
        assert rows_of(conn, "left-early") == {} and rows_of(conn, "left-later") == {}
        assert set(rows_of(conn, "stays")) == {"pupils", "data_keys", "attendance_sessions", "pupil_changes"}
        records = conn.execute(
            sa.select(unnamed_pupils.c.nc_year, unnamed_pupils.c.rule, unnamed_pupils.c.unnamed_on).order_by(
                unnamed_pupils.c.nc_year
            )
        ).all()
    assert records == [("3", "left", PURGED_ON), ("5", "left", PURGED_ON)]
    replayed = [
        e["detail"] for e in read_audit(engine, action="purge") if e["detail"].get("replayed_after_restore")
    ]
    assert [d["pupils"] for d in replayed] == [2]
    assert "left-early" not in json.dumps(replayed)
