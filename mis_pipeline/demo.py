"""`make demo`: start the simulator, import its GIAS extract, sync every school, show status.

It drives the same console commands an operator would (`mis-pipeline simulator serve`,
`schools import-gias`, `sync`, `status`) as separate processes, checks that status holds exactly
what the simulator serves, through both connectors, and always stops the simulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mis_pipeline.config import mis_home
from mis_pipeline.lib.dates import london_today
from mis_simulator.population import build_population

SCHOOLS, PUPILS, SEED = 6, 40, 7
AGREEMENT_VERSION = "seed-1"  # the agreement in ../shared/reference/seed-agreement.txt
CLI = str(Path(sys.executable).with_name("mis-pipeline"))
SETTINGS = (
    "WONDE_API_URL",
    "WONDE_API_TOKEN",
    "XPORTER_API_URL",
    "XPORTER_RELYING_PARTY",
    "XPORTER_SCHOOL_SECRETS",
    "GIAS_EXTRACT",
)


def _start_simulator(files: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    files.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            CLI,
            "simulator",
            "serve",
            "--port",
            "0",
            "--schools",
            str(SCHOOLS),
            "--pupils-per-school",
            str(PUPILS),
            "--seed",
            str(SEED),
            "--gias-out",
            str(files / "edubasealldata.csv"),
            "--xod-secrets-out",
            str(files / "xod-secrets.json"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    settings: dict[str, str] = {}
    while len(settings) < len(SETTINGS):
        line = process.stdout.readline()
        if not line:
            raise SystemExit("demo: the simulator stopped before it was ready")
        name, _, value = line.strip().partition("=")
        if name in SETTINGS:
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
    schools = build_population(SEED, SCHOOLS, PUPILS).approved_schools()
    served = {s.urn: len(s.pupils) for s in schools}
    held = {s["urn"]: s["counts"]["pupils"] for s in status["schools"]}
    if held != served:
        raise SystemExit(f"demo: status does not match the simulator: held {held}, served {served}")
    connectors = sorted({s.connector for s in schools})
    print(
        f"demo: OK, {len(served)} schools ({', '.join(connectors)}) and {sum(served.values())} pupils, "
        f"exactly as the simulator serves"
    )


def main() -> None:
    home = mis_home()
    print(f"demo: local state in {home}", flush=True)
    simulator, settings = _start_simulator(home / "simulator")
    try:
        env = {
            **os.environ,
            **settings,
            "MIS_ALLOW_LOOPBACK_HTTP": "1",
            "WONDE_REQUESTS_PER_SECOND": "0",
            "XPORTER_REQUESTS_PER_SECOND": "0",
        }
        if not env.get("MIS_MASTER_KEY"):
            _run("keys", "init", env=env)  # a local master key in MIS_HOME (mode 0600), and it says so
        _run("schools", "import-gias", settings["GIAS_EXTRACT"], env=env)
        listed = _run("schools", "discover", env=env)
        # Each school's data administrator accepts the data sharing agreement (and with it the
        # retention periods); until then a school is registered but never synced.
        urns = [line.split()[0] for line in listed.splitlines()[2:] if line[:1].isdigit()]
        _run(
            "schools",
            "set",
            *urns,
            "--agreement-accepted",
            london_today().isoformat(),
            "--agreement-version",
            AGREEMENT_VERSION,
            env=env,
        )
        _run("sync", env=env)
        _run("status", env=env)
        _check(
            json.loads(
                subprocess.run(
                    [CLI, "status", "--json"], env=env, stdout=subprocess.PIPE, text=True, check=True
                ).stdout
            )
        )
    finally:
        simulator.terminate()
        simulator.wait(timeout=30)


if __name__ == "__main__":
    main()
