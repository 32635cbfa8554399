"""Test-only fault injection: a FIFO of faults, each spent on the next API request.

Deterministic by design (no rates, no randomness) so a test can say exactly which request
fails and how. A later `--fault-rate` option can feed the same `Fault` objects.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

KINDS = ("status", "truncate", "garble", "drop")


@dataclass(frozen=True)
class Fault:
    """One fault for one request.

    - `status`: answer `status` (e.g. 429, 500, 503) with a JSON error; 429 and 503 carry
      `Retry-After: retry_after` seconds.
    - `truncate`: send the real headers (full Content-Length) and half the body, then close
      the connection, as a dropped proxy connection would.
    - `garble`: a 200 with a well-formed HTTP frame but a body that is not JSON.
    - `drop`: close the connection without answering.
    """

    kind: str = "status"
    status: int = 503
    retry_after: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {KINDS}")


def parse_fault(spec: str | int | Fault) -> Fault:
    """`429`, `"503"`, `"truncate"`, `"garble"`, `"drop"` or a ready `Fault`."""
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

    def pop(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)
