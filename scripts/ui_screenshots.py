"""`make screenshots`: the Dagster UI over a demo instance, photographed in headless Chromium.

Builds a throwaway instance the way an operator would (the simulator's 6 schools, one manual, one
withholding attendance; sync, share, check), serves the UI over it, and saves PNGs of the asset
graph, a school partition, a check's history and a partner's share partition under docs/ui/.
Needs Debian's Chromium (`apt-get install -y chromium`). Nothing is left running afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "ui"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google's hosts, which a closed
# network refuses; --no-sandbox because it runs as root in CI containers.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1600,1000",
]


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
    env = {
        **env,
        **settings,
        "MIS_ALLOW_LOOPBACK_HTTP": "1",
        "WONDE_REQUESTS_PER_SECOND": "0",
        "XPORTER_REQUESTS_PER_SECOND": "0",
        "MIS_OPERATOR": "screenshots",
    }
    demo._run("keys", "init", env=env)
    demo._run("schools", "import-gias", settings["GIAS_EXTRACT"], env=env)
    listed = demo._run("schools", "discover", env=env)
    urns = [line.split()[0] for line in listed.splitlines()[2:] if line[:1].isdigit()]
    demo._run(
        "schools",
        "set",
        *urns,
        "--agreement-accepted",
        london_today().isoformat(),
        "--agreement-version",
        demo.AGREEMENT_VERSION,
        env=env,
    )
    demo._run("schools", "set", urns[1], "--mode", "manual", env=env)
    demo._run("schools", "set", urns[2], "--withhold", "attendance", env=env)
    demo._run("sync", env=env)
    demo._run("share", env=env)
    status = json.loads(
        subprocess.run(
            [demo.CLI, "status", "--json"], env=env, stdout=subprocess.PIPE, text=True, check=True
        ).stdout
    )
    return simulator, env, status


def _serve_ui(env: dict, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster_webserver",
            "-w",
            str(ROOT / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": "mutation { setNuxSeen }"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=30).read()


class Browser:
    """Headless Chromium driven over its DevTools protocol (websockets comes with dagster-webserver):
    it can wait for the UI to draw and press its keyboard shortcuts, which `--screenshot` cannot."""

    def __init__(self, profile: Path):
        port = _free_port()
        self.process = subprocess.Popen(
            [
                CHROMIUM,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--remote-debugging-port={port}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        page = self._page(port)
        from websockets.sync.client import connect

        # One connection for the browser's life, closed in close(); websockets would rather see a
        # `with` block and says so.
        warnings.filterwarnings("ignore", message=r"connect\(\) must be used", category=DeprecationWarning)
        self.socket = connect(page["webSocketDebuggerUrl"], max_size=None)
        self.ids = 0
        self.call(
            "Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1, mobile=False
        )

    @staticmethod
    def _page(port: int) -> dict:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2))
                return next(p for p in pages if p["type"] == "page")
            except (OSError, StopIteration):
                time.sleep(0.5)
        raise SystemExit("screenshots: Chromium did not start")

    def call(self, method: str, **params) -> dict:
        self.ids += 1
        self.socket.send(json.dumps({"id": self.ids, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.ids:
                return message.get("result", {})

    def shoot(self, url: str, path: Path, keys: str = "", tab: str = "") -> None:
        self.call("Page.navigate", url=url)
        time.sleep(8)  # the UI fetches and lays out the graph after the page loads
        if tab:  # a tab the URL cannot name (e.g. a check's execution history): click it by its text
            self.call(
                "Runtime.evaluate",
                expression=(
                    "[...document.querySelectorAll('button, a, [role=tab]')]"
                    f".find(e => e.textContent.trim() === {json.dumps(tab)})?.click()"
                ),
            )
            time.sleep(4)
        for key in keys:  # Alt+key: the asset graph's shortcuts (Alt+E expands every group)
            for kind in ("keyDown", "keyUp"):
                self.call(
                    "Input.dispatchKeyEvent",
                    type=kind,
                    modifiers=1,
                    key=key,
                    code=f"Key{key.upper()}",
                    windowsVirtualKeyCode=ord(key.upper()),
                )
            time.sleep(4)
        shot = self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        print(f"screenshots: {path.relative_to(ROOT)}", flush=True)

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=30)


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
        automatic = next(
            s["urn"] for s in status["schools"] if s["sync_mode"] == "automatic" and s["counts"]["pupils"]
        )
        partner = min(p.name for p in (scratch / "home" / "shares").iterdir() if p.name.startswith("la-"))
        base = f"http://127.0.0.1:{port}"
        _dismiss_welcome(base)
        pages = {
            "asset-graph.png": (f"{base}/asset-groups", "e"),
            "school-partition.png": (f"{base}/assets/pupils?view=partitions&partition={automatic}", ""),
            "manual-school-partition.png": (
                f"{base}/assets/pupil_change_set?view=partitions&partition={manual}",
                "",
            ),
            "check-history.png": (
                f"{base}/assets/pupils?view=checks&checkDetail=no_quarantined_records",
                "",
                "Execution history",
            ),
            "retention-check.png": (f"{base}/assets/named_data_purge?view=checks", ""),
            "share-partition.png": (f"{base}/assets/partner_shares?view=partitions&partition={partner}", ""),
            "sync-run-tags.png": (f"{base}/runs", ""),
        }
        browser = Browser(scratch / "chromium")
        try:
            for name, (url, keys, *tab) in pages.items():
                browser.shoot(url, OUT / name, keys, *tab)
        finally:
            browser.close()
    finally:
        ui.terminate()
        ui.wait(timeout=60)
        simulator.terminate()
        simulator.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
