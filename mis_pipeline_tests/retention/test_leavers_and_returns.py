"""Leavers, deletions and returns against a simulator whose time moves, through the CLI: a leaver's
named data goes 6 months after the later of its leaving date and the day we were told; a pupil
deleted at the connector likewise; a pupil whose deletion is undone before then stays."""

from __future__ import annotations

import json
from datetime import timedelta

from dateutil.relativedelta import relativedelta

from mis_pipeline.config import master_keyring
from mis_pipeline.lib.dates import london_today
from mis_pipeline.warehouse.engine import get_engine
from mis_pipeline.warehouse.reader import read_pupils
from mis_pipeline.warehouse.vault import open_vault
from mis_pipeline_tests.private_sim import cli, private_pipeline
from mis_simulator.population import build_population


def held_mis_ids(url: str) -> set[tuple[str, str]]:
    engine = get_engine(url)
    return {(p["school_urn"], p["mis_id"]) for p in read_pupils(engine, open_vault(engine, master_keyring()))}


def test_leavers_deletions_and_returns_purge_or_stay_on_the_exact_day(tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    population = build_population(seed=31, schools=4, pupils_per_school=20)
    with private_pipeline(population, tmp_path, url) as (server, env):
        cli(env, "sync")
        first = server.advance()  # leavers and deletions
        cli(env, "sync")
        second = server.advance()  # from the second step on, one earlier deletion is restored
        cli(env, "sync")
        told = london_today()
        steps = (first, second)
        leavers = {(urn, m) for log in steps for urn, c in log.schools.items() for m in c.left}
        deleted = {(urn, m) for log in steps for urn, c in log.schools.items() for m in c.deleted}
        restored = {(urn, m) for urn, c in second.schools.items() for m in c.restored}
        assert leavers and deleted and restored and restored <= deleted
        leaving_dates = {(s.urn, p.mis_id): p.leaving_date for s in population.schools for p in s.leavers}
        assert all(leaving_dates[key] <= told for key in leavers)  # back-dated: the clock runs from today
        deadline = told + relativedelta(months=6)

        cli(env, "purge", "--as-of", (deadline - timedelta(days=1)).isoformat())
        before = held_mis_ids(url)
        assert leavers | deleted <= before
        purged = cli(env, "purge", "--as-of", deadline.isoformat()).stdout
        after = held_mis_ids(url)
        retention = json.loads(cli(env, "retention", "--json").stdout)

    assert after == before - (leavers | (deleted - restored))
    assert restored <= after
    assert (
        f"un-named {len(leavers | (deleted - restored))} pupils ({len(leavers | (deleted - restored))} left)"
        in purged
    )
    assert retention["due"] == []
