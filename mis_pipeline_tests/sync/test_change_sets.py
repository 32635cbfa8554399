"""Change sets against a simulator whose time moves: what the pipeline reports as changed equals
the simulator's own record of what changed (field names only), and a manual school's tables wait
for a person to apply its pending change set."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from mis_pipeline.config import master_keyring
from mis_pipeline.warehouse.change_store import read_change_sets
from mis_pipeline.warehouse.engine import get_engine
from mis_pipeline.warehouse.reader import read_pupils
from mis_pipeline.warehouse.schema import DATASET_TABLES
from mis_pipeline.warehouse.vault import open_vault
from mis_pipeline_tests.private_sim import cli, private_pipeline
from mis_simulator.population import build_population

# The simulator names a few fields as Wonde does; the canonical record names them as the contract does.
CANONICAL_FIELD = {"gender": "sex", "current_nc_year": "nc_year"}


def applied_changes(engine, urn: str) -> set[tuple[str, str, tuple[str, ...]]]:
    """(MIS id, kind, fields) of the school's latest applied change set."""
    mis_ids = {
        p["pupil_key"]: p["mis_id"] for p in read_pupils(engine, open_vault(engine, master_keyring()), urn)
    }
    latest = [s for s in read_change_sets(engine, urn) if s["status"] == "applied"][-1]
    return {(mis_ids[c["pupil_key"]], c["kind"], tuple(c["fields"])) for c in latest["changes"]}


# XoD documents no former UPN on a student row (connectors.md §2.3): the simulator serves it only
# with its inferred fields, so an XoD school's change never names it.
UNSEEN_ON = {"wonde": frozenset(), "xod": frozenset({"former_upn"})}


def expected_changes(changes, connector: str) -> set[tuple[str, str, tuple[str, ...]]]:
    expected = {(m, "new", ()) for m in changes.new} | {(m, "deleted", ()) for m in changes.deleted}
    for m, fields in changes.changed.items():
        seen = tuple(
            sorted(f for f in (CANONICAL_FIELD.get(f, f) for f in fields) if f not in UNSEEN_ON[connector])
        )
        if seen:
            expected.add((m, "changed", seen))
    return expected


@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_after_the_source_moves_on_each_schools_change_set_equals_the_simulators_record(
    tmp_path, warehouse_url
):
    population = build_population(seed=23, schools=6, pupils_per_school=20)
    with private_pipeline(population, tmp_path, warehouse_url) as (server, env):
        cli(env, "sync")
        log = server.advance()  # now: after the first sync, as real changes would be
        cli(env, "sync")
        urn, changes = next((u, c) for u, c in log.schools.items() if c.new and c.changed)
        listed = json.loads(cli(env, "changes", urn, "--json").stdout)["change_sets"]
    assert [c["status"] for c in listed] == ["applied", "applied"]
    assert (listed[-1]["pupils"]["new"], listed[-1]["pupils"]["changed"]) == (
        len(changes.new),
        len(changes.changed),
    )
    engine = get_engine(warehouse_url)
    checked = 0
    for urn, changes in log.schools.items():
        got = applied_changes(engine, urn)
        connector = next(s.connector for s in population.schools if s.urn == urn)
        assert {c for c in got if c[1] in ("new", "changed", "deleted")} == expected_changes(
            changes, connector
        ), urn
        assert sorted(m for m, kind, _ in got if kind == "left") == sorted(changes.left), urn
        assert sorted(m for m, kind, _ in got if kind == "restored") == sorted(changes.restored), urn
        checked += 1
    assert checked >= 3
    kinds = {
        kind
        for changes in log.schools.values()
        for kind in ("new", "changed", "left", "deleted", "upn_replaced")
        if getattr(changes, kind)
    }
    assert kinds == {"new", "changed", "left", "deleted", "upn_replaced"}  # every kind was exercised


BOOKKEEPING = {"first_synced_at", "last_changed_at", "last_run_id", "row_hash"}
WHEN_SEEN = {"deleted_at", "left_informed_at"}  # each warehouse's own clock: compared as "is set"


def school_tables(url: str, urn: str) -> dict[str, list]:
    """Everything held for one school, opened, without bookkeeping that differs between warehouses.
    Pupil keys are keyed by each warehouse's own secret, so rows name their pupil by MIS id here."""
    engine = get_engine(url)
    pupils = read_pupils(engine, open_vault(engine, master_keyring()), urn)
    mis_id = {p["pupil_key"]: p["mis_id"] for p in pupils}
    held = {
        "pupils": sorted(
            tuple(
                sorted(
                    (k, v is not None if k in WHEN_SEEN else v)
                    for k, v in p.items()
                    if k not in BOOKKEEPING | {"pupil_key"}
                )
            )
            for p in pupils
        )
    }
    with engine.connect() as conn:
        for name, table in DATASET_TABLES.items():
            columns = [c for c in table.c if c.name not in BOOKKEEPING]
            rows = conn.execute(sa.select(*columns).where(table.c.school_urn == urn)).mappings().all()
            held[name] = sorted(
                tuple(mis_id.get(v, "?") if k == "pupil_key" else v for k, v in row.items()) for row in rows
            )
    return held


def status_of(env: dict, urn: str) -> dict:
    return next(s for s in json.loads(cli(env, "status", "--json").stdout)["schools"] if s["urn"] == urn)


def test_a_manual_schools_tables_wait_for_its_change_set_and_then_equal_an_automatic_schools(tmp_path):
    from mis_pipeline_tests.private_sim import private_simulator, set_up_pipeline

    population = build_population(seed=29, schools=4, pupils_per_school=20)
    school = next(s for s in population.approved_schools() if s.connector == "wonde")
    manual_url, automatic_url = (f"sqlite:///{tmp_path / name}.db" for name in ("manual", "automatic"))
    with private_simulator(population, tmp_path) as (server, simulator_env):
        manual = set_up_pipeline(simulator_env, tmp_path / "manual_home", manual_url)
        automatic = set_up_pipeline(simulator_env, tmp_path / "automatic_home", automatic_url)
        cli(manual, "schools", "set", school.urn, "--mode", "manual")
        held_back = cli(manual, "sync").stdout
        cli(automatic, "sync")
        assert f"{school.urn}: manual school, changes held as pending ({len(school.pupils)} new)" in held_back
        assert school_tables(manual_url, school.urn)["pupils"] == []  # the first sync waits too
        assert status_of(manual, school.urn)["counts"]["pending_changes"] == len(school.pupils)
        applied = cli(manual, "sync", "--school", school.urn).stdout  # a person applies it
        assert (
            f"{school.urn}: full sync; pupils {len(school.pupils)} fetched, {len(school.pupils)} new"
            in applied
        )
        assert school_tables(manual_url, school.urn) == school_tables(automatic_url, school.urn)

        held_before = school_tables(manual_url, school.urn)
        first = server.advance()
        cli(manual, "sync")
        second = server.advance()
        synced = cli(manual, "sync")  # a newer pending change set supersedes the older one
        cli(automatic, "sync")
        cli(automatic, "sync")

        assert school_tables(manual_url, school.urn) == held_before
        pending = status_of(manual, school.urn)["pending_change_set"]
        moved = {k for log in (first, second) for k in log.schools.get(school.urn).delta_mis_ids()}
        assert pending["pupils"]["new"] + pending["pupils"]["changed"] >= len(moved) > 0
        assert f"apply them with `mis-pipeline sync --school {school.urn}`" in synced.stdout
        statuses = [s["status"] for s in read_change_sets(get_engine(manual_url), school.urn)]
        assert statuses == ["superseded", "applied", "superseded", "pending"]

        cli(manual, "sync", "--school", school.urn)

    assert school_tables(manual_url, school.urn) == school_tables(automatic_url, school.urn)
    assert status_of(manual, school.urn)["counts"]["pending_changes"] == 0
