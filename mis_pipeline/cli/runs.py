"""Run a job of the code location on an instance, in this process, recorded on the instance.

Used by the CLI: no daemon is needed, yet every run shows in the Dagster UI with its events.
"""

from __future__ import annotations

import os
import socket

import dagster as dg

from mis_pipeline.definitions import defs
from mis_pipeline.registry.run_tags import who_and_why

# Every event is stored on the instance (and shown in the UI); the terminal gets the CLI's own
# one-line summary instead of Dagster's event stream and stack traces.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


# Runs this code executes in-process carry their host and process, so a later command can tell a
# run whose process was killed (it stays STARTED for ever, holding its pool slot) from a live one.
HOST_TAG, PID_TAG = "mis/host", "mis/pid"


def run_job(
    instance: dg.DagsterInstance,
    job_name: str,
    run_config: dict | None = None,
    tags: dict | None = None,
    trigger: str | None = None,
) -> dg.ExecuteInProcessResult:
    """Run a job here, recorded on the instance, tagged with who started it and why (`trigger`:
    by default the CLI and the job's name)."""
    reap_dead_runs(instance)
    config = {**QUIET_CONSOLE, **(run_config or {})}
    return defs.resolve_job_def(job_name).execute_in_process(
        instance=instance,
        run_config=config,
        tags={**(tags or {}), **who_and_why(trigger or f"cli:{job_name}"), **own_tags()},
        raise_on_error=False,
    )


def own_tags() -> dict[str, str]:
    """The tags that mark a run as orchestrated by this process on this host."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed, and free the pool slots of, runs started on this host by a process that no
    longer exists (e.g. killed with SIGKILL): they never end by themselves, and their slots would
    otherwise block every later sync. Returns their run ids."""
    host = socket.gethostname()
    records = instance.get_run_records(
        dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING], tags={HOST_TAG: host}
        )
    )
    reaped = []
    for record in records:
        run = record.dagster_run
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if pid and not _process_alive(pid):
            instance.report_run_failed(
                run, message=f"its process ({pid} on {host}) ended without finishing the run"
            )
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            reaped.append(run.run_id)
    return reaped


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process has the number now: not ours to judge
    return True


def failure_reason(result: dg.ExecuteInProcessResult) -> str:
    """The first line of the innermost error of the first failed step (our errors carry no PII);
    without one (a run that failed before or around its steps: launch, executor, worker), the
    first error any event carries, else the run failure's own message."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            return _first_line(event.step_failure_data.error)
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        if error is not None:
            return _first_line(error)
    for event in result.all_events:
        if event.is_run_failure and event.message:
            return event.message.strip().splitlines()[0]
    return "the run failed"


def _first_line(error) -> str:
    while error.cause is not None:
        error = error.cause
    lines = error.message.strip().splitlines()
    if not lines:
        return error.cls_name or "the step failed"
    qualified, _, rest = lines[0].partition(": ")
    return rest if rest and qualified.endswith(error.cls_name or "\0") else lines[0]
