"""The master key, per-pupil data keys and rotation, against real SQLite and PostgreSQL."""

import pytest
import sqlalchemy as sa

from data_contracts import Rejection
from mis_pipeline.lib.crypto import Keyring, MasterKey, WrongMasterKeyError, generate_key
from mis_pipeline.warehouse.audit_log import read_audit
from mis_pipeline.warehouse.engine import get_engine
from mis_pipeline.warehouse.reader import read_pupils, read_quarantine
from mis_pipeline.warehouse.schema import metadata
from mis_pipeline.warehouse.school_store import write_school
from mis_pipeline.warehouse.vault import forget_vaults, key_census, open_vault, rotate
from mis_pipeline_tests.warehouse.support import record, sync_of


def new_key() -> MasterKey:
    return MasterKey.from_bytes(generate_key())


@pytest.fixture
def engine(warehouse_url):
    yield get_engine(warehouse_url)
    forget_vaults()


def every_row(engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {
            name: sorted(map(tuple, conn.execute(sa.select(table)).all()), key=repr)
            for name, table in metadata.tables.items()
        }


def hold_three_pupils(engine, ring: Keyring) -> None:
    bad = Rejection(record(3, upn="A371300724001"), "upn: upn_check_letter")
    write_school(engine, open_vault(engine, ring), [sync_of([record(1), record(2)], [bad])], "run-1")


def test_a_wrong_master_key_fails_with_both_key_ids_and_changes_nothing(engine):
    right, wrong = new_key(), new_key()
    hold_three_pupils(engine, Keyring(right))
    before = every_row(engine)
    forget_vaults()
    with pytest.raises(WrongMasterKeyError) as raised:
        open_vault(engine, Keyring(wrong))
    assert str(raised.value) == (
        f"MIS_MASTER_KEY (key id {wrong.key_id}) is not this warehouse's master key (its data keys are wrapped by "
        f"{right.key_id}); nothing was changed. During a rotation, list the old key in MIS_PREVIOUS_MASTER_KEYS"
    )
    assert every_row(engine) == before


def test_rotation_rewraps_every_data_key_and_every_value_reads_back_the_same(engine):
    old, new = new_key(), new_key()
    hold_three_pupils(engine, Keyring(old))
    pupils_before = read_pupils(engine, open_vault(engine, Keyring(old)))
    quarantine_before = read_quarantine(engine, open_vault(engine, Keyring(old)), "100001")

    result = rotate(engine, Keyring(new, (old,)), batch_size=2)  # several batches

    assert (result.rewrapped, result.retired, result.current) == (3, (old.key_id,), new.key_id)
    assert key_census(engine) == {
        "master_keys": [
            {"key_id": old.key_id, "active": False, "data_keys": 0},
            {"key_id": new.key_id, "active": True, "data_keys": 3},
        ]
    }
    forget_vaults()
    assert read_pupils(engine, open_vault(engine, Keyring(new))) == pupils_before
    assert read_quarantine(engine, open_vault(engine, Keyring(new)), "100001") == quarantine_before
    [entry] = read_audit(engine, action="keys_rotated")
    assert entry["detail"] == {
        "data_keys_rewrapped": 3,
        "master_key": new.key_id,
        "retired_master_keys": [old.key_id],
    }


def test_after_a_rotation_the_old_master_key_alone_is_refused(engine):
    old, new = new_key(), new_key()
    hold_three_pupils(engine, Keyring(old))
    rotate(engine, Keyring(new, (old,)))
    forget_vaults()
    with pytest.raises(WrongMasterKeyError):
        open_vault(engine, Keyring(old))


def test_writes_during_a_rotation_are_wrapped_by_the_new_key_and_old_keys_still_open(engine):
    old, new = new_key(), new_key()
    hold_three_pupils(engine, Keyring(old))
    during = Keyring(new, (old,))  # every process now runs with both keys, before `keys rotate`
    write_school(engine, open_vault(engine, during), [sync_of([record(4)], mode="incremental")], "run-2")
    assert [p["pupil_key"] for p in read_pupils(engine, open_vault(engine, during))] == [
        "key1",
        "key2",
        "key4",
    ]
    census = {k["key_id"]: k["data_keys"] for k in key_census(engine)["master_keys"]}
    assert census == {old.key_id: 3, new.key_id: 1}


def test_destroying_a_pupils_data_key_leaves_none_of_its_values_readable(engine):
    ring = Keyring(new_key())
    hold_three_pupils(engine, ring)
    vault = open_vault(engine, ring)
    with engine.begin() as conn:
        assert vault.destroy(conn, ["key1", "key3"]) == 2
    assert [p["pupil_key"] for p in read_pupils(engine, vault)] == ["key2"]
    assert (
        read_quarantine(engine, vault, "100001") == []
    )  # key3's quarantined record was sealed under its key


def test_the_pseudonym_secret_survives_rotation_so_pupil_keys_do_not_change(engine):
    old, new = new_key(), new_key()
    key_before = open_vault(engine, Keyring(old)).pseudonyms.pupil_key("100001", "42")
    rotate(engine, Keyring(new, (old,)))
    forget_vaults()
    assert open_vault(engine, Keyring(new)).pseudonyms.pupil_key("100001", "42") == key_before
