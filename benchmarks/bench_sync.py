"""Benchmark what a night costs: a full, a delta and a no-op sync through Dagster, each against a
floor that makes the same requests and does nothing else.

What is measured, in one run, against the Wonde simulator (its own process, as in production)
and a fresh PostgreSQL database:

1. floor full    - a minimal sequential client: one keep-alive `requests.Session`, every approved
                   school's pages of every item it granted (students with details, leavers,
                   deletions, attendance for the school year so far, assessment, groups), as
                   the sync asks for them, each record COPYed as JSON text into a scratch table
                   in one transaction. No validation, no hashing, no encryption, no Dagster. The
                   cheapest way to move the same bytes into the same database.
2. pipeline full - `run_sync` on a real (embedded SQLite) Dagster instance: the discovery run, then
                   the `sync_schools` run(s) that sync every school, with Dagster events, metadata,
                   validation, quarantine, cursors and the upsert.
3. floor delta   - the simulator is advanced once (new pupils, changed names, leavers, deletions at
                   every school: ~1.5% of pupils at 400 per school); the floor asks every school
                   for every item's delta from the sync's cursor (`updated_after`), as the sync
                   does, and COPYs what comes back.
4. pipeline delta - `run_sync` again: every school reads its deltas and writes them.
5. floor no-op   - every request of the delta again, each answering empty (`updated_after=<now>`).
6. pipeline no-op - `run_sync` again straight away: every school asks for its (empty) deltas.

The pipeline is reported as a ratio to its floor (`pipeline <phase>  <seconds>  <x.xx>x`, with the
process's peak RSS after the phase); the target is within 2x for each. The floor is
what the hardware, the simulator and PostgreSQL cost; the rest is ours. An untimed warm-up pass
first makes the simulator render every pupil once, so neither side pays that one-off cost.

Correctness is checked too, since a fast wrong sync is worthless: the warehouse must hold exactly
the pupils the approved schools serve, the delta must add exactly the new pupils, and the no-op
sync must change no row. A mismatch exits 1;
missing the speed target does not (this is a measurement). Only counts are printed, never pupil values.

    .venv/bin/python benchmarks/bench_sync.py [--schools 200 --pupils-per-school 1000]
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import requests
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 2.0
FLOOR_TABLE = "bench_floor_pupils"


@dataclass
class Phase:
    name: str
    seconds: float
    units: int  # pupils for a full sync, schools (one delta request each) for a no-op
    unit_name: str
    floor_seconds: float | None = None  # set on the pipeline phases that have a target
    is_floor: bool = False

    @property
    def rate(self) -> float:
        return self.units / self.seconds if self.seconds else float("inf")

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor_seconds if self.floor_seconds else 1.0


# -- set-up: simulator, database, Dagster home ------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def simulator(schools: int, pupils_per_school: int, seed: int) -> Iterator[tuple[str, str]]:
    """Run the simulator in its own process (a separate interpreter, like the real API) and
    yield (api_url, token) once it has printed them, i.e. once the population is built."""
    command = [
        sys.executable,
        "-m",
        "mis_simulator",
        "--port",
        str(free_port()),
        "--schools",
        str(schools),
        "--pupils-per-school",
        str(pupils_per_school),
        "--seed",
        str(seed),
    ]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        settings: dict[str, str] = {}
        while len(settings) < 2:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"simulator exited (code {process.wait()}) before printing its settings")
            name, _, value = line.strip().partition("=")
            if name in ("WONDE_API_URL", "WONDE_API_TOKEN"):
                settings[name] = value
        yield settings["WONDE_API_URL"], settings["WONDE_API_TOKEN"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def libpq_url(sqlalchemy_url) -> str:
    return sqlalchemy_url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def scratch_database(admin_url: str, keep: bool) -> Iterator[str]:
    """A fresh database for this run; dropped afterwards unless `keep`. Yields its SQLAlchemy URL."""
    admin = make_url(admin_url)
    name = f"mis_bench_{secrets.token_hex(4)}"
    with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        from mis_pipeline.warehouse.engine import dispose_all

        dispose_all()  # the pipeline's pooled connections would block DROP DATABASE
        if keep:
            print(f"kept database {name}")
        else:
            with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def configure_environment(api_url: str, token: str, database_url: str, home: Path) -> None:
    """Everything the pipeline reads from the environment. The Dagster instance is the production
    one (deploy/dagster.yaml: PostgreSQL storage), in the bench database."""
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
    url = make_url(database_url)
    os.environ.update(
        {
            "DAGSTER_PG_USERNAME": url.username or "postgres",
            "DAGSTER_PG_PASSWORD": url.password or "",
            "DAGSTER_PG_HOST": url.host or "127.0.0.1",
            "DAGSTER_PG_DB": url.database,
            "DAGSTER_PG_PORT": str(url.port or 5432),
        }
    )
    os.environ.update(
        {
            "WONDE_API_URL": api_url,
            "WONDE_API_TOKEN": token,
            "MIS_ALLOW_LOOPBACK_HTTP": "1",
            "WONDE_REQUESTS_PER_SECOND": "0",  # measure the pipeline, not the politeness limit
            "MIS_DATABASE_URL": database_url,
            "MIS_HOME": str(home),
            "DAGSTER_HOME": str(dagster_home),
            # a throwaway master key: the pipeline encrypts direct identifiers as in production
            "MIS_MASTER_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        }
    )


# -- the floor: fetch and COPY, nothing else ------------------------------------------------


def client(token: str) -> requests.Session:
    session = requests.Session()  # keep-alive, like the pipeline's per-thread sessions
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
    return session


def iter_pages(session: requests.Session, url: str, params: dict | None) -> Iterator[list[dict]]:
    while url:
        response = session.get(url, params=params, timeout=30)
        response.raise_for_status()
        body = response.json()
        yield body["data"]
        url = ((body.get("meta") or {}).get("pagination") or {}).get("next")
        params = None  # `next` already carries every parameter


def approved_school_ids(session: requests.Session, api_url: str, per_page: int) -> list[str]:
    # The listing serves approved schools only: the same set discovery registers and the sync takes.
    return [
        school["id"]
        for page in iter_pages(session, f"{api_url}/schools", {"per_page": per_page})
        for school in page
    ]


def student_pages(session, api_url: str, school_id: str, per_page: int, updated_after: str | None = None):
    params = {"include": "education_details", "per_page": per_page}
    if updated_after:
        params["updated_after"] = updated_after
    return iter_pages(session, f"{api_url}/schools/{school_id}/students", params)


PERMISSION_ITEMS = {  # what the sync reads for each granted Wonde permission: (path, params)
    "students.read": [
        ("students", {"include": "education_details,extended_details"}),
        ("students-leaver", {"include": "education_details"}),
        ("deletions", {}),
    ],
    "attendance.read": [
        ("attendance/session", {"include": "attendance_code"}),
        ("attendance-leavers/session", {"include": "attendance_code"}),
    ],
    "assessment.read": [
        ("assessment/aspects", {}),
        ("assessment/resultsets", {}),
        ("assessment/results", {}),
    ],
    "groups.read": [("groups", {"include": "students"})],
}


_PERMISSIONS: dict[str, list[dict]] = {}  # per school, read once (discovery's job, not the sync's)


def item_pages(
    session, api_url: str, school_id: str, per_page: int, updated_after: str | None = None
) -> Iterator[tuple[str, list[dict]]]:
    """Every page of every item the school granted, as the sync asks for them (the school object
    first, attendance for the school year so far; with `updated_after`, each item's delta), tagged
    with the item."""
    today = datetime.now(UTC).date()
    year_start = (
        today.replace(month=9, day=1)
        if today.month >= 9
        else today.replace(year=today.year - 1, month=9, day=1)
    )
    dates = {"date_from": year_start.isoformat(), "date_to": today.isoformat()}
    since = {"updated_after": updated_after} if updated_after else {}
    if school_id not in _PERMISSIONS:
        _PERMISSIONS[school_id] = next(
            iter_pages(session, f"{api_url}/meta/schools/{school_id}/permissions", {"per_page": per_page})
        )
    session.get(
        f"{api_url}/schools/{school_id}", timeout=30
    ).raise_for_status()  # the sync reads it first too
    for permission in _PERMISSIONS[school_id]:
        if not permission.get("approved"):
            continue
        for path, params in PERMISSION_ITEMS.get(permission["identity"], []):
            extra = dates if path.startswith("attendance") else {}
            query = {**params, **extra, **since, "per_page": per_page}
            for page in iter_pages(session, f"{api_url}/schools/{school_id}/{path}", query):
                yield path, page


def warm_up(session, api_url: str, school_ids: list[str], per_page: int) -> int:
    """Let the simulator render every item once; returns the pupils served."""
    for school_id in school_ids:
        for _ in item_pages(session, api_url, school_id, per_page):
            pass
    return sum(
        len(page) for school_id in school_ids for page in student_pages(session, api_url, school_id, per_page)
    )


def floor_load(
    session,
    api_url: str,
    school_ids: list[str],
    per_page: int,
    database_url: str,
    updated_after: str | None = None,
) -> tuple[float, int, int]:
    """Seconds to fetch every page of every granted item (with `updated_after`: every item's
    delta, each request the sync makes) and COPY each record, as JSON text, into a plain table in
    one transaction; returns (seconds, pupils, records)."""
    with psycopg.connect(libpq_url(make_url(database_url))) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (school_id text, item text, record text)")
        conn.commit()
        pupils = records = 0
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY {FLOOR_TABLE} (school_id, item, record) FROM STDIN") as copy,
        ):
            for school_id in school_ids:
                for item, page in item_pages(session, api_url, school_id, per_page, updated_after):
                    for raw in page:
                        copy.write_row((school_id, item, orjson.dumps(raw).decode()))
                    records += len(page)
                    pupils += len(page) if item == "students" else 0
        conn.commit()
        return time.perf_counter() - started, pupils, records


def floor_noop(session, api_url: str, school_ids: list[str], per_page: int) -> tuple[float, int]:
    """Seconds to ask every school for the empty delta of every item, each request the sync makes;
    returns the records served (must be 0)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    started = time.perf_counter()
    served = sum(
        len(page)
        for school_id in school_ids
        for _, page in item_pages(session, api_url, school_id, per_page, updated_after=now)
    )
    return time.perf_counter() - started, served


def advance_simulator(api_url: str, token: str, at: datetime) -> dict:
    """Move the simulator's time on once, to `at` (new pupils, changes, leavers, deletions); its
    change log."""
    root = api_url.rsplit("/v1.0", 1)[0]
    response = requests.post(
        f"{root}/_sim/advance",
        params={"at": at.isoformat()},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    response.raise_for_status()
    return response.json()


def pupils_changed(change_log: dict) -> int:
    """Distinct pupils the advance touched (new, changed, left, deleted, restored), all schools."""
    total = 0
    for school in change_log["schools"].values():
        touched = set(school["new"]) | set(school["changed"]) | set(school["left"]) | set(school["deleted"])
        total += len(touched | set(school["restored"]))
    return total


def peak_rss_mb() -> float:
    """This process's peak resident set so far (the pipeline runs in it; the simulator does not)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the pipeline -----------------------------------------------------------------------------


@contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Send file descriptor 2 (Dagster's per-run console logger) to a file: thousands of event
    lines would bury the report, and a terminal is a slower sink than a production log file."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def load_definitions() -> float:
    """Import the code location once, untimed by the syncs: a per-process constant, not per pupil."""
    started = time.perf_counter()
    import mis_pipeline.definitions  # noqa: F401

    return time.perf_counter() - started


def register_and_accept(instance) -> None:
    """Discover the schools and record each one's acceptance of the data sharing agreement: until
    then a school is registered but never synced."""
    from datetime import date

    from mis_pipeline.cli.runs import failure_reason, run_job
    from mis_pipeline.registry.jobs import DISCOVER_SCHOOLS_JOB
    from mis_pipeline.registry.settings import SettingsChange, apply_settings
    from mis_pipeline.registry.store import list_schools
    from mis_pipeline.warehouse.engine import get_engine

    result = run_job(instance, DISCOVER_SCHOOLS_JOB)
    if not result.success:
        raise SystemExit(f"bench: school discovery failed: {failure_reason(result)}")
    engine = get_engine()
    apply_settings(
        engine,
        [school.urn for school in list_schools(engine)],
        SettingsChange(agreement_accepted_on=date(2026, 9, 1)),
        actor="bench set-up",
    )


def timed_sync(instance, max_workers: int):
    """Run `run_sync` once; return (seconds, summary, {run kind: seconds from the run records})."""
    from mis_pipeline.cli.launch import run_sync

    started = time.perf_counter()
    summary = run_sync(instance, max_workers=max_workers)
    seconds = time.perf_counter() - started
    return seconds, summary, run_durations(instance, summary.run_ids)


def run_durations(instance, run_ids: list[str]) -> dict[str, float]:
    """Discovery vs sync seconds, from the start/end times Dagster records for each run."""
    import dagster as dg

    from mis_pipeline.registry.jobs import DISCOVER_SCHOOLS_JOB

    durations = {"discovery": 0.0, "sync": 0.0}
    for record in instance.get_run_records(dg.RunsFilter(run_ids=run_ids)):
        if record.start_time and record.end_time:
            kind = "discovery" if record.dagster_run.job_name == DISCOVER_SCHOOLS_JOB else "sync"
            durations[kind] += record.end_time - record.start_time
    return durations


def sync_run_ids(instance, run_ids: list[str]) -> list[str]:
    """The sync runs among them (discovery is skipped when the registry is fresh)."""
    import dagster as dg

    from mis_pipeline.registry.jobs import DISCOVER_SCHOOLS_JOB

    return [
        r.dagster_run.run_id
        for r in instance.get_run_records(dg.RunsFilter(run_ids=run_ids))
        if r.dagster_run.job_name != DISCOVER_SCHOOLS_JOB
    ]


def warehouse_facts(database_url: str, sync_run_ids: list[str]) -> dict[str, object]:
    """Counts that tell whether a sync did the right thing (no values are read)."""
    with psycopg.connect(libpq_url(make_url(database_url))) as conn:
        one = lambda sql, *args: conn.execute(sql, args).fetchone()[0]  # noqa: E731
        return {
            "pupils": one("SELECT count(*) FROM pupils"),
            "quarantined": one("SELECT count(*) FROM quarantine"),
            "touched_by_runs": one("SELECT count(*) FROM pupils WHERE last_run_id = ANY(%s)", sync_run_ids),
            "last_changed_at": one("SELECT max(last_changed_at) FROM pupils"),
            "fetched_in_runs": one(
                "SELECT coalesce(sum(fetched), 0) FROM sync_log WHERE run_id = ANY(%s)", sync_run_ids
            ),
        }


# -- report -----------------------------------------------------------------------------------


def print_table(phases: list[Phase]) -> None:
    print(f"\n{'phase':<30}{'seconds':>9}{'rate':>12}  {'unit':<10}{'vs floor':>9}")
    for phase in phases:
        ratio, target = "", ""
        if phase.is_floor:
            ratio = "1.00x"
        elif phase.floor_seconds is not None:
            ratio = f"{phase.ratio:.2f}x"
            target = (
                f"  (target <= {TARGET_RATIO:.0f}x: {'met' if phase.ratio <= TARGET_RATIO else 'MISSED'})"
            )
        print(
            f"{phase.name:<30}{phase.seconds:>9.2f}{phase.rate:>12,.0f}  {phase.unit_name:<10}{ratio:>9}{target}"
        )


def check(label: str, ok: bool, detail: str) -> bool:
    print(f"check {label:<44} {'OK' if ok else 'MISMATCH'}  ({detail})")
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=200)
    parser.add_argument("--pupils-per-school", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-page", type=int, default=200)
    parser.add_argument("--max-workers", type=int, default=4)
    parser.add_argument(
        "--pg-admin-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="a database the bench can CREATE/DROP DATABASE from",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database for inspection")
    parser.add_argument("--summary-json", type=Path, help="also write the phases' seconds and peak RSS here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.platform()}"
    )
    print(
        f"population: {args.schools} schools x {args.pupils_per_school} pupils, seed {args.seed}; "
        f"per_page {args.per_page}; max_workers {args.max_workers}"
    )
    # Outside the temporary home, so it survives for a look after a surprising result.
    console_log = Path(tempfile.gettempdir()) / f"mis-bench-dagster-{os.getpid()}.log"
    started = time.perf_counter()
    with (
        simulator(args.schools, args.pupils_per_school, args.seed) as (api_url, token),
        scratch_database(args.pg_admin_url, args.keep) as database_url,
        tempfile.TemporaryDirectory(prefix="mis-bench-") as home,
    ):
        print(f"simulator ready after {time.perf_counter() - started:.1f}s")
        configure_environment(api_url, token, database_url, Path(home))
        night = measure(args, api_url, token, database_url, console_log)
    print(f"\nwhole bench: {time.perf_counter() - started:.1f}s")
    if args.summary_json:
        args.summary_json.write_text(json.dumps(dataclasses.asdict(night)))
    return 0 if night.ok else 1


@dataclass
class Night:
    """What one bench run measured: seconds per phase, floors, and the checks' verdict."""

    schools: int
    pupils: int
    seconds: dict[str, float]  # floor/pipeline x full/delta/noop
    peak_rss_mb: dict[str, float]
    ok: bool


def measure(
    args: argparse.Namespace, api_url: str, token: str, database_url: str, console_log: Path
) -> Night:
    from mis_pipeline.instance import get_instance
    from mis_pipeline.warehouse.engine import get_engine

    session = client(token)
    school_ids = approved_school_ids(session, api_url, args.per_page)
    served = warm_up(session, api_url, school_ids, args.per_page)
    print(f"approved schools: {len(school_ids)} of {args.schools}, serving {served:,} pupils")
    get_engine()  # migrate the fresh schema now: a one-off that is not part of any sync
    seconds, rss = {}, {}

    seconds["floor full"], copied, records = floor_load(
        session, api_url, school_ids, args.per_page, database_url
    )
    print(f"floor: {copied:,} pupils, {records:,} records of every granted item")
    import_s = load_definitions()
    instance = get_instance()
    with stderr_to(console_log):
        register_and_accept(instance)  # untimed set-up, as an operator does it once
        seconds["pipeline full"], full, full_runs = timed_sync(instance, args.max_workers)
        rss["full"] = peak_rss_mb()
        after_full = warehouse_facts(database_url, sync_run_ids(instance, full.run_ids))

        # The changes are stamped just after the latest cursor the full sync left (its start less
        # the 10-minute overlap), so the delta reads them and the no-op, whose cursors are later
        # still, does not: as a night sees the day's changes and a sync straight after sees none.
        full_ended = datetime.now(UTC)
        at = full_ended - timedelta(minutes=10) + timedelta(seconds=1)
        held_mis_ids = floor_mis_ids(database_url)  # before the delta floor adds to its table
        change_log = advance_simulator(api_url, token, at)
        # The simulator advances its XoD schools too; the bench syncs the Wonde ones only.
        synced = registered_urns(database_url)
        change_log["schools"] = {urn: c for urn, c in change_log["schools"].items() if urn in synced}
        changed = pupils_changed(change_log)
        since = (at - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
        for _ in item_pages_of_all(session, api_url, school_ids, args.per_page, since):
            pass  # untimed: the simulator renders the changed records once, for both sides
        seconds["floor delta"], delta_pupils, delta_records = floor_load(
            session, api_url, school_ids, args.per_page, database_url, updated_after=since
        )
        time.sleep(max(0.0, 5 - (datetime.now(UTC) - full_ended).total_seconds()))  # cursors pass `at`
        seconds["pipeline delta"], delta, delta_runs = timed_sync(instance, args.max_workers)
        rss["delta"] = peak_rss_mb()
        after_delta = warehouse_facts(database_url, sync_run_ids(instance, delta.run_ids))

        seconds["floor no-op"], noop_rows = floor_noop(session, api_url, school_ids, args.per_page)
        seconds["pipeline no-op"], noop, noop_runs = timed_sync(instance, args.max_workers)
        rss["no-op"] = peak_rss_mb()
        after_noop = warehouse_facts(database_url, sync_run_ids(instance, noop.run_ids))

    schools = len(school_ids)
    print_table(
        [
            Phase("floor full (fetch+COPY)", seconds["floor full"], copied, "pupils/s", is_floor=True),
            Phase("pipeline full", seconds["pipeline full"], copied, "pupils/s", seconds["floor full"]),
            Phase("  discovery run", full_runs["discovery"], schools, "schools/s"),
            Phase("  sync run(s)", full_runs["sync"], copied, "pupils/s"),
            Phase("floor delta (every item)", seconds["floor delta"], schools, "schools/s", is_floor=True),
            Phase("pipeline delta", seconds["pipeline delta"], schools, "schools/s", seconds["floor delta"]),
            Phase("  discovery run", delta_runs["discovery"], schools, "schools/s"),
            Phase("  sync run(s)", delta_runs["sync"], schools, "schools/s"),
            Phase("floor no-op (empty deltas)", seconds["floor no-op"], schools, "schools/s", is_floor=True),
            Phase("pipeline no-op", seconds["pipeline no-op"], schools, "schools/s", seconds["floor no-op"]),
            Phase("  discovery run", noop_runs["discovery"], schools, "schools/s"),
            Phase("  sync run(s)", noop_runs["sync"], schools, "schools/s"),
        ]
    )
    print()
    for phase in ("full", "delta", "no-op"):
        print(
            f"pipeline {phase:<6}  {seconds['pipeline ' + phase]:8.2f}  "
            f"{seconds['pipeline ' + phase] / seconds['floor ' + phase]:.2f}x   "
            f"(floor {seconds['floor ' + phase]:.2f} s; peak RSS {rss[phase]:.0f} MB)"
        )
    print(
        f"\n(the delta: {changed:,} of {served:,} pupils changed ({100 * changed / served:.2f}%), "
        f"{delta_records:,} records of every item served; importing the code location, once, before timing: "
        f"{import_s:.2f}s; Dagster's console log: {console_log})"
    )
    print(
        f"(pipeline time outside the recorded runs: full {seconds['pipeline full'] - sum(full_runs.values()):.2f}s, "
        f"delta {seconds['pipeline delta'] - sum(delta_runs.values()):.2f}s, "
        f"no-op {seconds['pipeline no-op'] - sum(noop_runs.values()):.2f}s; discovery runs: "
        f"{sum(1 for r in (full_runs, delta_runs, noop_runs) if r['discovery'])} of 3 syncs (the set-up's "
        f"discovery refreshed the registry: MIS_DISCOVERY_MAX_AGE_MINUTES))\n"
    )

    # A "new" pupil may be a re-enrolment: the same MIS id, so the same pupil, not a new row.
    # A pupil is a school's MIS id (ids repeat across schools). A deletion undone brings back a
    # pupil who may never have been held: a new row too.
    new_pupils = len(
        {
            (synced[urn], mis_id)
            for urn, school in change_log["schools"].items()
            for mis_id in school["new"] + school["restored"]
        }
        - held_mis_ids
    )
    ok = all(
        [
            check("floor copied every served pupil", copied == served, f"{copied:,} of {served:,}"),
            check("empty deltas served no records", noop_rows == 0, f"{noop_rows:,} records"),
            check("full sync succeeded", full.success, full.failure_reason or "all schools synced"),
            check(
                "warehouse pupils = served pupils",
                after_full["pupils"] == served,
                f"{after_full['pupils']:,} stored, {after_full['quarantined']:,} quarantined, {served:,} served",
            ),
            check("delta sync succeeded", delta.success, delta.failure_reason or "all schools synced"),
            check(
                "delta sync added exactly the new pupils",
                after_delta["pupils"] == after_full["pupils"] + new_pupils,
                f"{after_delta['pupils'] - after_full['pupils']:,} added, {new_pupils:,} new at the source, "
                f"{after_delta['quarantined']:,} quarantined",
            ),
            check("no-op sync succeeded", noop.success, noop.failure_reason or "all schools synced"),
            check(
                "no-op sync fetched no rows",
                after_noop["fetched_in_runs"] == 0,
                f"{after_noop['fetched_in_runs']:,} fetched",
            ),
            check(
                "no-op sync changed no row",
                after_noop["touched_by_runs"] == 0
                and after_noop["last_changed_at"] == after_delta["last_changed_at"]
                and after_noop["pupils"] == after_delta["pupils"],
                f"{after_noop['touched_by_runs']:,} rows stamped by the no-op run",
            ),
        ]
    )
    return Night(schools, served, seconds, rss, ok)


def registered_urns(database_url: str) -> dict[str, str]:
    """URN -> the connector's school id, for every registered school."""
    with psycopg.connect(libpq_url(make_url(database_url))) as conn:
        return dict(conn.execute("SELECT urn, connector_school_id FROM schools").fetchall())


def floor_mis_ids(database_url: str) -> set[tuple[str, str]]:
    """(school id, MIS id) of every pupil the full floor read (on roll and leavers): the pupils held."""
    with psycopg.connect(libpq_url(make_url(database_url))) as conn:
        return {
            tuple(row)
            for row in conn.execute(
                f"SELECT DISTINCT school_id, record::json->>'mis_id' FROM {FLOOR_TABLE} "
                "WHERE item IN ('students', 'students-leaver')"
            )
        }


def item_pages_of_all(session, api_url: str, school_ids: list[str], per_page: int, since: str):
    for school_id in school_ids:
        yield from item_pages(session, api_url, school_id, per_page, updated_after=since)


if __name__ == "__main__":
    sys.exit(main())
