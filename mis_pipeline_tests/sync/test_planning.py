"""What the automation plans, as pure functions: which schools a tick probes, and how schools
are grouped into runs."""

import math

import pytest

from mis_pipeline.sync.planning import (
    ProbeCursor,
    batch_ranges,
    discovery_due,
    keys_in_ranges,
    positive_int_setting,
    round_robin,
)

KEYS = ["a", "b", "c", "d", "e", "f"]


# ── round_robin ──────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    "after, limit, eligible, expected",
    [
        (None, 3, set(KEYS), ["a", "b", "c"]),  # no cursor: from the first school
        ("c", 3, set(KEYS), ["d", "e", "f"]),  # carries on after the last one probed
        ("e", 3, set(KEYS), ["f", "a", "b"]),  # wraps round
        ("f", 3, set(KEYS), ["a", "b", "c"]),
        ("b", 10, set(KEYS), ["c", "d", "e", "f", "a", "b"]),  # more than there are: each once
        ("a", 3, {"a", "c", "f"}, ["c", "f", "a"]),  # ineligible ones are passed over
        ("c", 2, {"a", "b", "e"}, ["e", "a"]),  # the cursor need not be eligible itself
        ("zz", 2, set(KEYS), ["a", "b"]),  # a cursor that is gone starts again
        (None, 0, set(KEYS), []),
        ("a", 3, set(), []),
    ],
)
def test_round_robin_picks_the_next_eligible_schools_after_the_cursor_wrapping_round(
    after, limit, eligible, expected
):
    assert round_robin(KEYS, after, limit, eligible) == expected


def test_successive_ticks_visit_every_eligible_school_once_before_any_twice():
    keys = [f"{n:06d}" for n in range(1, 23)]
    eligible = set(keys) - {"000004", "000017"}
    after, seen = None, []
    for _ in range(4):  # 4 ticks of 5 = 20 = every eligible school once
        picked = round_robin(keys, after, 5, eligible)
        seen += picked
        after = picked[-1]
    assert sorted(seen) == sorted(eligible) and len(seen) == 20


def test_round_robin_over_no_schools_picks_nothing():
    assert round_robin([], "a", 5, {"a"}) == []


# ── batch_ranges ─────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    "wanted, batch, passable, expected",
    [
        (set(KEYS), 6, None, [("a", "f")]),
        (set(KEYS), 4, None, [("a", "d"), ("e", "f")]),
        (set(KEYS), 2, None, [("a", "b"), ("c", "d"), ("e", "f")]),
        ({"b", "d", "f"}, 2, None, [("b", "d"), ("f", "f")]),  # others may lie inside a range
        ({"a", "f"}, 500, None, [("a", "f")]),
        ({"b"}, 3, None, [("b", "b")]),
        (
            {"a", "d", "e"},
            5,
            {"b"},
            [("a", "a"), ("d", "e")],
        ),  # c may not be passed over: it closes the range
        ({"a", "c", "e"}, 5, {"b", "d"}, [("a", "e")]),  # b and d may
        ({"a", "c", "e"}, 2, {"b", "d"}, [("a", "c"), ("e", "e")]),
        ({"a", "c"}, 5, set(), [("a", "a"), ("c", "c")]),
        (set(), 3, None, []),
        ({"zz"}, 3, None, []),  # not a partition: nothing to run
    ],
)
def test_ranges_hold_at_most_a_batch_of_wanted_schools_and_start_and_end_on_one(
    wanted, batch, passable, expected
):
    assert batch_ranges(KEYS, wanted, batch, passable) == expected


@pytest.mark.parametrize(
    "schools, batch", [(1, 500), (500, 500), (501, 500), (22_000, 500), (1000, 64), (7, 3)]
)
def test_n_wanted_schools_give_exactly_the_ceiling_of_n_over_the_batch_size_in_runs(schools, batch):
    keys = [f"{n:06d}" for n in range(1, 2 * schools + 1)]
    wanted = set(keys[1::2])  # every other partition: the ones between lie inside the ranges
    ranges = batch_ranges(keys, wanted, batch)
    assert len(ranges) == math.ceil(schools / batch)
    assert keys_in_ranges(keys, ranges) & wanted == wanted


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="the batch size must be at least 1"):
        batch_ranges(KEYS, {"a"}, 0)


def test_keys_in_ranges_are_every_partition_from_first_to_last_inclusive():
    assert keys_in_ranges(KEYS, [("b", "d"), ("f", "f"), ("x", "y")]) == {"b", "c", "d", "f"}


# ── settings and cursor ──────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("text, expected", [(None, 500), ("", 500), (" 25 ", 25), ("1", 1)])
def test_a_numeric_setting_defaults_when_unset_and_reads_whole_numbers(text, expected):
    assert positive_int_setting("MIS_SYNC_BATCH_SIZE", text, 500) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("0", "MIS_SYNC_BATCH_SIZE must be a whole number of at least 1, not 0"),
        ("-3", "MIS_SYNC_BATCH_SIZE must be a whole number of at least 1, not -3"),
        ("lots", "MIS_SYNC_BATCH_SIZE must be a whole number of at least 1, not 'lots'"),
    ],
)
def test_a_numeric_setting_that_is_not_a_positive_whole_number_is_refused_naming_the_variable(text, message):
    with pytest.raises(ValueError) as raised:
        positive_int_setting("MIS_SYNC_BATCH_SIZE", text, 500)
    assert str(raised.value) == message


def test_the_probe_cursor_round_trips_through_its_json():
    cursor = ProbeCursor("100234", "20261130T101500Z")
    assert ProbeCursor.parse(cursor.to_json()) == cursor


@pytest.mark.parametrize("text", [None, "", "not json", "[1, 2]", '{"after": 7}'])
def test_a_missing_or_unreadable_probe_cursor_starts_from_the_first_school(text):
    assert ProbeCursor.parse(text) == ProbeCursor(None, None)


@pytest.mark.parametrize(
    "last_refreshed, now, max_age, all_registered, expected",
    [
        (None, 1000.0, 3600, True, True),  # never discovered
        (1000.0, 1000.0 + 3599, 3600, True, False),  # refreshed within the hour
        (1000.0, 1000.0 + 3600, 3600, True, True),  # an hour old
        (1000.0, 1001.0, 0, True, True),  # 0: before every sync
        (1000.0, 1001.0, 3600, False, True),  # a school asked for by name is not registered yet
    ],
)
def test_discovery_runs_before_a_sync_only_when_the_registry_is_stale_or_misses_a_requested_school(
    last_refreshed, now, max_age, all_registered, expected
):
    assert discovery_due(last_refreshed, now, max_age, all_registered) is expected


# With nothing passable a range never spans a school that is not wanted: the CLI's runs, where a
# school in the range would otherwise be contacted (contiguous exact ranges).
EXACT_KEYS = ["a", "b", "c", "d", "e", "f"]


@pytest.mark.parametrize(
    "wanted, batch, expected",
    [
        (set(EXACT_KEYS), 6, [("a", "f")]),
        ({"b"}, 6, [("b", "b")]),
        ({"a", "b", "d", "e", "f"}, 6, [("a", "b"), ("d", "f")]),
        (set(EXACT_KEYS), 4, [("a", "d"), ("e", "f")]),
        (set(EXACT_KEYS), 2, [("a", "b"), ("c", "d"), ("e", "f")]),
        ({"a", "c", "e"}, 6, [("a", "a"), ("c", "c"), ("e", "e")]),
        (set(), 6, []),
        ({"zz"}, 6, []),
    ],
)
def test_exact_ranges_cover_the_wanted_schools_and_no_other(wanted, batch, expected):
    assert batch_ranges(EXACT_KEYS, wanted, batch, passable=()) == expected
