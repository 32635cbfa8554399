"""No pupil name, UPN or date of birth leaves the encrypted store: not in the terminal, the Dagster
event log, asset metadata, run config or tags, quarantine rules, the audit log or change sets.

The population is given two bad records (a wrong UPN check letter, a missing date of birth) so the
quarantine path, the most likely place for a value to slip into a message, is exercised too.
"""

import os
import shutil
import subprocess
import sys

import pytest
import sqlalchemy as sa
from dagster._serdes import serialize_value

from mis_pipeline.warehouse.audit_log import read_audit
from mis_pipeline.warehouse.change_store import read_change_sets
from mis_pipeline.warehouse.schema import quarantine
from mis_pipeline_tests.pii import pii_strings, two_bad_records

CLI = shutil.which("mis-pipeline") or os.path.join(os.path.dirname(sys.executable), "mis-pipeline")


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_sync_with_bad_records_leaks_no_pupil_value(
    simulator, population, mis_env, registry, instance, engine
):
    school = population.approved_schools()[0]
    with two_bad_records(simulator, school) as originals:
        result = subprocess.run(
            [CLI, "sync"], capture_output=True, text=True, timeout=300, env=os.environ.copy()
        )
    assert result.returncode == 0, result.stderr[-1500:]

    with engine.connect() as conn:
        rules = sorted(
            conn.execute(
                sa.select(quarantine.c.school_urn, quarantine.c.dataset, quarantine.c.rule).where(
                    quarantine.c.dataset == "pupils"
                )
            ).all()
        )
    assert rules == [
        (school.urn, "pupils", "date_of_birth: missing"),
        (school.urn, "pupils", "upn: not a valid UPN (13 characters, DfE check letter)"),
    ]
    assert (
        f"{school.urn}: full sync; pupils {len(originals)} fetched, {len(originals) - 2} new" in result.stdout
    )

    runs = instance.get_runs()
    assert runs
    exposed = [result.stdout, result.stderr]
    for run in runs:
        exposed.append(serialize_value(run.run_config) + serialize_value(run.tags))
        exposed.extend(serialize_value(entry) for entry in instance.all_logs(run.run_id))
    exposed.append(repr(rules))
    # what the warehouse keeps in clear about the sync: the audit log and the change sets
    exposed.extend(repr(entry) for entry in read_audit(engine))
    exposed.extend(
        repr(change_set)
        for s in population.approved_schools()
        for change_set in read_change_sets(engine, s.urn)
    )
    text = "\n".join(exposed)
    leaked = sorted(value for value in pii_strings(population) if value in text)
    assert leaked == []
