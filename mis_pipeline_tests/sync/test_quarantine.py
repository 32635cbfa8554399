"""Bad records at the source: quarantined with their rule (sealed), the rest of the school lands,
the contract check counts failures per rule, and a record fixed at the source leaves quarantine."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime

import dagster as dg

from mis_pipeline.cli.launch import run_sync
from mis_pipeline.cli.status import school_status
from mis_pipeline.sync.checks import NO_QUARANTINE_CHECK
from mis_pipeline.sync.held_back import HELD_BACK
from mis_pipeline.warehouse.reader import read_quarantine
from mis_pipeline_tests.pii import two_bad_records
from mis_pipeline_tests.sync.quarantine_support import served_items


def counts_of(engine, urn: str) -> dict:
    return next(e["counts"] for e in school_status(engine) if e["urn"] == urn)


def latest_check_metadata(instance, asset: str, urn: str) -> dict:
    """The school partition's latest result of the contract check (school name aside)."""
    key = dg.AssetCheckKey(dg.AssetKey(asset), NO_QUARANTINE_CHECK)
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
    evaluation = next(
        r.event.dagster_event.event_specific_data
        for r in records
        if r.event and getattr(r.event.dagster_event.event_specific_data, "partition", None) == urn
    )
    return {
        "passed": evaluation.passed,
        **{k: v.value for k, v in evaluation.metadata.items() if k != "school"},
    }


def test_bad_records_are_quarantined_with_their_rules_and_the_rest_of_the_school_lands(
    simulator, population, registry, instance, engine, vault
):
    school = population.approved_schools()[0]
    with two_bad_records(simulator, school):
        assert run_sync(instance).success
    held_back = served_items(population, school, {p.mis_id for p in school.pupils[:2]})  # wait with them
    counts = counts_of(engine, school.urn)
    assert (counts["pupils"], counts["quarantined"]) == (len(school.pupils) - 2, 2 + sum(held_back.values()))
    rules = Counter(q["rule"] for q in read_quarantine(engine, vault, school.urn))
    assert rules == Counter(
        {
            "date_of_birth: missing": 1,
            "upn: not a valid UPN (13 characters, DfE check letter)": 1,
            HELD_BACK: sum(held_back.values()),
        }
    )
    assert latest_check_metadata(instance, "pupils", school.urn) == {
        "passed": False,
        "quarantined": 2,
        "rule: date_of_birth: missing": 1,
        "rule: upn: not a valid UPN (13 characters, DfE check letter)": 1,
    }
    other = population.approved_schools()[1].urn
    assert latest_check_metadata(instance, "pupils", other) == {"passed": True, "quarantined": 0}
    others = [s for s in population.approved_schools() if s.urn != school.urn]
    assert all(counts_of(engine, s.urn)["pupils"] == len(s.pupils) for s in others)


def test_a_record_fixed_at_the_source_leaves_quarantine_at_the_next_sync(
    simulator, population, registry, instance, engine, vault
):
    school = population.approved_schools()[0]
    with two_bad_records(simulator, school) as originals:
        assert run_sync(instance).success
        fixed_at = datetime.now(UTC)
        school.pupils[0] = dataclasses.replace(originals[0], updated_at=fixed_at)
        school.pupils[1] = dataclasses.replace(originals[1], updated_at=fixed_at)
        simulator.invalidate_cache()
        assert run_sync(instance).success  # an incremental sync: the fixed records are in its delta
    counts = counts_of(engine, school.urn)
    assert (counts["pupils"], counts["quarantined"]) == (len(school.pupils), 0)
    assert read_quarantine(engine, vault, school.urn) == []
