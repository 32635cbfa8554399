"""`make screenshots`: the Dagster UI over a demo instance, photographed in headless Chromium.

Builds a throwaway instance the way an operator would (the simulator's 6 schools, one manual, one
withholding attendance; sync, share, check), serves the UI over it, and saves PNGs of the asset
graph, a school partition, a check's history and a partner's share partition under docs/ui/.
Needs Debian's Chromium (`apt-get install -y chromium`). Nothing is left running afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "ui"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google's hosts, which a closed
# network refuses; --no-sandbox because it runs as root in CI containers.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--window-size=1600,1000", "--virtual-time-budget=25000"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _demo_instance(env: dict) -> tuple[subprocess.Popen, dict, dict]:
    """The demo's set-up, plus a manual school and one that withholds attendance; returns the
    simulator, the environment that reaches it, and `status --json`."""
    os.environ.update(env)
    from mis_pipeline import demo
    from mis_pipeline.lib.dates import london_today

    simulator, settings = demo._start_simulator(Path(env["MIS_HOME"]) / "simulator")
    env = {**env, **settings, "MIS_ALLOW_LOOPBACK_HTTP": "1", "WONDE_REQUESTS_PER_SECOND": "0",
           "XPORTER_REQUESTS_PER_SECOND": "0", "MIS_OPERATOR": "screenshots"}
    demo._run("keys", "init", env=env)
    demo._run("schools", "import-gias", settings["GIAS_EXTRACT"], env=env)
    listed = demo._run("schools", "discover", env=env)
    urns = [line.split()[0] for line in listed.splitlines()[2:] if line[:1].isdigit()]
    demo._run("schools", "set", *urns, "--agreement-accepted", london_today().isoformat(),
              "--agreement-version", demo.AGREEMENT_VERSION, env=env)
    demo._run("schools", "set", urns[1], "--mode", "manual", env=env)
    demo._run("schools", "set", urns[2], "--withhold", "attendance", env=env)
    demo._run("sync", env=env)
    demo._run("share", env=env)
    status = json.loads(subprocess.run([demo.CLI, "status", "--json"], env=env, stdout=subprocess.PIPE, text=True,
                                       check=True).stdout)
    return simulator, env, status


def _serve_ui(env: dict, port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "dagster_webserver", "-w", str(ROOT / "workspace.yaml"),
                                "-h", "127.0.0.1", "-p", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
            time.sleep(5)  # the code location loads after the server answers
            return process
        except OSError:
            time.sleep(1)
    process.terminate()
    raise SystemExit("screenshots: the Dagster UI did not start within 2 minutes")


def _dismiss_welcome(base: str) -> None:
    """The UI greets a new instance on localhost with a newsletter dialog over every page; mark it
    seen, as its Skip button does."""
    request = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": "mutation { setNuxSeen }"}).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30).read()


def _shoot(url: str, path: Path, profile: Path) -> None:
    subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={path}", url],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180)
    print(f"screenshots: {path.relative_to(ROOT)}", flush=True)


def main() -> None:
    if not Path(CHROMIUM).exists():
        raise SystemExit("screenshots: Chromium is needed (apt-get install -y chromium)")
    OUT.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="mis-screenshots-"))
    env = {**os.environ, "MIS_HOME": str(scratch / "home"), "DAGSTER_HOME": str(scratch / "home" / "dagster")}
    env.pop("MIS_DATABASE_URL", None)
    env.pop("MIS_MASTER_KEY", None)
    (scratch / "home" / "dagster").mkdir(parents=True)
    (scratch / "home" / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    simulator, env, status = _demo_instance(env)
    port = _free_port()
    ui = _serve_ui(env, port)
    try:
        manual = next(s["urn"] for s in status["schools"] if s["sync_mode"] == "manual")
        automatic = next(s["urn"] for s in status["schools"] if s["sync_mode"] == "automatic" and s["counts"]["pupils"])
        partner = next(iter(sorted(p.name for p in (scratch / "home" / "shares").iterdir() if p.is_dir())))
        base = f"http://127.0.0.1:{port}"
        _dismiss_welcome(base)
        pages = {
            "asset-graph.png": f"{base}/asset-groups",
            "school-partition.png": f"{base}/assets/pupils?view=partitions&partition={automatic}",
            "manual-school-partition.png": f"{base}/assets/pupil_change_set?view=partitions&partition={manual}",
            "check-history.png": f"{base}/assets/pupils?view=checks&checkDetail=no_quarantined_records",
            "share-partition.png": f"{base}/assets/partner_shares?view=partitions&partition={partner}",
            "sync-run-tags.png": f"{base}/runs?tags=%5B%7B%22key%22%3A%22mis%2Ftrigger%22%2C%22value%22%3A%22cli%3Async%22%7D%5D",
        }
        for name, url in pages.items():
            _shoot(url, OUT / name, scratch / "chromium")
    finally:
        ui.terminate()
        ui.wait(timeout=60)
        simulator.terminate()
        simulator.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
