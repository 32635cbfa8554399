"""`make demo`: start the simulator, sync every simulator school through Dagster, show status.

It drives the same console commands an operator would (`mis-pipeline simulator serve`, `sync`,
`status`) as separate processes, checks that status holds exactly the pupils the simulator serves,
and always stops the simulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mis_pipeline.config import mis_home
from mis_pipeline.simulator.population import build_population

SCHOOLS, PUPILS, SEED = 6, 40, 7
CLI = str(Path(sys.executable).with_name("mis-pipeline"))


def _start_simulator() -> tuple[subprocess.Popen, dict[str, str]]:
    process = subprocess.Popen(
        [CLI, "simulator", "serve", "--port", "0", "--schools", str(SCHOOLS),
         "--pupils-per-school", str(PUPILS), "--seed", str(SEED)],
        stdout=subprocess.PIPE, text=True,
    )
    settings: dict[str, str] = {}
    while len(settings) < 2:
        line = process.stdout.readline()
        if not line:
            raise SystemExit("demo: the simulator stopped before it was ready")
        name, _, value = line.strip().partition("=")
        if name in ("WONDE_API_URL", "WONDE_API_TOKEN"):
            settings[name] = value
    return process, settings


def _run(*args: str, env: dict) -> str:
    print(f"$ mis-pipeline {' '.join(args)}", flush=True)
    result = subprocess.run([CLI, *args], env=env, stdout=subprocess.PIPE, text=True)
    print(result.stdout, end="", flush=True)
    if result.returncode != 0:
        raise SystemExit(result.returncode)
    return result.stdout


def _check(status: dict) -> None:
    served = {s.urn: len(s.pupils) for s in build_population(SEED, SCHOOLS, PUPILS).approved_schools()}
    held = {s["urn"]: s["counts"]["pupils"] for s in status["schools"]}
    if held != served:
        raise SystemExit(f"demo: status does not match the simulator: held {held}, served {served}")
    print(f"demo: OK, {len(served)} schools and {sum(served.values())} pupils, exactly as the simulator serves")


def main() -> None:
    print(f"demo: local state in {mis_home()}", flush=True)
    simulator, settings = _start_simulator()
    try:
        env = {**os.environ, **settings, "MIS_ALLOW_LOOPBACK_HTTP": "1", "WONDE_REQUESTS_PER_SECOND": "0"}
        _run("sync", env=env)
        _run("status", env=env)
        _check(json.loads(subprocess.run([CLI, "status", "--json"], env=env, stdout=subprocess.PIPE,
                                         text=True, check=True).stdout))
    finally:
        simulator.terminate()
        simulator.wait(timeout=30)


if __name__ == "__main__":
    main()
