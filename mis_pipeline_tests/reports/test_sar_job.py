"""The subject access report from the Dagster UI: the UPN travels in a request file the operator
writes, never in run config, and the run's events and metadata carry counts only."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from mis_pipeline.cli.launch import run_sync
from mis_pipeline.cli.runs import QUIET_CONSOLE
from mis_pipeline.resources import build_resources
from mis_pipeline.sar.job import SAR_JOB, subject_access_report_job
from mis_pipeline.warehouse.audit_log import read_audit
from mis_pipeline_tests.reports.test_sar_support import (
    SCHOOL,
    pupil_named,
    read_json,
    school_of,
    served_record,
)

OP = "write_subject_access_report"


def run_sar_job(instance, request_file) -> dg.ExecuteInProcessResult:
    """The job as the code location serves it (its resources), run on the instance like the CLI's runs."""
    job = dg.Definitions(jobs=[subject_access_report_job], resources=build_resources()).resolve_job_def(
        SAR_JOB
    )
    config = {**QUIET_CONSOLE, "ops": {OP: {"config": {"request_file": str(request_file)}}}}
    return job.execute_in_process(instance=instance, run_config=config, raise_on_error=False)


def pupil_values(pupil) -> set[str]:
    return {
        pupil.upn,
        pupil.legal_forename,
        pupil.legal_surname,
        pupil.middle_names,
        pupil.date_of_birth.isoformat(),
        pupil.date_of_birth.strftime("%d/%m/%Y"),
    }


def exposed_by(instance, result) -> str:
    run = instance.get_run_by_id(result.run_id)
    return "\n".join(
        [
            serialize_value(run.run_config),
            serialize_value(run.tags),
            *(serialize_value(entry) for entry in instance.all_logs(result.run_id)),
        ]
    )


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_the_job_writes_the_report_named_in_a_request_file_and_its_run_holds_no_pupil_value(
    simulator, population, registry, instance, engine, tmp_path, monkeypatch
):
    monkeypatch.setenv("MIS_OPERATOR", "Sam Patel (data team)")  # the operator of the process running the job
    assert run_sync(instance, requested=[SCHOOL]).success
    school = school_of(population)
    noah = pupil_named(school, "Noah", "Şahin")
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps({"urn": SCHOOL, "upn": noah.upn, "format": "json", "out": "noah.json"}), encoding="utf-8"
    )

    result = run_sar_job(instance, request)
    assert result.success
    document = read_json(tmp_path / "noah.json")  # a relative `out` is beside the request file
    record = served_record(school, noah)
    assert {k: document["pupil"][k] for k in record} == record
    sections = {
        "pupil": 1,
        "additional_details": 1,
        "attendance": 20,
        "assessments": 6,
        "groups": 3,
        "change_history": 1,
        "quarantined_records": 0,
        "shared_with": 0,
    }
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = {k: v.value for k, v in output.event_specific_data.metadata.items()}
    assert metadata == {"school_urn": SCHOOL, "format": "json", "found": True, "sections": sections}
    [entry] = read_audit(engine, school_urn=SCHOOL, action="subject_access_report")
    assert (entry["actor"], entry["run_id"], entry["detail"]) == (
        "Sam Patel (data team)",
        result.run_id,
        {"format": "json", "found": True, "sections": sections},
    )
    assert sorted(v for v in pupil_values(noah) if v in exposed_by(instance, result)) == []

    # a request the job cannot meet fails, naming fields but never their values
    request.write_text(
        json.dumps({"urn": SCHOOL, "upn": noah.upn, "format": "docx", "out": "again.json"}), encoding="utf-8"
    )
    refused = run_sar_job(instance, request)
    [failure] = [e for e in refused.all_events if e.is_step_failure]
    assert (
        failure.step_failure_data.user_failure_data.description
        == "the request's format must be one of json, csv, pdf"
    )
    request.write_text(
        json.dumps({"urn": SCHOOL, "upn": noah.upn, "format": "json", "out": "noah.json"}), encoding="utf-8"
    )
    refused_again = run_sar_job(instance, request)
    [failure] = [e for e in refused_again.all_events if e.is_step_failure]
    assert (
        failure.step_failure_data.user_failure_data.description
        == "the output file already exists; not overwriting it"
    )
    for run in (refused, refused_again):
        assert not run.success
        assert sorted(v for v in pupil_values(noah) if v in exposed_by(instance, run)) == []
    assert len(read_audit(engine, action="subject_access_report")) == 1
