"""`mis-pipeline schools set`: a school's own settings, changed on its behalf, audited."""

import json
import os

import pytest

from mis_pipeline.lib.dates import london_today, uk_day
from mis_pipeline.warehouse.audit_log import read_audit
from mis_pipeline_tests.cli.test_cli import run_cli

pytestmark = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)


@pytest.fixture
def cli_env(mis_env, simulator, registry):
    return os.environ.copy()


def school_entry(env, urn: str) -> dict:
    return next(
        s for s in json.loads(run_cli("status", "--json", env=env).stdout)["schools"] if s["urn"] == urn
    )


def test_each_setting_changes_prints_what_moved_and_is_audited(cli_env, population, engine):
    urn = population.approved_schools()[0].urn
    result = run_cli(
        "--as",
        "office.kim",
        "schools",
        "set",
        urn,
        "--mode",
        "manual",
        "--pause",
        "--subscription-end",
        "2027-08-31",
        "--withhold",
        "groups",
        env=cli_env,
    )
    assert result.returncode == 0, result.stderr
    today = uk_day(london_today())
    assert result.stdout.strip() == (
        f"school {urn}: Groups: withheld from {today}; Sync mode: manual (was automatic); "
        f"Data collection: paused from {today} (the school is not contacted); "
        "Subscription end: 31 August 2027 (was not set)."
    )
    entry = school_entry(cli_env, urn)
    assert (entry["sync_mode"], entry["paused"], entry["subscription_end"], entry["withheld"]) == (
        "manual",
        True,
        "2027-08-31",
        ["groups"],
    )
    [audit] = [e for e in read_audit(engine, school_urn=urn) if e["actor"] == "office.kim"]
    assert audit["action"] == "settings_changed"
    assert audit["detail"] == {
        "withheld_items": {"before": [], "after": ["groups"]},
        "sync_mode": {"before": "automatic", "after": "manual"},
        "paused": {"before": False, "after": True},
        "subscription_end": {"before": None, "after": "2027-08-31"},
    }
    again = run_cli("--as", "office.kim", "schools", "set", urn, "--mode", "manual", env=cli_env)
    assert again.stdout.strip() == f"school {urn}: already so, nothing changed"
    assert len([e for e in read_audit(engine, school_urn=urn) if e["actor"] == "office.kim"]) == 1


def test_an_ended_subscription_stops_the_school_being_synced_and_status_says_why(cli_env, population):
    urn = population.approved_schools()[0].urn
    assert run_cli("schools", "set", urn, "--subscription-end", "2026-10-31", env=cli_env).returncode == 0
    refused = run_cli("sync", "--school", urn, env=cli_env)
    assert (refused.returncode, refused.stderr.strip()) == (
        1,
        f"mis-pipeline: school {urn} cannot be synced: the subscription ended on 2026-10-31",
    )
    assert school_entry(cli_env, urn)["blocked_by"] == "the subscription ended on 2026-10-31"
    assert run_cli("schools", "set", urn, "--subscription-end", "none", env=cli_env).returncode == 0
    assert school_entry(cli_env, urn)["blocked_by"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["999999", "--pause"],
            "school 999999 is not registered (see `mis-pipeline schools list`; "
            "`mis-pipeline schools discover` registers the schools that approved us)",
        ),
        (
            ["URN", "--agreement-accepted", "2099-01-01"],
            "the agreement cannot be accepted on a future date (2099-01-01)",
        ),
        (
            ["URN", "--agreement-accepted", "1/9/2026"],
            "--agreement-accepted takes a date as YYYY-MM-DD (got '1/9/2026')",
        ),
        (
            ["URN", "--withhold", "core"],
            "the core record cannot be withheld: pause the school to stop all collection",
        ),
        (["URN"], "nothing to set: see `mis-pipeline schools set --help`"),
    ],
)
def test_an_impossible_setting_is_refused_with_one_line_and_changes_nothing(
    cli_env, population, engine, args, message
):
    urn = population.approved_schools()[0].urn
    before = len(read_audit(engine))
    result = run_cli("schools", "set", *[urn if a == "URN" else a for a in args], env=cli_env)
    assert (result.returncode, result.stderr.strip()) == (2, f"mis-pipeline: {message}")
    assert len(read_audit(engine)) == before
