"""A paused school ("stop taking data") receives no request at all, and a sync asked for it says why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mis_pipeline.cli.launch import SyncRefused, run_sync
from mis_pipeline.cli.status import school_status
from mis_pipeline.registry.settings import SettingsChange, apply_settings
from mis_pipeline.warehouse.school_store import read_cursors
from mis_simulator.xod_api import estab_of

pytestmark = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)


def requests_about(simulator, school) -> list:
    ids = {school.id, estab_of(school)}
    return [r for r in simulator.request_log if ids & set(r.path.split("/"))]


@pytest.mark.parametrize("connector", ["wonde", "xod"])
def test_a_paused_school_receives_no_request_from_a_sync_of_every_school(
    connector, simulator, population, registry, instance, engine
):
    school = next(s for s in population.approved_schools() if s.connector == connector)
    apply_settings(engine, [school.urn], SettingsChange(paused=True), actor="test")
    simulator.clear_request_log()

    summary = run_sync(instance)

    assert summary.success, summary.failure_reason
    assert requests_about(simulator, school) == []
    assert read_cursors(engine, school.urn) == {}
    entry = next(e for e in school_status(engine) if e["urn"] == school.urn)
    assert (entry["paused"], entry["blocked_by"]) == (
        True,
        "paused by the school: collection stopped until it is resumed",
    )
    others = [s for s in population.approved_schools() if s.urn != school.urn]
    assert all(requests_about(simulator, other) for other in others)


def test_a_sync_asked_for_a_paused_school_refuses_with_the_reason_before_any_request(
    simulator, population, registry, instance, engine
):
    school = population.approved_schools()[0]
    apply_settings(engine, [school.urn], SettingsChange(paused=True), actor="test")
    simulator.clear_request_log()
    with pytest.raises(SyncRefused) as refused:
        run_sync(instance, requested=[school.urn])
    assert str(refused.value) == (
        f"school {school.urn} cannot be synced: paused by the school: collection stopped until it is resumed"
    )
    assert simulator.request_log == []


def test_a_resumed_school_carries_on_from_its_stored_cursor(
    simulator, population, registry, instance, engine
):
    school = population.approved_schools()[0]
    assert run_sync(instance, requested=[school.urn]).success
    cursor = read_cursors(engine, school.urn)["pupils"]
    apply_settings(engine, [school.urn], SettingsChange(paused=True), actor="test")
    apply_settings(engine, [school.urn], SettingsChange(paused=False), actor="test")
    simulator.clear_request_log()
    summary = run_sync(instance, requested=[school.urn])
    assert summary.success
    students = [r for r in requests_about(simulator, school) if r.path.endswith("/students")]
    since = datetime.fromisoformat(cursor).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")  # Wonde's format
    assert students and all(r.query.get("updated_after") == [since] for r in students)
    assert summary.lines[0].startswith(f"{school.urn}: incremental sync;")


def test_a_school_without_an_accepted_agreement_is_registered_but_never_contacted(
    simulator, population, registry, instance, engine
):
    import sqlalchemy as sa

    from mis_pipeline.warehouse.schema import schools

    school = population.approved_schools()[1]
    with engine.begin() as conn:  # as if the school had just approved us at the connector
        conn.execute(sa.update(schools).where(schools.c.urn == school.urn).values(agreement_accepted_on=None))
    simulator.clear_request_log()
    assert run_sync(instance).success
    assert [r for r in requests_about(simulator, school) if "permissions" not in r.path] == []
    with pytest.raises(SyncRefused, match="the data sharing agreement has not been accepted"):
        run_sync(instance, requested=[school.urn])
