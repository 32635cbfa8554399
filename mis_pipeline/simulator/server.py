"""The simulator's HTTP server: a thin shell over the API objects, routed by path prefix.

Wonde lives under `/v1.0/`; a second API (XoD under `/api/`) can be added to `routes`.
HTTP/1.1 with keep-alive and an exact Content-Length on every response, so clients reuse
connections the way they would against the real service.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from mis_pipeline.simulator.faults import Fault, FaultQueue
from mis_pipeline.simulator.population import Population, build_population
from mis_pipeline.simulator.wonde_api import PREFIX as WONDE_PREFIX
from mis_pipeline.simulator.wonde_api import WondeApi, error

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8710
DEFAULT_SCHOOLS, DEFAULT_PUPILS, DEFAULT_SEED, DEFAULT_TOKEN = 6, 40, 7, "sim-token"


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int  # 0 when a fault closed the connection without a status line


class _Handler(BaseHTTPRequestHandler):
    # Headers and body go out as separate writes; without TCP_NODELAY a small response waits
    # ~40 ms for the client's delayed ACK (Nagle), which no real server would add.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # one stderr line per request would drown test and CLI output

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        self._discard_request_body()
        split = urlsplit(self.path)
        owner = self.server.owner
        fault = owner.faults.pop()
        if fault is not None and fault.kind == "drop":
            owner.record(self.command, split, 0)
            self.close_connection = True
            return
        status, headers, body = owner.respond(self.command, self.headers, split)
        if fault is not None:
            status, headers, body = _apply_fault(fault, status, headers, body)
        owner.record(self.command, split, status)
        self._write(status, headers, body, truncate=fault is not None and fault.kind == "truncate")

    def _discard_request_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _write(self, status: int, headers: dict[str, str], body: bytes, truncate: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if truncate:  # promise the full length, deliver half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        else:
            self.wfile.write(body)


def _apply_fault(fault: Fault, status: int, headers: dict[str, str], body: bytes):
    if fault.kind == "garble":
        return 200, {"Content-Type": "text/html"}, b"<html><body>502 Bad Gateway</body></html>"
    if fault.kind == "status":
        status, headers, body = error(fault.status, "Too Many Requests" if fault.status == 429 else "Server Error")
        if fault.status in (429, 503):
            headers["Retry-After"] = str(fault.retry_after)
        if fault.status == 429:
            headers.update({"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0"})
    return status, headers, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "SimulatorServer"


class SimulatorServer:
    """Serves `population` over loopback HTTP until `stop()`."""

    def __init__(self, population: Population, host: str = DEFAULT_HOST, port: int = 0, token: str = DEFAULT_TOKEN):
        self.population = population
        self.token = token
        self.wonde = WondeApi(population, token)
        self.routes = {WONDE_PREFIX: self.wonde}  # prefix -> API; XoD will add "/api/"
        self.faults = FaultQueue()
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "SimulatorServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="mis-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def wonde_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1.0"

    # -- test hooks ------------------------------------------------------------------------
    def inject_faults(self, faults) -> None:
        """Queue faults (`429`, `500`, `503`, `"truncate"`, `"garble"`, `"drop"` or `Fault`),
        one per upcoming request, in order."""
        self.faults.extend(faults)

    def invalidate_cache(self) -> None:
        """Call after mutating the population so responses reflect the change."""
        self.wonde.invalidate_cache()

    @property
    def request_log(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._log)

    def clear_request_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    # -- request handling ------------------------------------------------------------------
    def record(self, method: str, split, status: int) -> None:
        entry = RequestRecord(method, split.path, parse_qs(split.query, keep_blank_values=True), status)
        with self._log_lock:
            self._log.append(entry)

    def respond(self, method: str, headers, split):
        for prefix, api in self.routes.items():
            if split.path.startswith(prefix):
                host = headers.get("Host") or f"{self.host}:{self.port}"
                return api.handle(method, host, split.path, split.query, headers.get("Authorization"))
        return 404, {"Content-Type": "application/json"}, json.dumps({"error": "Not Found"}).encode()


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, schools: int = DEFAULT_SCHOOLS,
          pupils_per_school: int = DEFAULT_PUPILS, seed: int = DEFAULT_SEED, token: str = DEFAULT_TOKEN) -> None:
    """Build a population, serve it, print the settings a client needs, block until SIGTERM/SIGINT."""
    population = build_population(seed, schools, pupils_per_school)
    server = SimulatorServer(population, host=host, port=port, token=token).start()
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        print(f"WONDE_API_URL={server.wonde_url}")
        print(f"WONDE_API_TOKEN={token}")
        sys.stdout.flush()
        while not stopping.wait(0.5):  # a timed wait keeps the main thread responsive to signals
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
