"""The sync on Dagster's Celery executor: real RabbitMQ, real `dagster-celery worker start` processes,
the production PostgreSQL instance (deploy/dagster.yaml), compared with an in-process sync.

They skip with a one-line reason when no broker answers, except under CI (`MIS_REQUIRE_BROKER=1`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from mis_pipeline.sync.distributed import BROKER_ENV, DEFAULT_BROKER, SYNC_SCHOOLS_CELERY_JOB
from mis_pipeline_tests.cli.test_cli import CLI
from mis_pipeline_tests.conftest import postgres_or_skip
from mis_pipeline_tests.sync.crash_support import (
    SYNC_TIMEOUT,
    Databases,
    World,
    clone_warehouse,
    new_warehouse,
    set_up_through_the_cli,
    use_production_instance,
    warehouse_state,
)

ROOT = Path(__file__).resolve().parents[2]
DAGSTER_CELERY = str(Path(sys.executable).with_name("dagster-celery"))
SEED, SCHOOLS, PUPILS = 11, 4, 20
BATCH = 2  # schools per run: each run's one step is a batch, one Celery task


def broker_or_skip() -> str:
    from kombu import Connection

    url = os.environ.get(BROKER_ENV) or DEFAULT_BROKER
    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
        return url
    except Exception:  # noqa: BLE001 - any failure to reach it means the same here
        if os.environ.get("MIS_REQUIRE_BROKER") == "1":
            pytest.fail(f"a Celery broker is required here (MIS_REQUIRE_BROKER=1) but none answers at {url}")
        pytest.skip("no Celery broker (RabbitMQ) answers")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("celery")


@pytest.fixture(scope="module")
def world(folder):
    world = World(folder / "files", os.environ, SEED, SCHOOLS, PUPILS, bad_records=0)
    yield world
    world.stop()


@pytest.fixture(scope="module")
def databases():
    postgres_or_skip()
    made = Databases()
    yield made
    from mis_pipeline.warehouse.engine import dispose_all
    from mis_pipeline.warehouse.vault import forget_vaults

    dispose_all()
    forget_vaults()
    made.drop_all()


@pytest.fixture(scope="module")
def sites(world, databases, folder):
    """A reference warehouse synced in-process, and one set up identically whose syncs run on Celery
    (the production instance in its own database, MIS_SYNC_EXECUTOR=celery)."""
    broker = broker_or_skip()
    template = new_warehouse("postgres", "template", folder, world, databases)
    set_up_through_the_cli(template, world)
    reference = clone_warehouse(template, "reference", folder, world, databases)
    distributed = clone_warehouse(template, "celery", folder, world, databases)
    use_production_instance(distributed, ROOT)
    for warehouse in (reference, distributed):
        warehouse.env["MIS_SYNC_BATCH_SIZE"] = str(BATCH)
    distributed.env.update({"MIS_SYNC_EXECUTOR": "celery", BROKER_ENV: broker})
    return reference, distributed


class Workers:
    """`dagster-celery worker start` processes, each its own process group, one task at a time."""

    def __init__(self, env: dict, logs: Path):
        # `dagster-celery worker start` runs `celery` from PATH: this environment's
        path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        self.env, self.logs, self.processes = {**env, "PATH": path}, logs, {}
        self.suffix = uuid.uuid4().hex[:6]  # names of this test's workers only
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str) -> None:
        args = [
            DAGSTER_CELERY,
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(ROOT / "deploy" / "celery.yaml"),
            "-n",
            f"{name}-{self.suffix}",
            "-l",
            "WARNING",
            "--",
            "--concurrency=1",
        ]
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            args, env=self.env, stdout=log, stderr=log, start_new_session=True
        )

    def wait_until_ready(self) -> None:
        from celery import Celery

        app = Celery(broker=self.env[BROKER_ENV])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(process.poll() is not None for process in self.processes.values()):
                break
            answered = app.control.ping(timeout=1.0) or []
            names = {
                name.split("@")[0].removesuffix(f"-{self.suffix}") for reply in answered for name in reply
            }
            if set(self.processes) <= names:
                return
        raise AssertionError(
            f"workers {sorted(self.processes)} did not answer: "
            + " | ".join((self.logs / f"{n}.log").read_text()[-500:] for n in self.processes)
        )

    def kill(self, name: str) -> None:
        os.killpg(self.processes[name].pid, signal.SIGKILL)
        self.processes[name].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="module")
def workers(sites, folder):
    _, distributed = sites
    started = Workers(distributed.env, folder / "workers")
    for name in ("w1", "w2"):
        started.start(name)
    try:
        started.wait_until_ready()
        yield started
    finally:
        started.stop()


def _instance(warehouse) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(warehouse.env["DAGSTER_HOME"])


def _with_pg_env(warehouse, monkeypatch) -> None:
    for name in (
        "DAGSTER_PG_USERNAME",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_DB",
        "DAGSTER_PG_PORT",
    ):
        monkeypatch.setenv(name, warehouse.env[name])


def _celery_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return instance.get_runs(dg.RunsFilter(job_name=SYNC_SCHOOLS_CELERY_JOB))


def _workers_of(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The workers that took the run's step, in order, from the events they recorded."""
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    return [
        event.dagster_event.engine_event_data.metadata["Celery worker"].value.split("@")[0].rsplit("-", 1)[0]
        for event in events
        if "Executing steps" in event.message
    ]


@pytest.fixture(scope="module")
def first_sync(sites, workers):
    """Both warehouses' first (full) sync: the reference in-process, the other over the workers;
    returns the Celery runs' ids."""
    reference, distributed = sites
    reference.sync()
    distributed.sync()
    with pytest.MonkeyPatch.context() as patch:
        _with_pg_env(distributed, patch)
        with _instance(distributed) as instance:
            return [run.run_id for run in _celery_runs(instance)]


def test_a_sync_fanned_out_over_two_celery_workers_holds_exactly_what_an_in_process_sync_holds(
    sites, first_sync, monkeypatch
):
    reference, distributed = sites
    assert warehouse_state(distributed) == warehouse_state(reference)
    _with_pg_env(distributed, monkeypatch)
    with _instance(distributed) as instance:
        runs = [instance.get_run_by_id(run_id) for run_id in first_sync]
        assert len(runs) == -(
            -len(distributed.server.population.approved_schools()) // BATCH
        )  # a run per batch
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
        took = [worker for run in runs for worker in _workers_of(instance, run.run_id)]
        assert len(took) == len(runs)  # one Celery task per batch
        assert set(took) == {"w1", "w2"}  # and both workers had some


def test_a_worker_killed_mid_batch_has_its_batch_run_again_on_the_other_and_nothing_is_lost_or_doubled(
    sites, workers, first_sync, world, monkeypatch, tmp_path
):
    reference, distributed = sites
    world.advance()  # every school has changes: each commits a change set when its delta lands
    reference.sync()
    # One batch (one step, killed mid-way); its schools one at a time, and the first answers slowed
    # (0.3 s each), so they commit slowly enough to kill the worker between them.
    distributed.env["MIS_SYNC_BATCH_SIZE"] = str(SCHOOLS)
    distributed.server.inject_faults(["slow"] * 20)
    _with_pg_env(distributed, monkeypatch)
    engine = sa.create_engine(distributed.url, poolclass=sa.NullPool)
    with _instance(distributed) as instance, open(tmp_path / "sync.log", "w") as log:
        before = set(first_sync)
        baseline = _change_sets(engine)
        sync = subprocess.Popen(
            [CLI, "sync", "--max-workers", "1"],
            env=distributed.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            victim, committed = _kill_after_first_school(instance, engine, workers, sync, before, baseline)
            assert sync.wait(timeout=SYNC_TIMEOUT) == 0, (tmp_path / "sync.log").read_text()[-2000:]
        finally:
            if sync.poll() is None:
                os.killpg(sync.pid, signal.SIGKILL)
                sync.wait()
        (run,) = [run for run in _celery_runs(instance) if run.run_id not in before]
        took = _workers_of(instance, run.run_id)
    engine.dispose()

    assert 1 <= committed < len(distributed.server.population.approved_schools())  # killed mid-batch
    assert took[0] == victim and len(took) == 2 and took[1] != victim  # the batch ran again elsewhere
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert warehouse_state(distributed) == warehouse_state(reference)


def _change_sets(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM change_sets")).scalar_one()


def _kill_after_first_school(
    instance, engine, workers: Workers, sync: subprocess.Popen, before: set[str], baseline: int
) -> tuple[str, int]:
    """SIGKILL the worker running the new sync run's step once at least one school of it has
    committed; returns (its name, schools committed then)."""
    deadline = time.monotonic() + SYNC_TIMEOUT
    while time.monotonic() < deadline:
        assert sync.poll() is None, "the sync ended before a worker could be killed mid-batch"
        runs = [run for run in _celery_runs(instance) if run.run_id not in before]
        took = _workers_of(instance, runs[0].run_id) if runs else []
        committed = _change_sets(engine) - baseline
        if took and committed:
            workers.kill(took[0])
            return took[0], committed
        time.sleep(0.05)
    raise AssertionError("no school committed in time")


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, "in_process"),
        ("", "in_process"),
        ("celery", "celery"),
        (" celery ", "celery"),
        ("in_process", "in_process"),
    ],
)
def test_the_sync_runs_in_process_unless_celery_is_asked_for(value, expected, monkeypatch):
    from mis_pipeline.sync.distributed import EXECUTOR_ENV, sync_executor_name

    if value is None:
        monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    else:
        monkeypatch.setenv(EXECUTOR_ENV, value)
    assert sync_executor_name() == expected


def test_an_unknown_sync_executor_is_refused_with_the_setting_named(monkeypatch):
    from mis_pipeline.sync.distributed import EXECUTOR_ENV, sync_executor_name

    monkeypatch.setenv(EXECUTOR_ENV, "dask")
    with pytest.raises(ValueError, match="MIS_SYNC_EXECUTOR must be one of in_process, celery, not 'dask'"):
        sync_executor_name()
