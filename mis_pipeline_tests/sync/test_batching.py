import pytest

from mis_pipeline.sync.batching import contiguous_ranges

KEYS = ["a", "b", "c", "d", "e", "f"]


@pytest.mark.parametrize("wanted, cap, expected", [
    (set(KEYS), None, [("a", "f")]),
    ({"b"}, None, [("b", "b")]),
    ({"a", "b", "d", "e", "f"}, None, [("a", "b"), ("d", "f")]),
    (set(KEYS), 4, [("a", "d"), ("e", "f")]),
    (set(KEYS), 2, [("a", "b"), ("c", "d"), ("e", "f")]),
    ({"a", "c", "e"}, None, [("a", "a"), ("c", "c"), ("e", "e")]),
    (set(), None, []),
    ({"zz"}, None, []),
])
def test_ranges_cover_exactly_the_wanted_schools(wanted, cap, expected):
    assert contiguous_ranges(KEYS, wanted, cap) == expected


def test_number_of_runs_is_the_ceiling_of_schools_over_batch_size():
    keys = [f"{n:06d}" for n in range(1, 1001)]
    assert len(contiguous_ranges(keys, set(keys), 64)) == 16  # ceil(1000 / 64)
