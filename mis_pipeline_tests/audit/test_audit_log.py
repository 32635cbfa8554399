import pytest

from data_contracts import AUDIT_LOG, PiiClass, Retention
from mis_pipeline.registry.run_tags import run_actor
from mis_pipeline.warehouse.audit_log import read_audit, record_audit
from mis_pipeline.warehouse.engine import get_engine


def test_the_audit_contract_holds_no_pupil_data_and_is_kept_un_named():
    assert {c.pii for c in AUDIT_LOG.columns} == {PiiClass.NONE}
    assert {c.retention for c in AUDIT_LOG.columns} == {Retention.UNNAMED}


def test_an_entry_is_written_with_its_detail_and_read_back_in_order(warehouse_url):
    engine = get_engine(warehouse_url)
    with engine.begin() as conn:
        record_audit(
            conn,
            "settings_changed",
            {"withheld_items": {"before": [], "after": ["groups"]}},
            actor="cli",
            school_urn="100001",
        )
        record_audit(conn, "keys_rotated", {"data_keys_rewrapped": 3}, actor="cli")
    entries = [(e["action"], e["school_urn"], e["actor"], e["detail"]) for e in read_audit(engine)]
    assert entries == [
        ("settings_changed", "100001", "cli", {"withheld_items": {"before": [], "after": ["groups"]}}),
        ("keys_rotated", None, "cli", {"data_keys_rewrapped": 3}),
    ]


def test_an_entry_that_breaks_the_contract_rolls_back_the_action_it_records(warehouse_url):
    engine = get_engine(warehouse_url)
    with pytest.raises(ValueError, match="audit entry breaks its contract: action: not a known audit action"):
        with engine.begin() as conn:
            record_audit(conn, "settings_changed", {}, actor="cli")
            record_audit(conn, "made_up_action", {}, actor="cli")
    assert read_audit(engine) == []


def test_a_schools_entries_include_the_shares_that_contained_it_and_warehouse_wide_entries_only(
    warehouse_url,
):
    engine = get_engine(warehouse_url)
    share = {
        "partner": "la-371",
        "schools": ["100001", "100002"],
        "counts": {"pupils": 50},
        "pupils_by_school": {"100001": 20, "100002": 30},
    }
    with engine.begin() as conn:
        record_audit(
            conn,
            "settings_changed",
            {"paused": {"before": False, "after": True}},
            actor="Jo",
            school_urn="100001",
        )
        record_audit(
            conn,
            "settings_changed",
            {"paused": {"before": False, "after": True}},
            actor="Jo",
            school_urn="100003",
        )
        record_audit(conn, "share_made", share, actor="Jo", run_id="run-1")
        record_audit(conn, "share_made", {**share, "partner": "trust-9", "schools": ["100003"]}, actor="Jo")
        record_audit(conn, "keys_rotated", {"data_keys_rewrapped": 3}, actor="Jo")
    assert [(e["action"], e["school_urn"]) for e in read_audit(engine, school_urn="100001")] == [
        ("settings_changed", "100001"),
        ("share_made", None),
        ("keys_rotated", None),
    ]
    assert [
        e["detail"].get("partner") for e in read_audit(engine, school_urn="100003", action="share_made")
    ] == ["trust-9"]
    assert len(read_audit(engine)) == 5


@pytest.mark.parametrize(
    ("tags", "operator", "actor"),
    [
        ({"dagster/schedule_name": "nightly_sync_schedule"}, "Jo", "schedule nightly_sync_schedule"),
        ({"dagster/sensor_name": "new_pupil_sensor"}, "Jo", "sensor new_pupil_sensor"),
        ({"mis/operator": "Priya (DPO)"}, "Jo", "Priya (DPO)"),
        ({}, "Jo", "Jo"),
    ],
)
def test_a_runs_actor_is_its_schedule_or_sensor_else_its_operator(tags, operator, actor, monkeypatch):
    monkeypatch.setenv("MIS_OPERATOR", operator)
    assert run_actor(tags) == actor
