"""No pupil name, UPN or date of birth leaves the warehouse: not in the terminal, the Dagster event
log, asset metadata, run config or tags, nor in quarantine rules.

The population is given two bad records (a wrong UPN check letter, a missing date of birth) so the
quarantine path, the most likely place for a value to slip into a message, is exercised too.
"""

import dataclasses
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from dagster._serdes import serialize_value

from mis_pipeline.warehouse.schema import quarantine

CLI = shutil.which("mis-pipeline") or os.path.join(os.path.dirname(sys.executable), "mis-pipeline")


@contextmanager
def two_bad_records(simulator, school):
    """Corrupt two pupils of `school` at the source for the duration of the block."""
    originals = list(school.pupils)
    wrong_letter = "A" if originals[0].upn[0] != "A" else "B"
    school.pupils[0] = dataclasses.replace(originals[0], upn=wrong_letter + originals[0].upn[1:])
    school.pupils[1] = dataclasses.replace(originals[1], date_of_birth=None)
    simulator.invalidate_cache()
    try:
        yield originals
    finally:
        school.pupils[:] = originals
        simulator.invalidate_cache()


def pii_strings(population) -> set[str]:
    values = set()
    for school in population.approved_schools():
        for p in school.pupils:
            values |= {p.upn, p.date_of_birth.isoformat(), p.date_of_birth.strftime("%d/%m/%Y")}
            values |= {name for name in (p.legal_forename, p.legal_surname, p.forename, p.surname)
                       if name and len(name) >= 4}
    return values


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_sync_with_bad_records_leaks_no_pupil_value(simulator, population, mis_env, registry, instance, engine):
    school = population.approved_schools()[0]
    with two_bad_records(simulator, school) as originals:
        result = subprocess.run([CLI, "sync"], capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert result.returncode == 0, result.stderr[-1500:]

    with engine.connect() as conn:
        rules = dict(conn.execute(sa.select(quarantine.c.record_ref, quarantine.c.rule)).all())
    assert rules == {originals[0].id: "upn: upn_check_letter", originals[1].id: "date_of_birth: not_nullable"}
    assert f"{school.urn}: full sync; pupils {len(originals)} fetched, {len(originals) - 2} new" in result.stdout

    runs = instance.get_runs()
    assert runs
    exposed = [result.stdout, result.stderr]
    for run in runs:
        exposed.append(serialize_value(run.run_config) + serialize_value(run.tags))
        exposed.extend(serialize_value(entry) for entry in instance.all_logs(run.run_id))
    exposed.append(repr(rules))
    text = "\n".join(exposed)
    leaked = sorted(value for value in pii_strings(population) if value in text)
    assert leaked == []
