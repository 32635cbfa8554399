"""Run a job of the code location on an instance, in this process, recorded on the instance.

Used by the CLI: no daemon is needed, yet every run shows in the Dagster UI with its events.
"""

from __future__ import annotations

import dagster as dg

# Every event is stored on the instance (and shown in the UI); the terminal gets the CLI's own
# one-line summary instead of Dagster's event stream and stack traces.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def definitions() -> dg.Definitions:
    from mis_pipeline.definitions import defs

    return defs


def run_job(instance: dg.DagsterInstance, job_name: str, run_config: dict | None = None,
            tags: dict | None = None) -> dg.ExecuteInProcessResult:
    config = {**QUIET_CONSOLE, **(run_config or {})}
    return definitions().resolve_job_def(job_name).execute_in_process(
        instance=instance, run_config=config, tags=tags, raise_on_error=False)


def failure_reason(result: dg.ExecuteInProcessResult) -> str:
    """The first line of the innermost error of the first failed step (our errors carry no PII)."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.error
            while error.cause is not None:
                error = error.cause
            lines = error.message.strip().splitlines()
            if not lines:
                return error.cls_name or "the step failed"
            qualified, _, rest = lines[0].partition(": ")
            return rest if rest and qualified.endswith(error.cls_name or "\0") else lines[0]
    return "the run failed"
