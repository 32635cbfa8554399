"""A subject access report from the Dagster UI, with no UPN in run config, logs or metadata.

The operator writes a request file, JSON `{"urn": …, "upn": …, "format": "json"|"csv"|"pdf",
"out": …}` (a relative `out` is taken from the request file's folder), and launches the job
`subject_access_report` with op config `request_file: <its path>`. The run's metadata holds the
format, whether the pupil was found and the rows per section; never a pupil value, nor the output
path (which an operator may have named after the pupil).
"""

import json
from pathlib import Path

import dagster as dg
from pydantic import Field

from mis_pipeline.config import MissingMasterKeyError
from mis_pipeline.lib.crypto import KeyringError
from mis_pipeline.registry.run_tags import run_actor
from mis_pipeline.sar.gather import FORMATS, SarError, produce_report
from mis_pipeline.warehouse.resource import WarehouseResource

SAR_JOB = "subject_access_report"
REQUEST_KEYS = ("urn", "upn", "format", "out")


class SubjectAccessRequest(dg.Config):
    request_file: str = Field(
        description=(
            'Path of a JSON file {"urn", "upn", "format": "json|csv|pdf", "out"} written by the operator; '
            "the UPN goes in that file, never in run config. A relative `out` is taken from the file's folder."
        )
    )


def read_request(path: Path) -> dict:
    """The request file's four fields, checked; failures name fields, never their values."""
    try:
        request = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise dg.Failure(description=f"no request file at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise dg.Failure(description=f"the request file {path} is not readable JSON") from None
    if not isinstance(request, dict):
        raise dg.Failure(
            description='the request file must hold one JSON object {"urn", "upn", "format", "out"}'
        )
    missing = [
        key for key in REQUEST_KEYS if not isinstance(request.get(key), str) or not request[key].strip()
    ]
    unknown = sorted(set(request) - set(REQUEST_KEYS))
    if missing or unknown:
        parts = ([f"missing or not text: {', '.join(missing)}"] if missing else []) + (
            [f"unknown fields: {', '.join(unknown)}"] if unknown else []
        )
        raise dg.Failure(description=f"the request file is incomplete ({'; '.join(parts)})")
    if request["format"] not in FORMATS:
        raise dg.Failure(description=f"the request's format must be one of {', '.join(FORMATS)}")
    out = Path(request["out"]).expanduser()
    return {**request, "out": out if out.is_absolute() else path.parent / out}


@dg.op(name="write_subject_access_report", out=dg.Out(dg.Nothing))
def write_subject_access_report(
    context: dg.OpExecutionContext, config: SubjectAccessRequest, warehouse: WarehouseResource
):
    """Everything held about the pupil named by the request file's UPN (or former UPN) at its school,
    written to the request's `out` as JSON, a zip of CSVs or a PDF, and audited (format, found,
    counts). A UPN not held gives a "nothing held" report with the school's un-named figures."""
    request = read_request(Path(config.request_file).expanduser())
    try:
        engine, vault = warehouse.engine(), warehouse.vault()
        produced = produce_report(
            engine,
            vault,
            request["urn"],
            request["upn"],
            request["format"],
            request["out"],
            actor=run_actor(context.run.tags),
            run_id=context.run.run_id,
        )
    except (SarError, KeyringError, MissingMasterKeyError) as error:
        raise dg.Failure(description=str(error)) from None
    context.log.info(
        f"subject access report for a pupil of school {produced.school_urn}: "
        f"{'found' if produced.found else 'nothing held'}, {produced.format}"
    )
    metadata = {
        "school_urn": produced.school_urn,
        "format": produced.format,
        "found": produced.found,
        "sections": dg.MetadataValue.json(produced.counts),
    }
    if not produced.found:
        metadata["unnamed_records_for_the_school"] = produced.unnamed_records
    yield dg.Output(None, metadata=metadata)


@dg.job(
    name=SAR_JOB,
    executor_def=dg.in_process_executor,
    description=(
        "A subject access report for one pupil. Write a request file "
        '{"urn", "upn", "format": "json|csv|pdf", "out"} and give its path as the op config `request_file`: '
        "the UPN never goes in run config, logs or metadata."
    ),
)
def subject_access_report_job():
    write_subject_access_report()
