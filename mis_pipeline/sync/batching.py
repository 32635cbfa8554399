"""Group schools into runs. Pure: no Dagster imports."""

from __future__ import annotations


def contiguous_ranges(ordered_keys: list[str], wanted: set[str], max_per_run: int | None = None
                      ) -> list[tuple[str, str]]:
    """The (first, last) key ranges, in `ordered_keys` order, that cover exactly the wanted keys.

    Dagster runs a partition range as one run; a school that is not wanted splits the range so it
    is never materialised by accident. `max_per_run` caps how many schools one run covers.
    """
    ranges: list[tuple[str, str]] = []
    start = previous = None
    size = 0
    for key in ordered_keys:
        if key in wanted and start is not None and (max_per_run is None or size < max_per_run):
            previous, size = key, size + 1
            continue
        if start is not None:
            ranges.append((start, previous))
            start = None
        if key in wanted:
            start = previous = key
            size = 1
    if start is not None:
        ranges.append((start, previous))
    return ranges
