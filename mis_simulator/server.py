"""The simulator's HTTP server: a thin shell over the API objects, routed by path prefix.

Wonde lives under `/v1.0/`, Groupcall XoD under `/api/`, the GIAS extract under `/gias/`. Each
API serves only its own schools (`School.connector`) unless `serve_all_schools_on_both`.
Request bodies are read and handed to APIs that declare `wants_body` (XoD's GetToken is a POST
with a JSON body). `POST /_sim/advance` moves the population forward
(`SimulatorServer.handle_advance`). HTTP/1.1 with keep-alive and an exact Content-Length on every
response, so clients reuse connections the way they would against the real service.
Optionally HTTPS (`tls_dir`), with a private CA the client trusts via REQUESTS_CA_BUNDLE.
Optionally Wonde regions (`regional_schools`): each region gets a listener of its own on another
loopback port, standing in for its regional domain (connectors.md §1.2).
"""

from __future__ import annotations

import json
import signal
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from mis_simulator.advance import ChangeLog
from mis_simulator.advance import advance as advance_population
from mis_simulator.faults import SLOW_SECONDS, Fault, FaultQueue, RandomFaults
from mis_simulator.gias import PATH as GIAS_PATH
from mis_simulator.gias import GiasDownload, write_gias_extract
from mis_simulator.population import HOME_REGION, REGION_DOMAINS, Population, build_population
from mis_simulator.tls import prepare_tls_files, server_context
from mis_simulator.wonde_api import PREFIX as WONDE_PREFIX
from mis_simulator.wonde_api import Page, WondeApi, error
from mis_simulator.xod_api import PREFIX as XOD_PREFIX
from mis_simulator.xod_api import RELYING_PARTY as XOD_RELYING_PARTY
from mis_simulator.xod_api import XodApi, write_xod_secrets

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8710
DEFAULT_SCHOOLS, DEFAULT_PUPILS, DEFAULT_SEED, DEFAULT_TOKEN = 6, 40, 7, "sim-token"
ADVANCE_PATH = "/_sim/advance"  # simulator control, not part of any real API


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int  # 0 when a fault closed the connection without a status line
    host: str = ""  # the Host header: which listener (home or regional) was asked


class _Handler(BaseHTTPRequestHandler):
    # Headers and body go out as separate writes; without TCP_NODELAY a small response waits
    # ~40 ms for the client's delayed ACK (Nagle), which no real server would add.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # one stderr line per request would drown test and CLI output

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        body = self._read_request_body()
        split = urlsplit(self.path)
        owner = self.server.owner
        fault = owner.next_fault(split.path)
        host = self.headers.get("Host") or ""
        if fault is not None and fault.kind == "drop":
            owner.record(self.command, split, 0, host)
            self.close_connection = True
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(SLOW_SECONDS)
        status, headers, body = owner.respond(self.command, self.headers, split, body=body)
        if fault is not None:
            status, headers, body = _apply_fault(fault, status, headers, body)
        owner.record(self.command, split, status, host)
        self._write(status, headers, body, truncate=fault is not None and fault.kind == "truncate")

    def _read_request_body(self) -> bytes:
        """The whole body (Content-Length), read even when no API wants it, so a keep-alive
        connection stays in step."""
        try:
            length = max(int(self.headers.get("Content-Length") or 0), 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length else b""

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
    if fault.kind == "xod_error":
        return (
            200,
            {"Content-Type": "application/json; charset=utf-8"},
            json.dumps(
                {
                    "Message": None,
                    "ExceptionType": None,
                    "ExceptionMessage": fault.message,
                    "InnerException": None,
                }
            ).encode(),
        )
    if fault.kind == "garble":
        return 200, {"Content-Type": "text/html"}, b"<html><body>502 Bad Gateway</body></html>"
    if fault.kind == "status":
        status, headers, body = error(
            fault.status, "Too Many Requests" if fault.status == 429 else "Server Error"
        )
        if fault.status in (429, 503):
            headers["Retry-After"] = str(fault.retry_after)
        if fault.status == 429:
            headers.update({"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0"})
    return status, headers, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: SimulatorServer
    tls_context: ssl.SSLContext | None = None

    def server_activate(self) -> None:
        super().server_activate()
        # A client can reset a pending connection between select() and accept(); Linux then drops
        # it and a blocking accept() would hang the serve loop (and stop()) forever.
        self.socket.settimeout(0.5)

    def get_request(self):
        request, client_address = super().get_request()
        request.settimeout(None)  # connections themselves stay blocking, as before
        return request, client_address

    def finish_request(self, request, client_address) -> None:
        """Runs in the per-connection thread, so the TLS handshake happens here rather than in
        `accept()`, where one stalled client would block every other connection."""
        if self.tls_context is None:
            super().finish_request(request, client_address)
            return
        try:
            secured = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, ConnectionError):
            # Counted so a test can tell one refused handshake from a client retrying in a loop.
            self.owner.count_tls_failure()
            raise
        with secured:
            super().finish_request(secured, client_address)

    def handle_error(self, request, client_address) -> None:
        # A client that rejects our certificate or hangs up mid-response is routine in tests
        # and soak runs; a traceback on stderr per occurrence would bury real problems.
        error_type = sys.exc_info()[0]
        if error_type is not None and issubclass(error_type, (ssl.SSLError, ConnectionError)):
            return
        super().handle_error(request, client_address)


class _HttpsPage(Page):
    def url(self, number: int) -> str:
        # Page builds `http://` links; behind TLS the absolute `next` must say https, or a
        # client checking the origin (ours does) rightly refuses it.
        return "https://" + super().url(number).removeprefix("http://")


class _HttpsWondeApi(WondeApi):
    scheme = "https"

    def paginate(self, host: str, path: str, params, total: int) -> Page:
        return _HttpsPage.of(host, path, params, total)


class SimulatorServer:
    """Serves `population` over loopback HTTP until `stop()`."""

    def __init__(
        self,
        population: Population,
        host: str = DEFAULT_HOST,
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        *,
        fault_rate: float = 0.0,
        seed: int | None = None,
        retry_after_seconds: int = 1,
        tls_dir: Path | None = None,
        serve_all_schools_on_both: bool = False,
        regional_schools: dict[str, str] | None = None,
        inferred_fields: bool = False,
    ):
        """`fault_rate`: share of requests that get a random transient fault (deterministic for
        `seed`, default the population's). `retry_after_seconds`: the Retry-After those 429/503
        faults carry. `tls_dir`: serve HTTPS with a CA and certificate kept in that folder.
        `serve_all_schools_on_both`: Wonde and XoD each serve every school, not only those on
        their connector (tests comparing both connectors on one school). `regional_schools`:
        {Wonde school id: region code ("AUS", "ZAF", "USA")} moves those schools to that region,
        served by a listener of its own (`region_url`); the school object names it as the domain.
        `inferred_fields`: XoD rows also carry the fields no source shows on them (`XodApi`);
        off, only documented shapes are served."""
        self.population = population
        for school_id, region in (regional_schools or {}).items():
            if region not in REGION_DOMAINS:
                raise ValueError(f"unknown Wonde region {region!r}")
            school = population.school_by_id(school_id)
            if school is None:
                raise ValueError(f"no school {school_id} in the population")
            school.region = region
        self.token = token
        self.tls_files = prepare_tls_files(Path(tls_dir)) if tls_dir is not None else None
        self.wonde = (_HttpsWondeApi if self.tls_files else WondeApi)(
            population, token, serve_all_schools=serve_all_schools_on_both
        )
        # Date of birth comes with the Student scope here (real XoD: StudentExtended), so the core
        # record lands for every XoD school; `XodApi(dob_needs_extended_scope=True)` keeps the rule.
        self.xod = XodApi(
            population,
            relying_party=XOD_RELYING_PARTY,
            dob_needs_extended_scope=False,
            serve_all_schools=serve_all_schools_on_both,
            inferred_fields=inferred_fields,
        )
        self.gias = GiasDownload(population)
        # prefix -> API
        self.routes = {
            WONDE_PREFIX: self.wonde,
            XOD_PREFIX: self.xod,
            GIAS_PATH.rsplit("/", 1)[0] + "/": self.gias,
        }
        self.faults = FaultQueue()
        self.random_faults = RandomFaults(
            fault_rate, population.seed if seed is None else seed, retry_after_seconds
        )
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._tls_failures = 0
        self._httpd = self._listener(host, port)
        # One more loopback listener per region other than home: its host:port is the region's domain.
        regions = sorted({school.region for school in population.schools} - {HOME_REGION})
        self._regional = {region: self._listener(host, 0) for region in regions}
        self.wonde.regional_hosts = {
            f"{self.host}:{server.server_address[1]}": region for region, server in self._regional.items()
        }
        self._threads: list[threading.Thread] = []
        self._advance_lock = threading.Lock()

    def _listener(self, host: str, port: int) -> _Server:
        server = _Server((host, port), _Handler)
        server.owner = self
        if self.tls_files:
            server.tls_context = server_context(self.tls_files)
        return server

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> SimulatorServer:
        """Serve in background threads (one per listener). Idempotent: `with
        SimulatorServer(...).start()` must not start a second serve loop, which `stop()` could
        never join."""
        if self._threads:
            return self
        for server in self._listeners:
            thread = threading.Thread(target=server.serve_forever, name="mis-simulator", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        if self._threads:
            for server in self._listeners:
                server.shutdown()
            for thread in self._threads:
                thread.join()
            self._threads = []
        for server in self._listeners:
            server.server_close()

    @property
    def _listeners(self) -> list[_Server]:
        return [self._httpd, *self._regional.values()]

    def __enter__(self) -> SimulatorServer:
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
    def scheme(self) -> str:
        return "https" if self.tls_files else "http"

    @property
    def wonde_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/v1.0"

    def region_url(self, region: str) -> str:
        """The Wonde base (…/v1.0) of `region`'s own listener (`regional_schools`)."""
        return f"{self.scheme}://{self.host}:{self._regional[region].server_address[1]}/v1.0"

    @property
    def tls_handshake_failures(self) -> int:
        """TLS handshakes that failed (e.g. a client that does not trust the CA), over all listeners."""
        with self._log_lock:
            return self._tls_failures

    def count_tls_failure(self) -> None:
        with self._log_lock:
            self._tls_failures += 1

    @property
    def xod_url(self) -> str:
        """XoD's base, as XPORTER_API_URL (`…/api`)."""
        return f"{self.scheme}://{self.host}:{self.port}{XOD_PREFIX.rstrip('/')}"

    @property
    def xod_relying_party(self) -> str:
        return XOD_RELYING_PARTY

    @property
    def gias_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{GIAS_PATH}"

    @property
    def ca_path(self) -> Path | None:
        """The CA bundle a client must trust (REQUESTS_CA_BUNDLE), or None over plain HTTP."""
        return self.tls_files.ca_cert if self.tls_files else None

    # -- test hooks ------------------------------------------------------------------------
    def inject_faults(self, faults) -> None:
        """Queue faults (`429`, `500`, `503`, `"truncate"`, `"garble"`, `"drop"` or `Fault`),
        one per upcoming request, in order."""
        self.faults.extend(faults)

    def invalidate_cache(self) -> None:
        """Call after mutating the population so responses reflect the change (every API)."""
        self.invalidate_all_caches()

    def advance(self, at: datetime | None = None) -> ChangeLog:
        """Advance the served population one step (`mis_simulator.advance.advance`, `at`
        default now UTC) and drop every API's caches, so the next responses show the changes."""
        with self._advance_lock:
            log = advance_population(self.population, at=at)
            self.invalidate_all_caches()
        return log

    def invalidate_all_caches(self) -> None:
        """`invalidate_cache()` on every routed API, where it has one. Datasets are rebuilt too:
        each pupil's are drawn from that pupil's own RNG, so nobody else's change. XoD's
        changedRows snapshots and tokens survive, so the next delta shows exactly the changes."""
        apis = list(self.routes.values()) + [self.wonde, self.xod, self.gias]
        seen: set[int] = set()
        for api in apis:
            if api is None or id(api) in seen:
                continue
            seen.add(id(api))
            invalidate = getattr(api, "invalidate_cache", None)
            if callable(invalidate):
                invalidate()

    def handle_advance(self, method: str, query: str, authorization: str | None):
        """`POST /_sim/advance[?at=<ISO 8601 with zone>]`: one `advance` step, then all caches
        dropped. Needs the API token (Bearer, or Basic like Wonde). Answers the ChangeLog as JSON:
        `{"at": ..., "step": n, "schools": {urn: {"new": [mis_id...], "changed": {mis_id:
        [field...]}, "left": [...], "deleted": [...], "restored": [...], "upn_replaced": [...]}}}`.
        An operator runs it with
        `curl -X POST -H "Authorization: Bearer TOKEN" http://HOST:PORT/_sim/advance`."""
        if not self.wonde.authorised(authorization):
            return error(401, "Unauthenticated.")
        if method != "POST":
            return error(405, "Method Not Allowed")
        at = None
        requested = parse_qs(query).get("at")
        if requested:
            text = requested[-1].replace("Z", "+00:00")
            if text[-6:-5] == " ":  # an unencoded "+00:00" arrives as " 00:00"
                text = text[:-6] + "+" + text[-5:]
            try:
                at = datetime.fromisoformat(text)
            except ValueError:
                return error(422, "`at` is not an ISO 8601 time.")
        try:
            log = self.advance(at)
        except ValueError as exc:  # a naive `at`, or one not after the population clock
            return error(422, str(exc))
        return 200, {"Content-Type": "application/json"}, json.dumps(log.to_json()).encode()

    @property
    def request_log(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._log)

    def clear_request_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    # -- request handling ------------------------------------------------------------------
    def next_fault(self, path: str = "") -> Fault | None:
        """An explicitly queued fault wins; otherwise the seeded fault rate may pick one."""
        queued = self.faults.pop(path)
        return queued if queued is not None else self.random_faults.draw()

    def record(self, method: str, split, status: int, host: str = "") -> None:
        entry = RequestRecord(method, split.path, parse_qs(split.query, keep_blank_values=True), status, host)
        with self._log_lock:
            self._log.append(entry)

    def respond(self, method: str, headers, split, body: bytes = b""):
        if split.path.rstrip("/") == ADVANCE_PATH:
            return self.handle_advance(method, split.query, headers.get("Authorization"))
        for prefix, api in self.routes.items():
            if split.path.startswith(prefix):
                host = headers.get("Host") or f"{self.host}:{self.port}"
                if getattr(api, "wants_body", False):
                    return api.handle(
                        method, host, split.path, split.query, headers.get("Authorization"), body=body
                    )
                return api.handle(method, host, split.path, split.query, headers.get("Authorization"))
        return 404, {"Content-Type": "application/json"}, json.dumps({"error": "Not Found"}).encode()


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    schools: int = DEFAULT_SCHOOLS,
    pupils_per_school: int = DEFAULT_PUPILS,
    seed: int = DEFAULT_SEED,
    token: str = DEFAULT_TOKEN,
    *,
    fault_rate: float = 0.0,
    retry_after_seconds: int = 1,
    tls: bool = False,
    tls_dir: Path | None = None,
    gias_path: Path | None = None,
    xod_secrets_path: Path | None = None,
    bad_records: int = 0,
    inferred_fields: bool = False,
) -> None:
    """Build a population, serve it, print the settings a client needs (`NAME=value` lines,
    WONDE_API_URL and WONDE_API_TOKEN first, then XPORTER_API_URL and XPORTER_RELYING_PARTY),
    block until SIGTERM/SIGINT.

    `tls` serves HTTPS with a CA kept under `tls_dir` (which it then needs);
    `gias_path` also writes the GIAS extract there; `xod_secrets_path` writes the XoD school
    secrets file (`write_xod_secrets`) there and prints XPORTER_SCHOOL_SECRETS. `bad_records`
    pupils per school arrive with a defect (`population.add_bad_records`). `inferred_fields`
    also serves the fields no source documents (`SimulatorServer`)."""
    population = build_population(seed, schools, pupils_per_school, bad_records=bad_records)
    if tls and tls_dir is None:
        raise ValueError("serving HTTPS needs tls_dir, the folder that keeps the CA")
    server = SimulatorServer(
        population,
        host=host,
        port=port,
        token=token,
        fault_rate=fault_rate,
        seed=seed,
        retry_after_seconds=retry_after_seconds,
        tls_dir=tls_dir if tls else None,
        inferred_fields=inferred_fields,
    ).start()
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        print(f"WONDE_API_URL={server.wonde_url}")
        print(f"WONDE_API_TOKEN={token}")
        print(f"XPORTER_API_URL={server.xod_url}")
        print(f"XPORTER_RELYING_PARTY={XOD_RELYING_PARTY}")
        if xod_secrets_path is not None:
            print(f"XPORTER_SCHOOL_SECRETS={write_xod_secrets(population, xod_secrets_path).resolve()}")
        if server.ca_path is not None:
            print(f"REQUESTS_CA_BUNDLE={server.ca_path}")
        if gias_path is not None:
            print(f"GIAS_EXTRACT={write_gias_extract(population, gias_path).resolve()}")
        if server.ca_path is None:  # plain HTTP: a client must be told it may use it on loopback
            print("MIS_ALLOW_LOOPBACK_HTTP=1")
        sys.stdout.flush()
        while not stopping.wait(0.5):  # a timed wait keeps the main thread responsive to signals
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
