"""The purges against a real sync of the simulator's schools, to the day: Y6 in a primary, Y11 in an
11-16 school and Y13 in an 11-18 school go 6 months after 31 August of their final year, a school's
pupils 6 months after its subscription ends; nothing goes a day early. After a purge the pupil's
ciphertext can no longer be opened anywhere, and the un-named record remains, for 5 years."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from mis_pipeline.cli.launch import run_sync
from mis_pipeline.cli.runs import run_job
from mis_pipeline.lib.crypto import UnreadableCiphertextError, open_sealed
from mis_pipeline.lib.dates import london_today
from mis_pipeline.registry.settings import SettingsChange, apply_settings
from mis_pipeline.retention.assets import PURGE_JOB
from mis_pipeline.retention.store import named_past_deadline
from mis_pipeline.warehouse.audit_log import read_audit
from mis_pipeline.warehouse.schema import data_keys, pupils, unnamed_pupils
from mis_pipeline.warehouse.vault import Vault
from mis_pipeline_tests.pii import two_bad_records

pytestmark = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
OPS = ("retention_eligible_records", "named_data_purge", "unnamed_data_purge")


def purge(instance, as_of: date) -> None:
    result = run_job(
        instance, PURGE_JOB, {"ops": {op: {"config": {"as_of": as_of.isoformat()}} for op in OPS}}
    )
    assert result.success


def held(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(sa.select(pupils.c.school_urn, sa.func.count()).group_by(pupils.c.school_urn)).all()
        )


def completion_deadline() -> date:
    """This school year's final-year pupils complete on 31 August; 6 months later is end of February."""
    today = london_today()
    end_year = today.year + 1 if today.month >= 9 else today.year
    return date(end_year + 1, 3, 1).fromordinal(date(end_year + 1, 3, 1).toordinal() - 1)


def final_year(school) -> str:
    return str(school.statutory_high_age - 5)


def test_final_year_pupils_are_purged_on_the_last_day_of_february_and_not_a_day_before(
    simulator, population, registry, instance, engine
):
    assert run_sync(instance).success
    served = {s.urn: len(s.pupils) for s in population.approved_schools()}
    leaving = {
        s.urn: sum(p.current_nc_year == final_year(s) for p in s.pupils)
        for s in population.approved_schools()
    }
    kinds = {
        (s.phase_of_education, s.statutory_high_age) for s in population.approved_schools() if leaving[s.urn]
    }
    assert {("PRIMARY", 11), ("SECONDARY", 16), ("SECONDARY", 18)} <= kinds

    deadline = completion_deadline()
    purge(instance, date.fromordinal(deadline.toordinal() - 1))
    assert held(engine) == served
    purge(instance, deadline)
    assert held(engine) == {urn: n - leaving[urn] for urn, n in served.items() if n - leaving[urn]}
    with engine.connect() as conn:
        records = conn.execute(
            sa.select(unnamed_pupils.c.rule, sa.func.count()).group_by(unnamed_pupils.c.rule)
        ).all()
    assert records == [("completed_key_stage", sum(leaving.values()))]
    assert named_past_deadline(engine, deadline) == []


def test_a_schools_pupils_go_six_months_after_its_subscription_ends(
    simulator, population, registry, instance, engine
):
    school = population.approved_schools()[0]
    assert run_sync(instance).success
    apply_settings(engine, [school.urn], SettingsChange(subscription_end=date(2026, 11, 30)), actor="test")
    before = held(engine)
    purge(instance, date(2027, 5, 29))
    assert held(engine) == before
    purge(instance, date(2027, 5, 30))
    assert held(engine) == {urn: n for urn, n in before.items() if urn != school.urn}
    [entry] = [
        e for e in read_audit(engine, school_urn=school.urn, action="purge") if e["detail"]["kind"] == "named"
    ]
    assert entry["detail"]["by_rule"] == {"subscription_ended": len(school.pupils)}
    assert entry["detail"]["pupils"] == len(school.pupils)


def sealed_copies(engine, urn: str) -> list[tuple[str, bytes, bytes]]:
    """(pupil key, sealed bytes, the context they were sealed for) of a school's pupils: an 'export'
    of ciphertext, taken before the purge."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(pupils.c.pupil_key, pupils.c.sealed).where(pupils.c.school_urn == urn)
        ).all()
    return [(key, sealed, f"pupils\x1f{key}".encode()) for key, sealed in rows]


def test_after_a_purge_no_copy_of_the_pupils_ciphertext_opens_and_the_un_named_record_remains(
    simulator, population, registry, instance, engine, vault: Vault
):
    school = population.approved_schools()[0]
    with two_bad_records(simulator, school):  # quarantined records are sealed under the pupils' keys too
        assert run_sync(instance).success
    copies = sealed_copies(engine, school.urn)
    with engine.connect() as conn:
        keys_before = vault.school_keys(conn, school.urn)
    assert all(open_sealed(keys_before[key], sealed, context) for key, sealed, context in copies)
    apply_settings(engine, [school.urn], SettingsChange(subscription_end=date(2026, 11, 30)), actor="test")

    purge(instance, date(2027, 5, 30))

    with engine.connect() as conn:
        remaining = vault.school_keys(conn, school.urn)
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(data_keys).where(data_keys.c.school_urn == school.urn)
            ).scalar_one()
            == 0
        )
        records = (
            conn.execute(sa.select(unnamed_pupils).where(unnamed_pupils.c.school_urn == school.urn))
            .mappings()
            .all()
        )
    assert remaining == {}
    with engine.connect() as conn:
        every_key = list(vault.school_keys(conn, population.approved_schools()[1].urn).values())
    for _key, sealed, context in copies:
        for candidate in every_key:
            with pytest.raises(UnreadableCiphertextError):
                open_sealed(candidate, sealed, context)
    assert len(records) == len(school.pupils) - 2  # the two quarantined pupils were never held named
    assert set(records[0]) == {
        "id",
        "school_urn",
        "academic_year",
        "nc_year",
        "sex",
        "sen_status",
        "fsm_eligible",
        "pupil_premium",
        "eal",
        "attendance",
        "results",
        "rule",
        "unnamed_on",
    }
    assert sum(sum(json.loads(r["attendance"]).values()) for r in records) > 0


def test_un_named_records_are_deleted_five_years_after_un_naming_and_not_before(
    simulator, population, registry, instance, engine
):
    school = population.approved_schools()[0]
    assert run_sync(instance).success
    apply_settings(engine, [school.urn], SettingsChange(subscription_end=date(2026, 11, 30)), actor="test")
    purge(instance, date(2027, 5, 30))

    def unnamed() -> int:  # the school's: other schools' pupils are un-named later, by other rules
        with engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(unnamed_pupils)
                .where(unnamed_pupils.c.school_urn == school.urn)
            ).scalar_one()

    assert unnamed() == len(school.pupils)
    purge(instance, date(2032, 5, 29))
    assert unnamed() == len(school.pupils)
    purge(instance, date(2032, 5, 30))
    assert unnamed() == 0


def test_purging_twice_changes_nothing_the_second_time(simulator, population, registry, instance, engine):
    assert run_sync(instance).success
    deadline = completion_deadline()
    purge(instance, deadline)
    after_first = held(engine)
    with engine.connect() as conn:
        first_records = conn.execute(sa.select(sa.func.count()).select_from(unnamed_pupils)).scalar_one()
    purge(instance, deadline)
    assert held(engine) == after_first
    with engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(unnamed_pupils)).scalar_one() == first_records
        )
