"""Support for the crash-safety test: a private simulator world, warehouses set up through the CLI,
a `mis-pipeline sync` subprocess killed with SIGKILL at a chosen point, and a warehouse's state in
a form two warehouses can be compared in.

Kill points are chosen by what can be observed from outside the process, never by time: how many
requests the simulator has answered, how many schools' change sets are committed, whether a
warehouse transaction is open.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from mis_pipeline_tests.cli.test_cli import CLI
from mis_pipeline_tests.conftest import PG_ADMIN_URL
from mis_simulator.gias import write_gias_extract
from mis_simulator.population import Population, build_population
from mis_simulator.server import SimulatorServer
from mis_simulator.xod_api import write_xod_secrets

SYNC_TIMEOUT = 120  # seconds; a sync of the test's small population takes under 10
POLL_SECONDS = 0.002
# Bookkeeping that legitimately differs between two warehouses holding the same data: when a row
# was first written or last changed, and by which run; when a deletion or a leaving date was first
# seen (the retention triggers). Wall-clock times of each warehouse's own syncs: compared as "is set".
BOOKKEEPING = ("first_synced_at", "last_changed_at", "last_run_id", "deleted_at", "left_informed_at")
DATASETS = ("pupil_details", "attendance_sessions", "assessment_results", "pupil_groups")


# ── the world: private simulators and the files an operator gets from them ─────────────────
class World:
    """Simulators of one seeded population, one per warehouse so that each sync's requests can be
    counted on its own and warehouses can sync at the same time. Every simulator is built from
    the same seed and advanced at the same instant, so all serve identical data."""

    def __init__(
        self, folder: Path, base_env: dict[str, str], seed: int, schools: int, pupils: int, bad_records: int
    ):
        self.shape = (seed, schools, pupils, bad_records)
        self.servers: list[SimulatorServer] = []
        population = self.population()
        self.gias_path = write_gias_extract(population, folder / "edubasealldata.csv")
        self.secrets_path = write_xod_secrets(population, folder / "xod-secrets.json")
        self.base_env = {
            k: v for k, v in base_env.items() if k not in ("DAGSTER_HOME", "MIS_DATABASE_URL", "MIS_HOME")
        }
        self.urns = [school.urn for school in population.approved_schools()]

    def population(self) -> Population:
        seed, schools, pupils, bad_records = self.shape
        return build_population(seed, schools, pupils, bad_records=bad_records)

    def new_server(self) -> SimulatorServer:
        server = SimulatorServer(self.population(), token=self.base_env["WONDE_API_TOKEN"]).start()
        self.servers.append(server)
        return server

    def env(self, server: SimulatorServer) -> dict[str, str]:
        """The settings a CLI process needs to use `server` (the master key comes from the base)."""
        return {
            **self.base_env,
            "WONDE_API_URL": server.wonde_url,
            "XPORTER_API_URL": server.xod_url,
            "XPORTER_RELYING_PARTY": server.xod_relying_party,
            "XPORTER_SCHOOL_SECRETS": str(self.secrets_path),
            "MIS_ALLOW_LOOPBACK_HTTP": "1",
            "WONDE_REQUESTS_PER_SECOND": "0",
            "XPORTER_REQUESTS_PER_SECOND": "0",
            # discovery before every sync, as kill points count its requests (and kill inside it)
            "MIS_DISCOVERY_MAX_AGE_MINUTES": "0",
        }

    def advance(self) -> list[dict]:
        """Move every simulator's time on to one instant; their change logs (JSON) in order."""
        at = datetime.now(UTC)
        return [server.advance(at).to_json() for server in self.servers]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


# ── warehouses ────────────────────────────────────────────────────────────────────────────
@dataclass
class Warehouse:
    """One warehouse with its own MIS_HOME (so its own embedded Dagster instance) and its own
    simulator of the world's population."""

    name: str
    url: str
    home: Path
    server: SimulatorServer
    env: dict[str, str]

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [CLI, *args], capture_output=True, text=True, timeout=SYNC_TIMEOUT, env=self.env
        )

    def sync(self) -> subprocess.CompletedProcess:
        """`mis-pipeline sync` to completion; it must succeed."""
        result = self.cli("sync")
        assert result.returncode == 0, f"{self.name}: sync failed: {result.stderr[-2000:]}"
        return result


def _warehouse(name: str, url: str, home: Path, world: World) -> Warehouse:
    server = world.new_server()
    return Warehouse(
        name, url, home, server, {**world.env(server), "MIS_HOME": str(home), "MIS_DATABASE_URL": url}
    )


def new_warehouse(kind: str, name: str, folder: Path, world: World, databases: Databases) -> Warehouse:
    home = folder / name / "mis_home"
    home.mkdir(parents=True)
    url = f"sqlite:///{folder / name / 'warehouse.db'}" if kind == "sqlite" else databases.create()
    return _warehouse(name, url, home, world)


def set_up_through_the_cli(warehouse: Warehouse, world: World) -> None:
    """What an operator does before a first sync: import the GIAS extract, discover the schools,
    record each school's acceptance of the data sharing agreement."""
    for args in (
        ("schools", "import-gias", str(world.gias_path)),
        ("schools", "discover"),
        ("schools", "set", *world.urns, "--agreement-accepted", "2026-09-01"),
    ):
        result = warehouse.cli(*args)
        assert result.returncode == 0, f"{' '.join(args[:2])} failed: {result.stderr[-2000:]}"


def clone_warehouse(
    template: Warehouse, name: str, folder: Path, world: World, databases: Databases
) -> Warehouse:
    """A copy of a warehouse set up but never synced (its MIS_HOME and Dagster instance too), so
    every warehouse of the test starts from the same operator set-up without repeating it."""
    home = folder / name / "mis_home"
    shutil.copytree(template.home, home)
    if template.is_postgres:
        url = databases.create(template=template.url)
    else:
        path = folder / name / "warehouse.db"
        source, target = sqlite3.connect(template.url.removeprefix("sqlite:///")), sqlite3.connect(path)
        with target:
            source.backup(target)
        source.close()
        target.close()
        url = f"sqlite:///{path}"
    return _warehouse(name, url, home, world)


class Databases:
    """PostgreSQL databases created for the test, dropped at the end."""

    def __init__(self) -> None:
        self.admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        self.names: list[str] = []

    def create(self, template: str | None = None) -> str:
        name = f"mis_crash_{uuid.uuid4().hex[:12]}"
        clause = f' TEMPLATE "{sa.engine.make_url(template).database}"' if template else ""
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{clause}')
        self.names.append(name)
        return sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


# ── observing a sync from outside ─────────────────────────────────────────────────────────
class Probe:
    """Cheap reads of a warehouse while another process syncs it (no pupil data is opened)."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse
        self.engine = sa.create_engine(warehouse.url, poolclass=sa.NullPool)

    def change_sets(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM change_sets")).scalar_one()

    def transaction_open(self) -> bool:
        """Whether the syncing process holds a warehouse transaction open right now.

        PostgreSQL: another backend of this database has a transaction that has written (it holds
        a transaction id). SQLite: the database's write lock is taken; the sync begins every
        transaction with BEGIN IMMEDIATE, so this is any of its transactions, reads included."""
        if self.warehouse.is_postgres:
            with self.engine.connect() as conn:
                return (
                    conn.execute(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
                        )
                    ).scalar_one()
                    > 0
                )
        connection = sqlite3.connect(
            self.warehouse.url.removeprefix("sqlite:///"), timeout=0, isolation_level=None
        )
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                return True
            raise
        finally:
            connection.close()

    def close(self) -> None:
        self.engine.dispose()


@dataclass
class KillPoint:
    """Where to kill a sync: once `requests` more requests were answered, `schools_committed`
    more schools' change sets are committed, and (with `in_transaction`) a warehouse transaction
    is open. A part left at its default is not waited for."""

    label: str
    requests: int = 0
    schools_committed: int = 0
    in_transaction: bool = False
    max_workers: int | None = None  # the killed sync's --max-workers (None: the default)
    # How many schools' change sets the killed sync may have left committed, inclusive: proves the
    # kill landed where the label says (before any school, between schools, after all of them).
    leaves_committed: tuple[int, int] = (0, 0)
    answered_at_most: int | None = None  # and, if set, how many requests it may have had answered

    def reached(self, served: int, committed: int, probe: Probe) -> bool:
        return (
            served >= self.requests
            and committed >= self.schools_committed
            and (not self.in_transaction or probe.transaction_open())
        )


@dataclass
class Kill:
    """What a killed sync had done when it died."""

    point: KillPoint
    seconds: float  # from the start of the process to the kill
    requests: int  # requests the simulator had answered for it
    schools_committed: int  # its change sets in the warehouse after it died
    returncode: int


def sync_killed_at(warehouse: Warehouse, point: KillPoint, logs: Path) -> Kill:
    """Start `mis-pipeline sync` as its own process group, SIGKILL the group once `point` is
    reached, and report where it was. Fails if the sync finishes before the point."""
    probe, server = Probe(warehouse), warehouse.server
    baseline_sets, baseline_requests = probe.change_sets(), len(server.request_log)
    args = [CLI, "sync"] + (["--max-workers", str(point.max_workers)] if point.max_workers else [])
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "stdout", "w") as out, open(logs / "stderr", "w") as err:
        started = time.monotonic()
        process = subprocess.Popen(args, env=warehouse.env, stdout=out, stderr=err, start_new_session=True)
        try:
            while True:
                if process.poll() is not None:
                    raise AssertionError(
                        f"{warehouse.name}: the sync ended (exit {process.returncode}) before "
                        f"the kill point {point.label!r}: {(logs / 'stderr').read_text()[-2000:]}"
                    )
                if time.monotonic() - started > SYNC_TIMEOUT:
                    raise AssertionError(f"{warehouse.name}: kill point {point.label!r} not reached in time")
                served = len(server.request_log) - baseline_requests
                committed = probe.change_sets() - baseline_sets if point.schools_committed else 0
                if point.reached(served, committed, probe):
                    os.killpg(process.pid, signal.SIGKILL)
                    seconds = time.monotonic() - started
                    break
                time.sleep(POLL_SECONDS)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    kill = Kill(
        point,
        seconds,
        len(server.request_log) - baseline_requests,
        probe.change_sets() - baseline_sets,
        process.returncode,
    )
    probe.close()
    return kill


# ── a warehouse's state, comparable across warehouses ─────────────────────────────────────
def pupil_identities(population: Population, pseudonyms) -> dict[str, tuple[str, str]]:
    """Every pupil the simulator ever served, pupil key -> (URN, MIS id). Pupil keys are keyed
    digests under each warehouse's own secret, so warehouses are compared by MIS id instead."""
    identities = {}
    for school in population.schools:
        mis_ids = {p.mis_id for p in school.pupils + school.leavers}
        mis_ids |= {d.mis_id for d in population.deletions_for(school)}
        identities.update(
            {pseudonyms.pupil_key(school.urn, mis_id): (school.urn, mis_id) for mis_id in mis_ids}
        )
    return identities


# XoD documents no time on attendance marks and results (connectors.md §2.3), so those rows carry
# the time of the sync that received them, which differs between a crashed-and-rerun sync and an
# uninterrupted one: compared as "is set" there.
RECEIVED_TIME_DATASETS = ("attendance_sessions", "assessment_results")


def _bookkept(row: dict, received_time: bool = False) -> dict:
    kept = BOOKKEEPING + (("source_updated_at",) if received_time else ())
    return {k: (row[k] is not None if k in kept else v) for k, v in row.items()}


def _canonical(value):
    return json.dumps(value, sort_keys=True, default=str)


def warehouse_state(warehouse: Warehouse) -> dict:
    """Everything a sync leaves behind that an uninterrupted sync must leave identically: every
    dataset's rows (pupils opened), quarantine, cursors, change sets and their pupil changes,
    data keys, audit entries, the registry. Keyed digests, sealed bytes and bookkeeping
    timestamps differ legitimately between warehouses and are left out or reduced to "is set"."""
    from mis_pipeline.config import master_keyring
    from mis_pipeline.warehouse.change_store import read_change_sets
    from mis_pipeline.warehouse.engine import get_engine
    from mis_pipeline.warehouse.reader import read_pupils
    from mis_pipeline.warehouse.schema import (
        DATASET_TABLES,
        audit_log,
        data_keys,
        quarantine,
        schools,
        sync_state,
    )
    from mis_pipeline.warehouse.vault import open_vault

    population = warehouse.server.population
    engine = get_engine(warehouse.url)
    vault = open_vault(engine, master_keyring())
    identity = pupil_identities(population, vault.pseudonyms)
    xod_urns = {school.urn for school in population.schools if school.connector == "xod"}
    state: dict = {}
    pupils = read_pupils(engine, vault)
    state["pupils"] = sorted(
        _canonical(
            {k: v for k, v in _bookkept(p).items() if k not in ("pupil_key", "row_hash")}
            | {"identity": identity[p["pupil_key"]]}
        )
        for p in pupils
    )
    with engine.connect() as conn:
        state["pupil_rows"] = conn.execute(sa.text("SELECT count(*) FROM pupils")).scalar_one()
        for dataset in DATASETS:
            rows = conn.execute(sa.select(DATASET_TABLES[dataset])).mappings().all()
            received = dataset in RECEIVED_TIME_DATASETS
            state[dataset] = sorted(
                _canonical(
                    {
                        k: v
                        for k, v in _bookkept(dict(row), received and row["school_urn"] in xod_urns).items()
                        if k not in ("pupil_key", "row_hash")
                    }
                    | {"identity": identity[row["pupil_key"]]}
                )
                for row in rows
            )
        state["quarantine"] = sorted(
            Counter(
                tuple(r)
                for r in conn.execute(
                    sa.select(quarantine.c.school_urn, quarantine.c.dataset, quarantine.c.rule)
                )
            ).items()
        )
        state["cursors"] = sorted(
            (
                r.school_urn,
                r.dataset,
                r.cursor is not None,
                r.last_sync_at is not None,
                r.last_full_sync_at is not None,
            )
            for r in conn.execute(sa.select(sync_state))
        )
        state["data_keys"] = sorted(
            Counter(conn.execute(sa.select(data_keys.c.school_urn)).scalars()).items()
        )
        state["audit"] = sorted(
            Counter(
                tuple(r)
                for r in conn.execute(
                    sa.select(audit_log.c.school_urn, audit_log.c.action, audit_log.c.actor)
                )
            ).items()
        )
        state["schools"] = sorted(
            _canonical({k: v for k, v in row.items() if k not in ("first_seen_at", "updated_at")})
            for row in conn.execute(sa.select(schools)).mappings()
        )
    state["change_sets"] = {}
    for urn in sorted(school.urn for school in population.schools):
        sets = read_change_sets(engine, urn)
        state["change_sets"][urn] = {
            "statuses": [s["status"] for s in sets],
            "counts": [s["counts"] for s in sets],
            "pupil_changes": sorted(
                Counter(
                    (identity[c["pupil_key"]], c["kind"], tuple(c["fields"]))
                    for s in sets
                    if s["status"] == "applied"
                    for c in s["changes"]
                ).items()
            ),
        }
    return state


def differences(got, expected, path: str = "") -> list[str]:
    """Where two states differ, by part (and school), with a few of the differing entries."""
    if got == expected:
        return []
    if isinstance(got, dict) and isinstance(expected, dict):
        return [
            line
            for key in sorted(set(got) | set(expected), key=str)
            for line in differences(got.get(key), expected.get(key), f"{path}{key}: ")
        ]
    if (
        isinstance(got, list)
        and isinstance(expected, list)
        and not any(isinstance(x, dict) for x in expected + got)
    ):
        extra = [x for x in got if x not in expected]
        missing = [x for x in expected if x not in got]
        return [
            f"{path}{len(got)} entries, expected {len(expected)}; "
            + "; ".join(_row_differences(extra, missing) or [f"extra {extra[:3]}, missing {missing[:3]}"])
        ]
    return [f"{path}{str(got)[:800]} != expected {str(expected)[:800]}"]


def _row_differences(extra: list, missing: list) -> list[str]:
    """Rows of one pupil (same identity and key) present on both sides: only the fields that differ."""

    def by_key(rows):
        keyed = {}
        for row in rows:
            if isinstance(row, str) and row.startswith("{"):
                values = json.loads(row)
                key = (str(values.get("identity")),) + tuple(
                    str(values.get(k))
                    for k in sorted(values)
                    if k
                    in (
                        "session_date",
                        "session",
                        "aspect_name",
                        "result_set_name",
                        "group_type",
                        "group_code",
                    )
                )
                keyed[key] = values
        return keyed

    mine, theirs = by_key(extra), by_key(missing)
    lines = [
        f"{key}: "
        + ", ".join(
            f"{field} {mine[key].get(field)!r} != expected {theirs[key].get(field)!r}"
            for field in sorted(set(mine[key]) | set(theirs[key]))
            if mine[key].get(field) != theirs[key].get(field)
        )
        for key in sorted(set(mine) & set(theirs))
    ][:5]
    lines += [f"extra {key}" for key in sorted(set(mine) - set(theirs))][:3]
    lines += [f"missing {key}" for key in sorted(set(theirs) - set(mine))][:3]
    return lines


# ── the production instance (deploy/dagster.yaml, on PostgreSQL) ─────────────────
def use_production_instance(warehouse: Warehouse, repository: Path) -> Path:
    """Point the warehouse's CLI processes at a Dagster instance configured by the repository's
    deploy/dagster.yaml (run queue, pools, run monitoring), stored in the warehouse's own PostgreSQL
    database; returns its DAGSTER_HOME."""
    home = warehouse.home.parent / "dagster_home"
    home.mkdir()
    shutil.copy(repository / "deploy" / "dagster.yaml", home / "dagster.yaml")
    url = sa.engine.make_url(warehouse.url)
    warehouse.env.update(
        DAGSTER_HOME=str(home),
        DAGSTER_PG_USERNAME=url.username or "",
        DAGSTER_PG_PASSWORD=url.password or "",
        DAGSTER_PG_HOST=url.host or "127.0.0.1",
        DAGSTER_PG_DB=url.database or "",
        DAGSTER_PG_PORT=str(url.port or 5432),
    )
    return home
