"""The issue's scenario, through the CLI against a simulator whose time moves: pupils held back by
checks (and their other items), leavers and deletions, one school's subscription ending, another
revoking our access at its connector and a third withdrawing from the agreement; then the purge, a day before the deadline and on it. On the
day, nothing of the ended schools is left but un-named records, no pupil-linked row anywhere lacks
a named record or a live quarantine entry, and exactly the other schools' good, present pupils
remain. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from mis_pipeline.config import master_keyring
from mis_pipeline.lib.dates import london_today
from mis_pipeline.registry.settings import SettingsChange, apply_settings
from mis_pipeline.retention.subjects import unlinked_counts
from mis_pipeline.warehouse.engine import get_engine
from mis_pipeline.warehouse.reader import read_pupils
from mis_pipeline.warehouse.schema import change_sets, pupil_changes, pupil_links, pupils, unnamed_pupils
from mis_pipeline.warehouse.vault import open_vault
from mis_pipeline_tests.private_sim import cli, private_pipeline
from mis_simulator.population import build_population, defect_of


def rows_of_schools(conn, urns: set[str]) -> dict[str, int]:
    """Pupil-linked rows the schools still hold, per table (change history by its change set; the
    share log's pupils only link through held pupils, which `unlinked_counts` covers)."""
    counts = {}
    for name, column in pupil_links().items():
        table = column.table
        if "school_urn" in table.c:
            query = sa.select(sa.func.count()).select_from(table).where(table.c.school_urn.in_(urns))
        elif table is pupil_changes:
            query = (
                sa.select(sa.func.count())
                .select_from(table.join(change_sets, change_sets.c.id == pupil_changes.c.change_set_id))
                .where(change_sets.c.school_urn.in_(urns), column.is_not(None))
            )
        else:
            continue
        counts[name] = conn.execute(query).scalar_one()
    return {name: n for name, n in counts.items() if n}


def test_after_the_deadline_no_ended_schools_rows_and_no_unlinked_rows_remain(tmp_path, warehouse_url):
    population = build_population(seed=12, schools=4, pupils_per_school=12, bad_records=2)
    # an XoD school's subscription ends, a Wonde school revokes our access, another withdraws
    ended, revoked, withdrawn = population.schools[2], population.schools[1], population.schools[3]
    gone = {ended.urn, revoked.urn, withdrawn.urn}
    others = [s for s in population.schools if s.urn not in gone]
    with private_pipeline(population, tmp_path, warehouse_url) as (server, env):
        cli(env, "sync")
        server.advance()  # leavers, deletions, new pupils
        cli(env, "sync")
        today = london_today()
        engine = get_engine(warehouse_url)
        apply_settings(engine, [ended.urn], SettingsChange(subscription_end=today), actor="test")
        apply_settings(engine, [withdrawn.urn], SettingsChange(agreement_withdrawn_on=today), actor="test")
        revoked.approval = "revoked"
        server.invalidate_cache()
        cli(env, "schools", "discover")
        with engine.connect() as conn:
            quarantined = conn.execute(sa.text("SELECT count(*) FROM quarantine")).scalar_one()
            held_before = dict(
                conn.execute(
                    sa.select(pupils.c.school_urn, sa.func.count()).group_by(pupils.c.school_urn)
                ).all()
            )
        deadline = today + relativedelta(months=6)

        cli(env, "purge", "--as-of", (deadline - timedelta(days=1)).isoformat())  # exits 1 if a check fails
        with engine.connect() as conn:
            early = rows_of_schools(conn, gone)
            assert conn.execute(sa.text("SELECT count(*) FROM quarantine")).scalar_one() == quarantined
        cli(env, "purge", "--as-of", deadline.isoformat())

        with engine.connect() as conn:
            assert rows_of_schools(conn, gone) == {}
            assert unlinked_counts(conn) == {
                name: 0 for name in pupil_links() if name not in ("pupils", "quarantine")
            }
            assert conn.execute(sa.text("SELECT count(*) FROM quarantine")).scalar_one() == 0
            unnamed = dict(
                conn.execute(
                    sa.select(unnamed_pupils.c.school_urn, sa.func.count()).group_by(
                        unnamed_pupils.c.school_urn
                    )
                ).all()
            )
        remaining = {
            (p["school_urn"], p["mis_id"]) for p in read_pupils(engine, open_vault(engine, master_keyring()))
        }

    assert quarantined >= 2 * len(population.schools)  # each school's bad records, and their other items
    assert early["pupils"] == sum(held_before[urn] for urn in gone) and early["quarantine"] > 0
    assert {urn: unnamed[urn] for urn in gone} == {urn: held_before[urn] for urn in gone}
    assert remaining == {(s.urn, p.mis_id) for s in others for p in s.pupils if defect_of(p) is None}
