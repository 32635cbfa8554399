"""A school withholds a data item: it is removed at the next sync, never requested again, audited;
allowed again, it comes back through a full read. Real simulator, real Dagster runs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from mis_pipeline.cli.launch import run_sync
from mis_pipeline.registry.settings import set_withheld
from mis_pipeline.warehouse.audit_log import read_audit
from mis_pipeline.warehouse.schema import DATASET_TABLES
from mis_simulator.xod_api import estab_of

ATTENDANCE = DATASET_TABLES["attendance_sessions"]


def attendance_by_school(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.select(ATTENDANCE.c.school_urn, sa.func.count()).group_by(ATTENDANCE.c.school_urn)
            ).all()
        )


def attendance_requests(simulator, school) -> list:
    school_ids = {school.id, estab_of(school)}
    return [
        r
        for r in simulator.request_log
        if "attendance" in r.path.lower() and school_ids & set(r.path.split("/"))
    ]


@pytest.mark.parametrize("connector", ["wonde", "xod"])
def test_withholding_attendance_removes_it_at_the_next_sync_and_stops_asking_for_it(
    connector, simulator, population, registry, instance, engine
):
    school = next(
        s
        for s in population.approved_schools()
        if s.connector == connector and s.permissions["attendance.read"]
    )
    assert run_sync(instance).success
    before = attendance_by_school(engine)
    assert before[school.urn] > 0

    earlier = len(read_audit(engine, school_urn=school.urn))
    assert set_withheld(engine, school.urn, ["attendance"], [], actor="test") == ("attendance",)
    simulator.clear_request_log()
    summary = run_sync(instance)

    assert summary.success, summary.failure_reason
    assert attendance_by_school(engine) == {urn: n for urn, n in before.items() if urn != school.urn}
    assert attendance_requests(simulator, school) == []
    assert any(
        attendance_requests(simulator, other)
        for other in population.approved_schools()
        if other.urn != school.urn and other.permissions["attendance.read"]
    )
    actions = [(e["action"], e["detail"]) for e in read_audit(engine, school_urn=school.urn)[earlier:]]
    assert actions == [
        ("settings_changed", {"withheld_items": {"before": [], "after": ["attendance"]}}),
        (
            "items_removed",
            {
                "reason": "out of the school's scope",
                "rows_removed": {"attendance_sessions": before[school.urn]},
            },
        ),
    ]


def test_an_item_allowed_again_comes_back_through_a_full_read(
    simulator, population, registry, instance, engine
):
    school = next(
        s
        for s in population.approved_schools()
        if s.connector == "wonde" and s.permissions["attendance.read"]
    )
    assert run_sync(instance).success
    before = attendance_by_school(engine)
    set_withheld(engine, school.urn, ["attendance"], [], actor="test")
    assert run_sync(instance).success
    set_withheld(engine, school.urn, [], ["attendance"], actor="test")
    simulator.clear_request_log()

    assert run_sync(instance).success

    assert attendance_by_school(engine) == before
    requests = attendance_requests(simulator, school)
    assert requests and all("updated_after" not in r.query for r in requests)  # a full read, not a delta
