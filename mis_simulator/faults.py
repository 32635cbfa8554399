"""Test-only fault injection: an explicit FIFO of faults, plus an optional seeded fault rate.

The queue is exact (a test says which request fails and how). The rate (`--fault-rate`) is
for soak runs: each request draws from its own `Random(f"{seed}:{n}")`, so for a given seed
the n-th request always gets the same fault, however requests interleave across threads.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import deque
from dataclasses import dataclass

KINDS = ("status", "truncate", "garble", "drop", "slow", "xod_error")
SLOW_SECONDS = 0.3  # long enough to be seen in timings, well inside any sane client timeout


@dataclass(frozen=True)
class Fault:
    """One fault for one request.

    - `status`: answer `status` (e.g. 429, 500, 503) with a JSON error; 429 and 503 carry
      `Retry-After: retry_after` seconds.
    - `truncate`: send the real headers (full Content-Length) and half the body, then close
      the connection, as a dropped proxy connection would.
    - `garble`: a 200 with a well-formed HTTP frame but a body that is not JSON.
    - `drop`: close the connection without answering.
    - `slow`: wait `SLOW_SECONDS`, then answer normally.
    - `xod_error`: an HTTP 200 whose body is XoD's four-key error object with `message` as its
      ExceptionMessage (connectors.md §2.6, §3.5 item 11).

    `path_contains`: the fault waits for a request whose path contains it (case-insensitive),
    so a test can fail one endpoint whatever the order of the requests before it.
    """

    kind: str = "status"
    status: int = 503
    retry_after: int = 1
    message: str = "Something went wrong"
    path_contains: str | None = None

    def applies_to(self, path: str) -> bool:
        return self.path_contains is None or self.path_contains.lower() in path.lower()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {KINDS}")


def parse_fault(spec: str | int | Fault) -> Fault:
    """`429`, `"503"`, `"truncate"`, `"garble"`, `"drop"`, `"slow"` or a ready `Fault`."""
    if isinstance(spec, Fault):
        return spec
    if isinstance(spec, int) or spec.isdigit():
        return Fault(kind="status", status=int(spec))
    return Fault(kind=spec)


class FaultQueue:
    def __init__(self) -> None:
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()

    def extend(self, specs) -> None:
        parsed = [parse_fault(spec) for spec in specs]
        with self._lock:
            self._faults.extend(parsed)

    def pop(self, path: str = "") -> Fault | None:
        """The first queued fault for a request to `path`, taken off the queue."""
        with self._lock:
            for fault in self._faults:
                if fault.applies_to(path):
                    self._faults.remove(fault)
                    return fault
            return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)


def random_fault_menu(retry_after: int) -> tuple[Fault, ...]:
    """The faults `--fault-rate` draws from, equally likely: the transient failures a real
    API and its proxies produce, all of which a correct client survives by retrying."""
    return (
        Fault(status=429, retry_after=retry_after),
        Fault(status=500),
        Fault(status=503, retry_after=retry_after),
        Fault(kind="slow"),
        Fault(kind="truncate"),
    )


class RandomFaults:
    """With probability `rate`, one fault from `random_fault_menu` for each request."""

    def __init__(self, rate: float, seed: int, retry_after: int = 1) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, not {rate}")
        self.rate = rate
        self.seed = seed
        self.menu = random_fault_menu(retry_after)
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def draw(self) -> Fault | None:
        if self.rate <= 0.0:
            return None
        with self._lock:
            n = next(self._counter)
        rng = random.Random(f"{self.seed}:{n}")  # per-request stream: no shared RNG state to race on
        if rng.random() >= self.rate:
            return None
        return self.menu[int(rng.random() * len(self.menu))]
