"""Partner shares from a real sync of the simulator's schools: each partner's share holds exactly
its own schools and their counts, in CSV and Parquet with a manifest whose checksums hold; switching
a partner kind off, moving trust or withholding an item shows in the next share."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict

import dagster as dg
import pandas as pd
import pytest

from mis_pipeline.cli.launch import run_sync
from mis_pipeline.cli.runs import run_job
from mis_pipeline.registry.partitions import PARTNERS, refresh_partner_partitions
from mis_pipeline.registry.run_tags import RANGE_END, RANGE_START
from mis_pipeline.registry.settings import SettingsChange, apply_settings
from mis_pipeline.registry.store import list_schools
from mis_pipeline.shares.assets import SHARE_JOB
from mis_pipeline.warehouse.audit_log import read_audit
from mis_simulator.datasets import build_school_datasets

pytestmark = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
PERMISSION = {
    "pupil_details": "students.extended.read",
    "attendance_sessions": "attendance.read",
    "assessment_results": "assessment.read",
    "pupil_groups": "groups.read",
}


def share_all(instance, engine, out) -> dict[str, dict]:
    keys = refresh_partner_partitions(instance, engine)
    ordered = instance.get_dynamic_partitions(PARTNERS.name)
    result = run_job(
        instance,
        SHARE_JOB,
        {"ops": {"partner_shares": {"config": {"out_dir": str(out)}}}},
        tags={RANGE_START: ordered[0], RANGE_END: ordered[-1]},
    )
    assert result.success
    return {key: json.loads((out / key / "manifest.json").read_text()) for key in keys}


def expected_shares(population, registered: set[str]) -> dict[str, dict]:
    expected: dict[str, dict] = defaultdict(lambda: {"schools": [], "counts": defaultdict(int)})
    for school in population.approved_schools():
        if school.urn not in registered:
            continue
        data = build_school_datasets(population.seed, school)
        counts = {
            "pupils": len(school.pupils),
            "pupil_details": len(data.details),
            "attendance_sessions": len(data.attendance),
            "assessment_results": len(data.results),
            "pupil_groups": sum(len(g.member_ids) for g in data.groups),
        }
        for key in (
            f"la-{school.la_code}",
            school.trust_uid and f"trust-{school.trust_uid}",
            school.diocese_code and f"diocese-{school.diocese_code}",
        ):
            if not key:
                continue
            expected[key]["schools"].append(school.urn)
            for dataset, n in counts.items():
                granted = dataset == "pupils" or school.permissions[PERMISSION[dataset]]
                expected[key]["counts"][dataset] += n if granted else 0
    return {
        key: {"schools": sorted(v["schools"]), "counts": dict(v["counts"])} for key, v in expected.items()
    }


def test_every_partners_share_holds_exactly_its_own_schools_and_counts(
    simulator, population, registry, instance, engine, tmp_path
):
    assert run_sync(instance).success
    manifests = share_all(instance, engine, tmp_path)
    registered = {
        school.urn for school in list_schools(engine)
    }  # XoD schools paused at the connector are not
    expected = expected_shares(population, registered)
    assert {key: {"schools": m["schools"], "counts": m["counts"]} for key, m in manifests.items()} == expected
    assert {key.split("-")[0] for key in manifests} == {"la", "trust", "diocese"}
    for key, manifest in manifests.items():
        for entry in manifest["files"]:
            path = tmp_path / key / entry["name"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
            rows = (
                len(pd.read_parquet(path))
                if path.suffix == ".parquet"
                else sum(1 for _ in csv.DictReader(path.open(encoding="utf-8")))
            )
            assert rows == entry["rows"] == manifest["counts"][path.stem]
    audits = {e["detail"]["partner"]: e["detail"] for e in read_audit(engine, action="share_made")}
    assert {k: (v["schools"], v["counts"]) for k, v in audits.items()} == {
        k: (m["schools"], m["counts"]) for k, m in manifests.items()
    }
    assert {key: partition_figures(instance, key) for key in manifests} == {
        key: {
            "schools": len(m["schools"]),
            "pupils": m["counts"]["pupils"],
            "files": len(m["files"]),
            **{f"rows_{d}": n for d, n in m["counts"].items()},
            "dagster/uri": (tmp_path / key).resolve().as_uri(),
        }
        for key, m in manifests.items()
    }  # each partner partition shows its own share, not the run's


def partition_figures(instance, partner: str) -> dict:
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("partner_shares"), asset_partitions=[partner]), limit=1
    ).records
    metadata = record.asset_materialization.metadata
    return {k: v.value for k, v in metadata.items() if k not in ("school_names", "manifest_sha256")}


def test_a_shared_pupil_file_holds_the_pupils_as_the_school_knows_them_and_no_internal_keys(
    simulator, population, registry, instance, engine, tmp_path
):
    assert run_sync(instance).success
    school = population.approved_schools()[0]
    share_all(instance, engine, tmp_path)
    rows = list(csv.DictReader((tmp_path / f"la-{school.la_code}" / "pupils.csv").open(encoding="utf-8")))
    mine = {r["upn"]: r for r in rows if r["school_urn"] == school.urn}
    assert {
        p.upn: (p.legal_forename, p.legal_surname, p.date_of_birth.isoformat()) for p in school.pupils
    } == {upn: (r["legal_forename"], r["legal_surname"], r["date_of_birth"]) for upn, r in mine.items()}
    assert not {"pupil_key", "mis_id", "upi", "connector_pupil_id"} & set(rows[0])


def test_opting_out_moving_trust_and_withholding_show_in_the_next_share(
    simulator, population, registry, instance, engine, tmp_path
):
    import sqlalchemy as sa

    from mis_pipeline.warehouse.schema import gias_establishments

    assert run_sync(instance).success
    in_trust = next(s for s in population.approved_schools() if s.trust_uid)
    with_diocese = next(s for s in population.approved_schools() if s.diocese_code)
    attending = next(s for s in population.approved_schools() if s.permissions["attendance.read"])

    apply_settings(engine, [with_diocese.urn], SettingsChange(share_off=["diocese"]), actor="test")
    with engine.begin() as conn:  # GIAS now says the school joined another trust
        conn.execute(
            sa.update(gias_establishments)
            .where(gias_establishments.c.urn == in_trust.urn)
            .values(trust_uid="99999")
        )
    apply_settings(engine, [attending.urn], SettingsChange(withhold=["attendance"]), actor="test")
    assert run_sync(instance).success
    manifests = share_all(instance, engine, tmp_path)

    assert (
        with_diocese.urn
        not in manifests.get(f"diocese-{with_diocese.diocese_code}", {"schools": []})["schools"]
    )
    assert in_trust.urn not in manifests.get(f"trust-{in_trust.trust_uid}", {"schools": []})["schools"]
    assert manifests["trust-99999"]["schools"] == [in_trust.urn]
    la = manifests[f"la-{attending.la_code}"]
    assert la["counts_by_school"][attending.urn]["attendance_sessions"] == 0
    assert la["counts_by_school"][attending.urn]["pupils"] == len(attending.pupils)


def test_without_a_gias_import_discovery_still_works_and_partners_are_the_connectors_las(
    simulator, population, instance, engine
):
    from mis_pipeline.registry.jobs import DISCOVER_SCHOOLS_JOB

    assert run_job(instance, DISCOVER_SCHOOLS_JOB).success  # no GIAS extract imported
    wonde = [s for s in population.approved_schools() if s.connector == "wonde"]
    assert set(instance.get_dynamic_partitions(PARTNERS.name)) == {f"la-{s.la_code}" for s in wonde}
