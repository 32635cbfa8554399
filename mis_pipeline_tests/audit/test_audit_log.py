import pytest

from data_contracts import AUDIT_LOG, PiiClass, Retention
from mis_pipeline.audit.log import read_audit, record_audit
from mis_pipeline.warehouse.engine import get_engine


def test_the_audit_contract_holds_no_pupil_data_and_is_kept_un_named():
    assert {c.pii for c in AUDIT_LOG.columns} == {PiiClass.NONE}
    assert {c.retention for c in AUDIT_LOG.columns} == {Retention.UNNAMED}


def test_an_entry_is_written_with_its_detail_and_read_back_in_order(warehouse_url):
    engine = get_engine(warehouse_url)
    with engine.begin() as conn:
        record_audit(conn, "settings_changed", {"withheld_items": {"before": [], "after": ["groups"]}},
                     actor="cli", school_urn="100001")
        record_audit(conn, "keys_rotated", {"data_keys_rewrapped": 3}, actor="cli")
    entries = [(e["action"], e["school_urn"], e["actor"], e["detail"]) for e in read_audit(engine)]
    assert entries == [("settings_changed", "100001", "cli", {"withheld_items": {"before": [], "after": ["groups"]}}),
                       ("keys_rotated", None, "cli", {"data_keys_rewrapped": 3})]


def test_an_entry_that_breaks_the_contract_rolls_back_the_action_it_records(warehouse_url):
    engine = get_engine(warehouse_url)
    with pytest.raises(ValueError, match="audit entry breaks its contract: action: audit_action"):
        with engine.begin() as conn:
            record_audit(conn, "settings_changed", {}, actor="cli")
            record_audit(conn, "made_up_action", {}, actor="cli")
    assert read_audit(engine) == []
