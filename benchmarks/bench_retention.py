"""Benchmark the daily retention job on PostgreSQL: refresh the schedule, purge what is due, and run
the checks (nothing named past its deadline, no unlinked pupil-linked row), as the nightly job does.

The warehouse is generated directly with set-based SQL (not through the simulator): N named pupils
in schools of 1,000, each with additional details, 4 attendance sessions, an assessment result, a
group membership, a change-set entry and a data key, plus 0.05% of pupils held only in quarantine
with their other items. On the day measured 0.5% of named pupils are due (leavers told 7 months
ago), 0.5% fall due within the 30-day warning window, and the quarantined ones have been held 7
months. Data keys are real (wrapped by a throwaway master key) for every pupil the day opens; the
others hold placeholder bytes of the same size, which the job never reads.

The measured phase runs in its own process, so its peak memory (ru_maxrss) is the job's alone.

    .venv/bin/python benchmarks/bench_retention.py [--pupils 1000000] [--also 250000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from mis_pipeline.config import master_keyring  # noqa: E402
from mis_pipeline.lib.crypto import Keyring, encode_key, generate_key  # noqa: E402
from mis_pipeline.warehouse.engine import dispose_all, get_engine  # noqa: E402
from mis_pipeline.warehouse.vault import open_vault  # noqa: E402

ADMIN_URL = os.environ.get("MIS_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
AS_OF = date(2027, 6, 15)
DUE_EVERY, SOON_EVERY, QUARANTINED_EVERY = 200, 200, 2000  # 0.5%, 0.5%, 0.05%
NOW = "TIMESTAMPTZ '2027-06-14 12:00+00'"

# Every pupil i of 0..N-1: key md5('p'||i), school 100000 + i / 1000. Pupils with i % 200 = 0 left
# on 2026-11-01 (due 2027-05-01), i % 200 = 1 leave on 2026-12-20 (due 2027-06-20, within 30 days).
GENERATE = [
    """INSERT INTO schools (urn, connector, connector_school_id, name, approval_state, final_year_group,
           first_seen_at, updated_at)
       SELECT (100000 + s)::text, 'wonde', 'S' || s, 'School ' || s, 'approved', CASE WHEN s % 3 = 0 THEN 11 ELSE 6 END,
              {now}, {now} FROM generate_series(0, :schools - 1) s""",
    """INSERT INTO sync_state (school_urn, dataset, cursor, last_sync_at)
       SELECT (100000 + s)::text, 'pupils', 'c', {now} FROM generate_series(0, :schools - 1) s""",
    """INSERT INTO pupils (pupil_key, school_urn, connector, source_updated_at, sealed, row_hash, first_synced_at,
           last_changed_at, nc_year, sex, leaving_date, left_informed_at)
       SELECT md5('p' || i), (100000 + i / 1000)::text, 'wonde', {now},
              decode(md5('a' || i) || md5('b' || i) || md5('c' || i) || md5('d' || i), 'hex'), left(md5('h' || i), 32),
              {now}, {now}, (1 + i % 11)::text, CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END,
              CASE WHEN i % 200 = 0 THEN DATE '2026-11-01' WHEN i % 200 = 1 THEN DATE '2026-12-20' END,
              CASE WHEN i % 200 = 0 THEN TIMESTAMPTZ '2026-11-01 12:00+00'
                   WHEN i % 200 = 1 THEN TIMESTAMPTZ '2026-12-20 12:00+00' END
       FROM generate_series(0, :pupils - 1) i""",
    # the quarantined-only pupils: keys q<i>, held since 2026-11-10
    """INSERT INTO quarantine (school_urn, dataset, record_ref, rule, key_ref, sealed_payload, quarantined_at)
       SELECT (100000 + i / 1000)::text, 'pupils', md5('r' || i), 'upn: upn_check_letter', md5('q' || i),
              decode(md5('s' || i) || md5('t' || i), 'hex'), TIMESTAMPTZ '2026-11-10 12:00+00'
       FROM generate_series(0, :pupils - 1, 2000) i""",
    """CREATE TEMP TABLE held AS
       SELECT md5('p' || i) AS pupil_key, (100000 + i / 1000)::text AS school_urn, {now} AS since
       FROM generate_series(0, :pupils - 1) i
       UNION ALL SELECT md5('q' || i), (100000 + i / 1000)::text, TIMESTAMPTZ '2026-11-10 12:00+00'
       FROM generate_series(0, :pupils - 1, 2000) i""",
    """INSERT INTO data_keys (key_ref, school_urn, master_key_id, wrapped, created_at)
       SELECT pupil_key, school_urn, 'placeholder', decode(md5(pupil_key) || md5(pupil_key) || md5(pupil_key) || left(md5(pupil_key), 24), 'hex'),
              since FROM held""",
    """INSERT INTO pupil_details (pupil_key, school_urn, source_updated_at, row_hash, first_synced_at, last_changed_at,
           sen_status, fsm_eligible, pupil_premium, eal)
       SELECT pupil_key, school_urn, since, 'h', since, since, 'N', false, false, false FROM held""",
    """INSERT INTO attendance_sessions (pupil_key, school_urn, session_date, session, mark, source_updated_at, row_hash,
           first_synced_at, last_changed_at)
       SELECT pupil_key, school_urn, DATE '2027-06-07' + d / 2, CASE WHEN d % 2 = 0 THEN 'AM' ELSE 'PM' END, '/',
              since, 'h', since, since FROM held, generate_series(0, 3) d""",
    """INSERT INTO assessment_results (pupil_key, school_urn, aspect_name, result_set_name, result, source_updated_at,
           row_hash, first_synced_at, last_changed_at)
       SELECT pupil_key, school_urn, 'Reading', 'Autumn 2026', 'EXS', since, 'h', since, since FROM held""",
    """INSERT INTO pupil_groups (pupil_key, school_urn, group_type, group_code, source_updated_at, row_hash,
           first_synced_at, last_changed_at)
       SELECT pupil_key, school_urn, 'class', 'C' || (hashtext(pupil_key) % 30), since, 'h', since, since FROM held""",
    """INSERT INTO change_sets (school_urn, created_at, status, applied_at, counts)
       SELECT (100000 + s)::text, {now}, 'applied', {now}, '{{}}' FROM generate_series(0, :schools - 1) s""",
    """INSERT INTO pupil_changes (change_set_id, pupil_key, kind, fields)
       SELECT c.id, h.pupil_key, 'new', '[]' FROM held h JOIN change_sets c ON c.school_urn = h.school_urn""",
]


def generate(url: str, pupils: int, keyring: Keyring) -> None:
    engine = get_engine(url)  # migrates the empty database
    params = {"pupils": pupils, "schools": (pupils + 999) // 1000}
    with engine.begin() as conn:
        for statement in GENERATE:
            conn.execute(sa.text(statement.format(now=NOW)), params)
        opened = (
            conn.execute(
                sa.text(  # the pupils the day opens: those due, whose keys the purge digests
                    "SELECT md5('p' || i) FROM generate_series(0, :pupils - 1, 200) i "
                    "UNION ALL SELECT md5('q' || i) FROM generate_series(0, :pupils - 1, 2000) i"
                ),
                params,
            )
            .scalars()
            .all()
        )
        vault = open_vault(engine, keyring)
        rows = []
        for ref in opened:
            key_id, wrapped = vault.keyring.wrap(generate_key(), ref)
            rows.append({"ref": ref, "id": key_id, "w": wrapped})
        conn.execute(
            sa.text("UPDATE data_keys SET master_key_id = :id, wrapped = :w WHERE key_ref = :ref"), rows
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    dispose_all()


def measure(url: str) -> dict:
    """The nightly job's three steps, timed; runs in a process of its own."""
    from mis_pipeline.retention.store import named_past_deadline, purge_named, refresh_schedule
    from mis_pipeline.retention.subjects import unlinked_counts

    engine = get_engine(url)
    vault = open_vault(engine, master_keyring())
    timings = {}
    start = time.perf_counter()
    summary = refresh_schedule(engine, AS_OF, 30)
    timings["schedule_s"] = time.perf_counter() - start
    start = time.perf_counter()
    report = purge_named(engine, vault, AS_OF, actor="bench")
    timings["purge_s"] = time.perf_counter() - start
    start = time.perf_counter()
    late = len(named_past_deadline(engine, AS_OF))
    with engine.connect() as conn:
        unlinked = sum(unlinked_counts(conn).values())
    timings["checks_s"] = time.perf_counter() - start
    return {
        **{k: round(v, 2) for k, v in timings.items()},
        "total_s": round(sum(timings.values()), 2),
        "named_pupils": summary.pupils,
        "due_now": summary.due_now,
        "due_soon": summary.due_soon,
        "purged": report.pupils,
        "by_rule": report.by_rule,
        "rows_removed": report.rows_removed,
        "late_after": late,
        "unlinked_after": unlinked,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run(pupils: int, keep: bool) -> dict:
    name = f"mis_bench_retention_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    master = encode_key(generate_key())
    try:
        start = time.perf_counter()
        generate(url, pupils, master_keyring(master, ""))
        print(f"{pupils:,} pupils generated in {time.perf_counter() - start:.0f} s", flush=True)
        env = {**os.environ, "MIS_MASTER_KEY": master, "MIS_PREVIOUS_MASTER_KEYS": ""}
        out = subprocess.run(
            [sys.executable, __file__, "--measure", url], env=env, capture_output=True, text=True, check=True
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(result), flush=True)
        return result
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pupils", type=int, default=1_000_000)
    parser.add_argument("--also", type=int, default=250_000, help="a smaller warehouse, for memory (0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    results = {n: run(n, args.keep) for n in ([args.also] if args.also else []) + [args.pupils]}
    big = results[args.pupils]
    ok = (
        big["late_after"] == 0
        and big["unlinked_after"] == 0
        and big["purged"] == big["due_now"].get("left", 0) + big["due_now"].get("no_named_record", 0)
    )
    for n, r in results.items():
        print(
            f"{n:>9,} pupils: schedule {r['schedule_s']} s, purge {r['purge_s']} s ({r['purged']:,} due), "
            f"checks {r['checks_s']} s; total {r['total_s']} s; peak RSS {r['peak_rss_mb']} MB"
        )
    print(
        f"projection for 9,000,000 pupils (0.5% due, every step linear in what it reads): "
        f"~{big['total_s'] * 9_000_000 / args.pupils:.0f} s"
    )
    print("checks after the purge: " + ("pass" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
