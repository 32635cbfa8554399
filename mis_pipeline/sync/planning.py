"""What the automation asks for, decided without Dagster, HTTP or a database. Pure.

The sensor and the schedule are thin shells over these: which schools a sensor tick probes
(round-robin, so a tick stays bounded however many schools there are), how the schools to sync
are grouped into runs (a partition range per run), and the settings and cursor they read.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass


def round_robin(
    ordered: Sequence[str], after: str | None, limit: int, eligible: Collection[str]
) -> list[str]:
    """Up to `limit` eligible keys, in `ordered` order, starting just after `after` and wrapping
    round; each key at most once per call.

    `after` is located in the whole `ordered` list, not only among eligible keys, so a school that
    stopped being eligible (paused, revoked) still marks where the next tick carries on. A key
    that is gone altogether starts again from the beginning: nothing is skipped for ever.
    """
    if limit <= 0 or not ordered:
        return []
    wanted = set(eligible)
    start = _position_after(ordered, after)
    picked: list[str] = []
    for offset in range(len(ordered)):
        key = ordered[(start + offset) % len(ordered)]
        if key in wanted:
            picked.append(key)
            if len(picked) == limit:
                break
    return picked


def _position_after(ordered: Sequence[str], after: str | None) -> int:
    if after is None:
        return 0
    try:
        return ordered.index(after) + 1
    except ValueError:
        return 0


def batch_ranges(
    ordered: Sequence[str], wanted: Collection[str], batch_size: int, passable: Collection[str] | None = None
) -> list[tuple[str, str]]:
    """(first, last) partition ranges, in `ordered` order, each holding at most `batch_size`
    wanted keys and starting and ending on one, that together cover every wanted key in `ordered`.

    Other keys may lie inside a range: with `passable` None any key may (so N wanted keys give
    exactly ceil(N / batch_size) ranges); otherwise only the `passable` ones, and any other key
    closes the range (use it for keys the run would contact but must not).
    """
    if batch_size < 1:
        raise ValueError("the batch size must be at least 1")
    wanted_keys = set(wanted)
    fence = None if passable is None else set(passable)
    ranges: list[tuple[str, str]] = []
    start = last = None
    count = 0
    for key in ordered:
        if key in wanted_keys:
            start, last, count = (key if start is None else start), key, count + 1
            if count == batch_size:
                ranges.append((start, last))
                start, count = None, 0
        elif start is not None and fence is not None and key not in fence:
            ranges.append((start, last))
            start, count = None, 0
    if start is not None:
        ranges.append((start, last))
    return ranges


def keys_in_ranges(ordered: Sequence[str], ranges: Collection[tuple[str, str]]) -> set[str]:
    """Every key that lies in one of the (first, last) ranges of `ordered`."""
    position = {key: index for index, key in enumerate(ordered)}
    covered: set[str] = set()
    for first, last in ranges:
        if first in position and last in position:
            covered.update(ordered[position[first] : position[last] + 1])
    return covered


def discovery_due(
    last_refreshed: float | None, now: float, max_age_seconds: float, all_requested_registered: bool = True
) -> bool:
    """Whether a sync must run discovery first: the registry was never refreshed, or not within
    `max_age_seconds` (0: always), or a school asked for by name is not registered yet."""
    if last_refreshed is None or not all_requested_registered or max_age_seconds <= 0:
        return True
    return now - last_refreshed >= max_age_seconds


def positive_int_setting(name: str, text: str | None, default: int) -> int:
    """An operator's numeric setting (an environment variable): unset or blank means `default`;
    anything but a whole number of at least 1 is refused with a one-line reason naming it."""
    if text is None or not text.strip():
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"{name} must be a whole number of at least 1, not {text.strip()!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {value}")
    return value


@dataclass(frozen=True)
class ProbeCursor:
    """The new-pupil sensor's cursor: the last school probed (where the next tick carries on) and
    the tick that probed it (which makes each tick's run keys its own)."""

    after: str | None = None
    tick: str | None = None

    def to_json(self) -> str:
        return json.dumps({"after": self.after, "tick": self.tick}, sort_keys=True)

    @classmethod
    def parse(cls, text: str | None) -> ProbeCursor:
        """Tolerant: a missing or unreadable cursor (e.g. reset by an operator) starts from the
        first school rather than failing every tick."""
        try:
            loaded = json.loads(text) if text else {}
        except ValueError:
            return cls()
        if not isinstance(loaded, dict):
            return cls()
        after, tick = loaded.get("after"), loaded.get("tick")
        return cls(after if isinstance(after, str) else None, tick if isinstance(tick, str) else None)
