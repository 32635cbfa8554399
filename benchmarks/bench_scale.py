"""How a night's cost grows with the number of schools: `make bench-scale`.

Runs the night benchmark (`bench_sync.py`: full, delta, no-op against their floors) once per size,
each in a process of its own with its own simulator and database, and prints seconds per school
for each phase and the peak RSS, to show the cost grows linearly and memory stays flat.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 50,100,200,400 --pupils-per-school 200]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent / "bench_sync.py"
PHASES = ("full", "delta", "no-op")


def run_size(schools: int, pupils: int, extra: list[str]) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [
            sys.executable,
            str(BENCH),
            "--schools",
            str(schools),
            "--pupils-per-school",
            str(pupils),
            "--summary-json",
            out.name,
            *extra,
        ]
        completed = subprocess.run(command, capture_output=True, text=True)
        if completed.returncode != 0:
            tail = (completed.stdout + completed.stderr)[-1500:]
            raise SystemExit(f"bench-scale: {schools} schools failed (exit {completed.returncode}):\n{tail}")
        return json.loads(Path(out.name).read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="50,100,200,400", help="schools per run, comma-separated")
    parser.add_argument("--pupils-per-school", type=int, default=200)
    args, extra = parser.parse_known_args(argv)
    print(
        f"{'schools':>8}{'pupils':>9}"
        + "".join(f"{p + ' s/school':>18}{'(x floor)':>10}" for p in PHASES)
        + f"{'peak RSS MB':>13}"
    )
    for size in (int(text) for text in args.sizes.split(",")):
        night = run_size(size, args.pupils_per_school, extra)
        schools, seconds = night["schools"], night["seconds"]
        cells = "".join(
            f"{seconds['pipeline ' + p] / schools:>18.3f}"
            f"{seconds['pipeline ' + p] / seconds['floor ' + p]:>9.2f}x"
            for p in PHASES
        )
        print(
            f"{schools:>8}{night['pupils']:>9,}{cells}{max(night['peak_rss_mb'].values()):>13.0f}", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
