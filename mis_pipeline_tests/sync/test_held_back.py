"""The rule for a quarantined pupil's other items, as pure decisions: where each pupil stands after
the core record is written, and what of another item lands, waits or is dropped."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from data_contracts import Rejection
from mis_pipeline.sync.held_back import HELD_BACK, NOT_A_PUPIL, Standing, hold_back, standing_after
from mis_pipeline.warehouse.school_store import DatasetSync

AT = datetime(2026, 12, 6, tzinfo=UTC)


def core(mode="incremental", good=(), rejected=(), deleted=()) -> DatasetSync:
    return DatasetSync(
        "100001",
        "pupils",
        mode,
        None,
        AT,
        0,
        [{"pupil_key": key, "leaving_date": leaving} for key, leaving in good],
        [Rejection({"pupil_key": key}, "upn: missing") for key in rejected],
        deleted_keys=frozenset(deleted),
    )


def membership(key: str, code: str = "7A") -> dict:
    return {
        "pupil_key": key,
        "school_urn": "100001",
        "group_type": "registration",
        "group_code": code,
        "group_name": code,
        "source_updated_at": AT,
    }


@pytest.mark.parametrize(
    "sync, on, off, waiting, expected",
    [
        # a pupil arriving good is held; one arriving bad and not held waits
        (
            core(good=[("a", None)], rejected=["b"]),
            set(),
            set(),
            set(),
            Standing(frozenset("a"), frozenset(), frozenset("b")),
        ),
        # a held pupil whose new version is bad stays held: their last good record stands
        (core(rejected=["a"]), {"a"}, set(), set(), Standing(frozenset("a"), frozenset(), frozenset())),
        # a waiting pupil who arrives fixed is held and waits no more
        (core(good=[("b", None)]), set(), set(), {"b"}, Standing(frozenset("b"), frozenset(), frozenset())),
        # a leaver and a pupil deleted at the connector are held, off roll
        (
            core(good=[("a", date(2026, 11, 30))], deleted=["c"]),
            {"a", "c"},
            set(),
            set(),
            Standing(frozenset(), frozenset("ac"), frozenset()),
        ),
        # a full read: a held pupil it lacks is gone (deleted at the connector), and what waited is re-judged
        (
            core(mode="full", good=[("a", None)]),
            {"a", "z"},
            set(),
            {"q"},
            Standing(frozenset("a"), frozenset("z"), frozenset()),
        ),
    ],
)
def test_where_each_pupil_stands_after_the_core_record(sync, on, off, waiting, expected):
    assert standing_after(sync, frozenset(on), frozenset(off), frozenset(waiting)) == expected


def test_a_groups_members_land_but_a_waiting_pupils_membership_waits_and_a_leavers_is_dropped():
    standing = Standing(on_roll=frozenset("a"), off_roll=frozenset("l"), quarantined=frozenset("q"))
    sync = DatasetSync(
        "100001",
        "pupil_groups",
        "full",
        None,
        AT,
        4,
        [membership("a"), membership("q"), membership("l"), membership("x")],
        [],
    )
    held = hold_back(sync, standing)
    assert [r["pupil_key"] for r in held.good] == ["a"]
    assert [(r.record["pupil_key"], r.rule) for r in held.rejected] == [("q", HELD_BACK), ("x", NOT_A_PUPIL)]


def test_items_released_with_a_pupil_land_unless_the_same_record_arrives_again():
    standing = Standing(on_roll=frozenset("a"), off_roll=frozenset(), quarantined=frozenset())
    arriving = {**membership("a", "7A"), "group_name": "7A (renamed)"}
    sync = DatasetSync("100001", "pupil_groups", "incremental", None, AT, 1, [arriving], [])
    released = [membership("a", "7A"), membership("a", "7B")]
    held = hold_back(sync, standing, released)
    assert sorted((r["group_code"], r["group_name"]) for r in held.good) == [
        ("7A", "7A (renamed)"),
        ("7B", "7B"),
    ]


def test_the_core_record_itself_is_never_held_back():
    sync = core(good=[("a", None)])
    assert hold_back(sync, Standing(frozenset(), frozenset(), frozenset())) is sync
