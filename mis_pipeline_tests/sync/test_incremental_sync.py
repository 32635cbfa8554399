"""Incremental syncs after the simulator moves on fetch only what changed, and end where a fresh
full sync ends: real simulator over HTTP, real connectors, real SQLite warehouses.

One scenario per module, for a Wonde school and an XoD school (both secondary, every item
granted): a full sync; then twice, `POST /_sim/advance` and an incremental sync; then a full
sync of the same schools into a fresh warehouse. Each advance is stamped just after the last
sync's cursor, inside the cursor's overlap, as a MIS that stamps its changes late would: the
next delta must still see every change, and the one after must not see it again.

The one intended difference between the two warehouses: a pupil deleted at the connector keeps
their row (marked `deleted_at`, which starts the retention clock) and their details, marks and
results until the retention purge, where a fresh full read never hears of them. Their group
memberships end, since the groups they left are re-read.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from mis_pipeline.config import master_keyring
from mis_pipeline.connectors.wonde.client import WondeResource, format_updated_after
from mis_pipeline.connectors.xod.client import XodResource, changes_key
from mis_pipeline.registry.store import RegisteredSchool
from mis_pipeline.sync.extract import CURSOR_OVERLAP
from mis_pipeline.sync.runner import sync_schools
from mis_pipeline.sync.sources import WondeSource, XodSource
from mis_pipeline.warehouse.engine import dispose_all, get_engine
from mis_pipeline.warehouse.reader import read_pupils
from mis_pipeline.warehouse.schema import DATASET_TABLES
from mis_pipeline.warehouse.school_store import read_cursors
from mis_pipeline.warehouse.vault import open_vault
from mis_pipeline_tests.conftest import PG_ADMIN_URL, postgres_or_skip
from mis_simulator.datasets import ATTENDANCE_DAYS, RESULT_SETS, SECONDARY_ASPECTS, datasets_for
from mis_simulator.population import ALL_PERMISSIONS, build_population
from mis_simulator.server import ADVANCE_PATH, SimulatorServer
from mis_simulator.xod_api import estab_of, write_xod_secrets

# Per-warehouse times and digests. `left_informed_at` is when this warehouse heard of a leaving.
BOOKKEEPING = {
    "row_hash",
    "first_synced_at",
    "last_changed_at",
    "last_run_id",
    "source_updated_at",
    "left_informed_at",
}


def held_rows(engine, urn: str) -> dict[str, list[dict]]:
    """Every row held for school `urn`, per table, pupils opened with their data keys, minus
    bookkeeping that legitimately differs between two warehouses (`source_updated_at` too: a
    record re-sent unchanged under a newer time is not rewritten). Each warehouse keys pupils
    with its own secret, so rows name their pupil by MIS id instead of the pupil key."""
    core = read_pupils(engine, open_vault(engine, master_keyring()), urn)
    mis_id_of = {row["pupil_key"]: row["mis_id"] for row in core}
    held = {
        "pupils": [{k: v for k, v in row.items() if k not in BOOKKEEPING | {"pupil_key"}} for row in core]
    }
    with engine.connect() as conn:
        for name, table in DATASET_TABLES.items():
            rows = conn.execute(sa.select(table).where(table.c.school_urn == urn)).mappings()
            held[name] = [
                {
                    **{k: v for k, v in row.items() if k not in BOOKKEEPING | {"pupil_key"}},
                    "pupil_mis_id": mis_id_of[row["pupil_key"]],
                }
                for row in rows
            ]
    return {name: sorted(rows, key=repr) for name, rows in held.items()}


def sync_into(engine, sources: dict, schools: list[RegisteredSchool]) -> dict:
    """One sync of `schools` (the runner, as the Dagster asset calls it); outcomes by URN."""
    vault = open_vault(engine, master_keyring())
    return {outcome.urn: outcome for outcome in sync_schools(engine, vault, sources, schools, run_id=None)}


TOKEN = "sim-token"
DATASETS = ("pupils", "pupil_details", "attendance_sessions", "assessment_results", "pupil_groups")
ITEMS = ("core", "additional_details", "attendance", "assessments", "groups")
RESULTS_PER_PUPIL = len(RESULT_SETS) * len(SECONDARY_ASPECTS)
MARKS_PER_PUPIL = 2 * ATTENDANCE_DAYS
PAGING = ("changedRows", "page", "pageSize")


@dataclass
class Step:
    changes: dict  # the change log of `POST /_sim/advance`, by URN
    cursors: dict[str, dict[str, str]]  # each school's stored cursors before the incremental sync
    requests: list  # the simulator's request log of the incremental sync
    outcomes: dict  # the incremental sync's outcome per URN
    groups_before: dict[str, dict[str, frozenset[str]]]  # group id -> members' MIS ids, per URN
    groups_after: dict[str, dict[str, frozenset[str]]]


@dataclass
class Scenario:
    population: object
    wonde: object  # the simulator's Wonde school
    xod: object  # the simulator's XoD school
    held: list[dict[str, dict]] = field(default_factory=list)  # per URN, after the full sync and each step
    steps: list[Step] = field(default_factory=list)
    fresh: dict[str, dict] = field(default_factory=dict)  # per URN, the fresh warehouse after a full sync


def registered(school) -> RegisteredSchool:
    school_id = school.id if school.connector == "wonde" else estab_of(school)
    return RegisteredSchool(
        school.urn,
        school.connector,
        school_id,
        school.name,
        "approved",
        ITEMS,
        "automatic",
        False,
        agreement_accepted_on=date(2026, 9, 1),
    )


def new_sources(server: SimulatorServer, secrets) -> dict:
    """Fresh resources per sync, as each Dagster run gets: no token or cache carried over."""
    return {
        "wonde": WondeSource(WondeResource(api_url=server.wonde_url, api_token=TOKEN, requests_per_second=0)),
        "xod": XodSource(
            XodResource(
                api_url=server.xod_url,
                relying_party=server.xod_relying_party,
                school_secrets_path=str(secrets),
                requests_per_second=0,
            )
        ),
    }


def group_members(population, school) -> dict[str, frozenset[str]]:
    mis_id = {pupil.id: pupil.mis_id for pupil in school.pupils}
    return {
        group.id: frozenset(mis_id[member] for member in group.member_ids)
        for group in datasets_for(population, school).groups
    }


def advance_after(server: SimulatorServer, cursor: str) -> dict:
    """`POST /_sim/advance`, stamped a millisecond after `cursor`: inside the cursor's overlap."""
    at = datetime.fromisoformat(cursor) + timedelta(milliseconds=1)
    response = requests.post(
        f"{server.scheme}://{server.host}:{server.port}{ADVANCE_PATH}",
        params={"at": at.isoformat()},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    # Wonde sends whole seconds: once the next sync's cursor is a second past `at`, it cannot
    # see this step again.
    time.sleep(max(0.0, (at + CURSOR_OVERLAP + timedelta(seconds=1) - datetime.now(UTC)).total_seconds()))
    return response.json()["schools"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def warehouse_urls(request, tmp_path_factory):
    """Two empty warehouses: one synced incrementally, one fresh for the full sync."""
    if request.param == "sqlite":
        files = tmp_path_factory.mktemp("warehouses")
        yield [f"sqlite:///{files / name}.db" for name in ("incremental", "fresh")]
        return
    postgres_or_skip()
    names = [f"mis_test_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield [
        sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        for name in names
    ]
    dispose_all()
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, monkeypatch_module, warehouse_urls) -> Scenario:
    population = build_population(31, 3, 20)
    wonde, xod = population.schools[1], population.schools[2]  # both secondary: teaching groups too
    for school in (wonde, xod):
        school.permissions = {identity: True for identity in ALL_PERMISSIONS}
    assert (wonde.connector, xod.connector) == ("wonde", "xod")
    files = tmp_path_factory.mktemp("incremental")
    secrets = write_xod_secrets(population, files / "xod-secrets.json")
    schools = [registered(wonde), registered(xod)]
    scenario = Scenario(population, wonde, xod)
    with SimulatorServer(population, token=TOKEN) as server:
        engine = get_engine(warehouse_urls[0])
        outcomes = sync_into(engine, new_sources(server, secrets), schools)
        assert {o.status for o in outcomes.values()} == {"synced"}
        scenario.held.append({s.urn: held_rows(engine, s.urn) for s in schools})
        for _ in range(2):
            cursors = {s.urn: read_cursors(engine, s.urn) for s in schools}
            before = {s.urn: group_members(population, s) for s in (wonde, xod)}
            changes = advance_after(server, cursors[wonde.urn]["pupils"])
            server.clear_request_log()
            outcomes = sync_into(engine, new_sources(server, secrets), schools)
            assert {o.status for o in outcomes.values()} == {"synced"}
            scenario.steps.append(
                Step(
                    changes,
                    cursors,
                    server.request_log,
                    outcomes,
                    before,
                    {s.urn: group_members(population, s) for s in (wonde, xod)},
                )
            )
            scenario.held.append({s.urn: held_rows(engine, s.urn) for s in schools})
        fresh = get_engine(warehouse_urls[1])
        outcomes = sync_into(fresh, new_sources(server, secrets), schools)
        assert {o.mode for o in outcomes.values()} == {"full"}
        scenario.fresh = {s.urn: held_rows(fresh, s.urn) for s in schools}
    return scenario


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MIS_ALLOW_LOOPBACK_HTTP", "1")
        yield patch


# -- what the incremental syncs asked for ------------------------------------------------------
def test_the_wonde_school_is_asked_for_every_item_changed_since_the_stored_cursor(scenario):
    school = scenario.wonde
    for step in scenario.steps:
        since = [format_updated_after(datetime.fromisoformat(step.cursors[school.urn]["pupils"]))]
        prefix = f"/v1.0/schools/{school.id}"
        asked = [
            (r.path.removeprefix(prefix), r.query.get("updated_after"))
            for r in step.requests
            if r.path.startswith(prefix)
        ]
        assert sorted(asked, key=repr) == sorted(
            [
                ("", None),  # the school object, for its regional domain
                ("/students", since),
                ("/students-leaver", since),
                ("/deletions", since),
                ("/attendance/session", since),
                ("/attendance-leavers/session", since),
                ("/assessment/aspects", None),
                ("/assessment/resultsets", None),  # names, read whole
                ("/assessment/results", since),
                ("/groups", since),
            ],
            key=repr,
        )


def test_the_xod_school_continues_each_changed_rows_chain_and_rereads_only_groups_whole(scenario):
    school = scenario.xod
    prefix = f"/api/v1/School/{estab_of(school)}/"
    for step in scenario.steps:
        stored = step.cursors[school.urn]
        chains = {**json.loads(stored["attendance_sessions"]), **json.loads(stored["assessment_results"])}
        calls = [
            (
                r.path.removeprefix(prefix),
                {k: v[0] for k, v in r.query.items() if k not in PAGING},
                r.query.get("changedRows", [None])[0],
            )
            for r in step.requests
            if r.path.startswith(prefix)
        ]
        assert sorted((endpoint, params.get("SessionType")) for endpoint, params, _ in calls) == [
            ("AttendanceForDateRange", "AM"),
            ("AttendanceForDateRange", "PM"),
            ("Groups", None),
            ("Students", None),
            ("assessmentresults", None),
            ("assessmentstructure", None),
        ]
        for endpoint, params, sent in calls:
            if endpoint == "Students":
                assert sent == stored["pupils"] != "*"
            elif endpoint in ("AttendanceForDateRange", "assessmentresults"):
                assert sent == chains[changes_key(endpoint, params)] != "*"  # the hash of that very call
            else:
                assert sent is None, endpoint  # Groups read whole (see XodSource); aspect names


def expected_fetched(step: Step, school) -> dict[str, int]:
    """What a delta of `school` must fetch after `step`, from the simulator's change log: the
    core record and details of every pupil new, changed, restored or left; the marks and results
    of every pupil new or restored (their history arrives with them); every group whose members
    changed (Wonde), or every group (XoD, read whole)."""
    changes = step.changes[school.urn]
    students = set(changes["new"]) | set(changes["changed"]) | set(changes["restored"]) | set(changes["left"])
    arrived = len(changes["new"]) + len(changes["restored"])
    before, after = step.groups_before[school.urn], step.groups_after[school.urn]
    changed_groups = {gid for gid in before.keys() | after.keys() if before.get(gid) != after.get(gid)}
    return {
        "pupils": len(students),
        "pupil_details": len(students),
        "attendance_sessions": MARKS_PER_PUPIL * arrived,
        "assessment_results": RESULTS_PER_PUPIL * arrived,
        "pupil_groups": len(changed_groups) if school.connector == "wonde" else len(after),
    }


@pytest.mark.parametrize("connector", ["wonde", "xod"])
def test_each_incremental_sync_fetches_exactly_what_the_change_log_names(scenario, connector):
    school = getattr(scenario, connector)
    for step in scenario.steps:
        outcome = step.outcomes[school.urn]
        assert outcome.mode == "incremental"
        fetched = {dataset: outcome.counts[dataset].fetched for dataset in DATASETS}
        assert fetched == expected_fetched(step, school)
    every = [step.changes[school.urn] for step in scenario.steps]
    assert all(c["new"] and c["changed"] and c["left"] and c["deleted"] for c in every)
    assert every[1]["restored"] == every[0]["deleted"]  # the second step restores the first's deletion


# -- where they end ----------------------------------------------------------------------------
def deleted_at_the_connector(held: dict) -> set[str]:
    return {row["mis_id"] for row in held["pupils"] if row["deleted_at"] is not None}


def without(held: dict, mis_ids: set[str]) -> dict:
    return {
        name: [row for row in rows if row.get("mis_id", row.get("pupil_mis_id")) not in mis_ids]
        for name, rows in held.items()
    }


@pytest.mark.parametrize("connector", ["wonde", "xod"])
def test_after_incremental_syncs_the_warehouse_holds_what_a_fresh_full_sync_holds(scenario, connector):
    urn = getattr(scenario, connector).urn
    incremental = scenario.held[-1][urn]
    deleted = deleted_at_the_connector(incremental)
    assert deleted == set(scenario.steps[-1].changes[urn]["deleted"])  # the first step's was restored
    assert without(incremental, deleted) == scenario.fresh[urn]
    assert all(scenario.fresh[urn][dataset] for dataset in DATASETS)
    left = {mis_id for step in scenario.steps for mis_id in step.changes[urn]["left"]}
    leavers = [row for row in scenario.fresh[urn]["pupils"] if row["leaving_date"] is not None]
    assert {row["mis_id"] for row in leavers} == left
    assert {row["pupil_mis_id"] for row in scenario.fresh[urn]["attendance_sessions"]} >= left


@pytest.mark.parametrize("connector", ["wonde", "xod"])
def test_a_pupil_deleted_at_the_connector_keeps_every_row_but_group_memberships_until_the_purge(
    scenario, connector
):
    urn = getattr(scenario, connector).urn
    (deleted,) = scenario.steps[-1].changes[urn]["deleted"]
    before, after = scenario.held[-2][urn], scenario.held[-1][urn]
    kept = {
        name: [row for row in rows if row.get("mis_id", row.get("pupil_mis_id")) == deleted]
        for name, rows in after.items()
    }
    held = {
        name: [row for row in rows if row.get("mis_id", row.get("pupil_mis_id")) == deleted]
        for name, rows in before.items()
    }
    (row,) = kept["pupils"]
    assert row["deleted_at"] is not None and {**row, "deleted_at": None} == held["pupils"][0]
    for dataset in ("pupil_details", "attendance_sessions", "assessment_results"):
        assert kept[dataset] == held[dataset] and held[dataset], dataset
    assert held["pupil_groups"] and kept["pupil_groups"] == []
    assert all(
        deleted not in (r.get("mis_id"), r.get("pupil_mis_id"))
        for rows in scenario.fresh[urn].values()
        for r in rows
    )
