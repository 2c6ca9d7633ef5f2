"""A stand-in of Hostinger's DNS API: a real HTTP(S) server on 127.0.0.1.

It models what the plugin relies on (see ``docs/reference.rst``): rrsets keyed by
(name, type), ``overwrite`` defaulting to true, append + TTL update with false,
DNS:4008 on a duplicate append or a real conflict, TXT values returned quoted, DELETE
by (name, type) only, structured errors, 401 on a bad token, every "not a zone"
variant, and injectable faults. Switchable per test on the :class:`ZoneStore`:
``read_lag`` (GET shows writes N seconds late, independently of DNS), ``quoting``
("keep" an already-quoted value, or "escape" and re-wrap it), rrsets without a TTL
(``"ttl": None``) and disabled records (``"is_disabled": True``). Its state is also
served as DNS by ``sandbox.dns_server`` through :meth:`ZoneStore.view`, each view on
its own delay.
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

ZONES_PREFIX = "/api/dns/v1/zones/"
PORTFOLIO_PATH = "/api/domains/v1/portfolio"
CONFLICT_MESSAGE = (
    "[DNS:4008] DNS resource record is not valid or conflicts with another resource record"
)

SETUP_AGE = 1e6  # zones added by a test are visible at once, at every delay
NEW_RRSET_TTL = 14400  # what a PUT without "ttl" gives a new rrset
DNS_TTL = 14400  # what DNS serves for an rrset the API holds without a TTL
# (name, type) -> {"ttl": int | None, "records": [str], "disabled": [str]}
Zone = dict[tuple[str, str], dict[str, Any]]


def quote_txt(value: str) -> str:
    """TXT contents as the API returns them: wrapped in one pair of double quotes."""
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        return value
    return f'"{value}"'


def escape_txt(value: str) -> str:
    """TXT contents as an API that escapes its input stores them: ``"x"`` becomes ``"\\"x\\""``."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stored_txt(value: str, quoting: str) -> str:
    """A TXT value sent in a write, as the API stores it under ``quoting``."""
    return escape_txt(value) if quoting == "escape" else quote_txt(value)


def bare_txt(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


@dataclass
class Fault:
    """One injected misbehaviour, matched by method and a path substring."""

    method: str = "*"
    path: str = ""
    times: int = 1
    status: int | None = None
    body: str | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    # A status fault refuses the request (nothing is applied); with apply_first the
    # request is applied and then answered with the status (or dropped: a lost answer).
    apply_first: bool = False
    echo_token: bool = False  # put the Authorization header into the error body

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and self.method in ("*", method) and self.path in path


@dataclass
class Call:
    method: str
    path: str
    body: Any
    status: int
    headers: dict[str, str]
    time: float


class ZoneStore:
    """Zones with history, so reads can lag writes and DNS can serve older states."""

    def __init__(self, zones: Mapping[str, Iterable[Mapping[str, Any]]] = ()) -> None:
        self.lock = threading.RLock()
        self.read_lag = 0.0  # seconds the API's GET lags writes (DNS views have their own)
        self.quoting = "keep"  # "keep" or "escape": what a write does to a quoted TXT value
        self.ttl_format = "int"  # "int", "str" or "float": how the API's GET shows TTLs
        initial = {name.lower(): _zone_from_rrsets(rrsets) for name, rrsets in dict(zones).items()}
        self._history: list[tuple[float, dict[str, Zone]]] = [(0.0, initial)]

    # -- state ----------------------------------------------------------------------

    def reset(self, zones: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        """Start over from ``zones``, visible at once at every delay."""
        with self.lock:
            state = {name.lower(): _zone_from_rrsets(rrsets) for name, rrsets in zones.items()}
            self._history = [(time.monotonic() - SETUP_AGE, state)]
            self.read_lag = 0.0
            self.quoting = "keep"
            self.ttl_format = "int"

    def latest(self) -> dict[str, Zone]:
        """The server's own truth, including writes not yet visible to readers."""
        with self.lock:
            return self._history[-1][1]

    def visible(self, delay: float = 0.0) -> dict[str, Zone]:
        """State as seen ``delay`` seconds after the fact (a nameserver's delay)."""
        cutoff = time.monotonic() - delay
        with self.lock:
            for stamp, state in reversed(self._history):
                if stamp <= cutoff:
                    return state
            return self._history[0][1]

    def history(self) -> list[dict[str, Zone]]:
        """Every state the zones went through, oldest first (the last 200 writes)."""
        with self.lock:
            return [state for _, state in self._history]

    def api_visible(self) -> dict[str, Zone]:
        """State as the API's GET shows it: ``read_lag`` seconds late."""
        return self.visible(self.read_lag)

    def commit(self, state: dict[str, Zone]) -> None:
        with self.lock:
            self._history.append((time.monotonic(), state))
            del self._history[:-200]

    def add_zone(self, zone: str, rrsets: Iterable[Mapping[str, Any]]) -> None:
        with self.lock:
            state = copy.deepcopy(self.latest())
            state[zone.lower()] = _zone_from_rrsets(rrsets)
            self._history.append((time.monotonic() - SETUP_AGE, state))

    # -- views ----------------------------------------------------------------------

    def rrsets(self, zone: str, delay: float = 0.0) -> list[dict[str, Any]]:
        """The zone in the API's GET shape."""
        return rrsets_of(self.visible(delay).get(zone.lower(), {}))

    def view(self, delay: float = 0.0) -> Any:
        """A callable for ``sandbox.dns_server.DnsStub``: all zones as of ``delay`` seconds ago."""
        return lambda: {name: rrsets_of(z, dns=True) for name, z in self.visible(delay).items()}

    def dump(self, zone: str) -> str:
        """Canonical bytes of a zone, to prove it is unchanged."""
        return json.dumps(rrsets_of(self.latest().get(zone.lower(), {})), sort_keys=True)

    def txt(self, zone: str, name: str) -> list[str]:
        """Bare TXT values at a zone-relative name (server truth)."""
        rrset = self.latest().get(zone.lower(), {}).get((name.lower(), "TXT"))
        return [bare_txt(value) for value in rrset["records"]] if rrset else []

    def zone_of(self, name: str) -> str | None:
        """Longest zone containing ``name``."""
        labels = name.lower().rstrip(".").split(".")
        zones = self.latest()
        for i in range(len(labels)):
            if ".".join(labels[i:]) in zones:
                return ".".join(labels[i:])
        return None


def _zone_from_rrsets(rrsets: Iterable[Mapping[str, Any]]) -> Zone:
    zone: Zone = {}
    for rrset in rrsets:
        rtype = str(rrset["type"]).upper()
        items = [r if isinstance(r, Mapping) else {"content": r} for r in rrset["records"]]
        records = [quote_txt(r["content"]) if rtype == "TXT" else r["content"] for r in items]
        disabled = [c for c, r in zip(records, items, strict=True) if r.get("is_disabled")]
        ttl = rrset.get("ttl", 14400)  # "ttl": None makes an rrset the API shows without one
        zone[(str(rrset["name"]).lower(), rtype)] = {
            "ttl": None if ttl is None else int(ttl), "records": records, "disabled": disabled}
    return zone


def rrsets_of(zone: Zone, dns: bool = False) -> list[dict[str, Any]]:
    """The zone as the API's GET shows it (no "ttl" key when it has none), or for DNS."""
    shown = []
    for (name, rtype), data in sorted(zone.items()):
        rrset: dict[str, Any] = {"name": name, "type": rtype}
        if data["ttl"] is not None or dns:
            rrset["ttl"] = DNS_TTL if data["ttl"] is None else data["ttl"]
        disabled = data.get("disabled", [])
        rrset["records"] = [{"content": c, "is_disabled": c in disabled}
                            for c in data["records"]]
        shown.append(rrset)
    return shown


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or {}


class HostingerApi:
    """The API's behaviour over a :class:`ZoneStore`, independent of HTTP."""

    def __init__(self, store: ZoneStore, tokens: Iterable[str], not_zone: str = "mixed"):
        self.store = store
        self.tokens = set(tokens)
        self.not_zone = not_zone  # "mixed" | "empty" | "404" | "422"
        self.portfolio: list[str] = []

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if path == PORTFOLIO_PATH and method == "GET":
            return 200, [{"id": i, "domain": d, "type": "domain", "status": "active"}
                         for i, d in enumerate(self.portfolio or sorted(self.store.latest()))]
        if not path.startswith(ZONES_PREFIX):
            raise ApiError(404, "Not found")
        rest = unquote(path[len(ZONES_PREFIX):]).lower()
        zone, _, action = rest.partition("/")
        if method == "GET" and not action:
            return self._get(zone)
        if method == "PUT" and not action:
            return self._update(zone, body, apply=True)
        if method == "POST" and action == "validate":
            return self._update(zone, body, apply=False)
        if method == "DELETE" and not action:
            return self._delete(zone, body)
        raise ApiError(405, "Method not allowed")

    def _get(self, zone: str) -> tuple[int, Any]:
        state = self.store.api_visible()
        if zone in state:
            shown = rrsets_of(state[zone])
            as_type = {"str": str, "float": float}.get(self.store.ttl_format)
            for rrset in shown if as_type else ():
                if "ttl" in rrset:
                    rrset["ttl"] = as_type(rrset["ttl"])  # type: ignore[misc]
            return 200, shown
        return self._not_a_zone(zone)

    def _not_a_zone(self, zone: str) -> tuple[int, Any]:
        mode = self.not_zone
        if mode == "mixed":
            mode = "empty" if self.store.zone_of(zone) else "422"
        if mode == "empty":
            return 200, []
        if mode == "404":
            raise ApiError(404, "Not Found")
        raise ApiError(422, "Domain name is not valid", {"domain": ["Domain name is not valid"]})

    def _require_zone(self, zone: str) -> Zone:
        state = self.store.latest()
        if zone not in state:
            raise ApiError(422, "Domain name is not valid",
                           {"domain": ["Domain name is not valid"]})
        return state[zone]

    def _update(self, zone: str, body: Any, apply: bool) -> tuple[int, Any]:
        with self.store.lock:
            current = self._require_zone(zone)
            overwrite, rrsets = _validate_update(body, self.store.quoting)
            new = copy.deepcopy(current)
            for rrset in rrsets:
                key = (rrset["name"], rrset["type"])
                self._check_conflicts(zone, key, rrset, new, overwrite)
                old = new.get(key)
                ttl = rrset["ttl"] or (old["ttl"] if old else NEW_RRSET_TTL)
                if overwrite or old is None:  # a write cannot make a record disabled
                    new[key] = {"ttl": ttl, "records": rrset["records"], "disabled": []}
                else:
                    new[key] = {"ttl": ttl, "records": old["records"] + rrset["records"],
                                "disabled": old.get("disabled", [])}
            if apply:
                state = dict(self.store.latest())
                state[zone] = new
                self.store.commit(state)
        return 200, {"message": "Request accepted"}

    def _check_conflicts(self, zone: str, key: tuple[str, str], rrset: dict[str, Any],
                         new: Zone, overwrite: bool) -> None:
        name, rtype = key
        fqdn = zone if name == "@" else f"{name}.{zone}"
        owner = self.store.zone_of(fqdn)
        if owner != zone:
            raise ApiError(422, CONFLICT_MESSAGE, {"zone.0.name": [CONFLICT_MESSAGE]})
        if rtype != "CNAME" and (name, "CNAME") in new:
            raise ApiError(422, CONFLICT_MESSAGE, {"zone.0.name": [CONFLICT_MESSAGE]})
        if not overwrite and key in new:
            existing = {bare_txt(c) for c in new[key]["records"]}
            if existing & {bare_txt(c) for c in rrset["records"]}:
                raise ApiError(422, CONFLICT_MESSAGE, {"zone.0.records": [CONFLICT_MESSAGE]})

    def _delete(self, zone: str, body: Any) -> tuple[int, Any]:
        with self.store.lock:
            current = self._require_zone(zone)
            filters = body.get("filters") if isinstance(body, dict) else None
            if not isinstance(filters, list) or not filters:
                raise ApiError(422, "The filters field is required.",
                               {"filters": ["The filters field is required."]})
            new = copy.deepcopy(current)
            for item in filters:
                if not isinstance(item, dict) or "name" not in item or "type" not in item:
                    raise ApiError(422, "Invalid filter", {"filters": ["Invalid filter"]})
                new.pop((str(item["name"]).lower(), str(item["type"]).upper()), None)
            state = dict(self.store.latest())
            state[zone] = new
            self.store.commit(state)
        return 200, {"message": "Request accepted"}


def _validate_update(body: Any, quoting: str) -> tuple[bool, list[dict[str, Any]]]:
    if not isinstance(body, dict) or not isinstance(body.get("zone"), list) or not body["zone"]:
        raise ApiError(422, "The zone field is required.",
                       {"zone": ["The zone field is required."]})
    overwrite = body.get("overwrite", True)
    rrsets = []
    for index, rrset in enumerate(body["zone"]):
        problems = _rrset_problems(rrset)
        if problems:
            raise ApiError(422, problems[0], {f"zone.{index}": problems})
        rtype = rrset["type"].upper()
        records = [r["content"] for r in rrset["records"]]
        if rtype == "TXT":
            records = [stored_txt(r, quoting) for r in records]
        rrsets.append({"name": rrset["name"].lower(), "type": rtype, "ttl": rrset.get("ttl"),
                       "records": records})
    return bool(overwrite), rrsets


def _rrset_problems(rrset: Any) -> list[str]:
    if not isinstance(rrset, dict):
        return ["The rrset must be an object."]
    problems = []
    if not isinstance(rrset.get("name"), str) or not rrset["name"]:
        problems.append("The name field is required.")
    if not isinstance(rrset.get("type"), str):
        problems.append("The type field is required.")
    if "ttl" in rrset and (not isinstance(rrset["ttl"], int) or rrset["ttl"] <= 0):
        problems.append("The ttl field must be a positive integer.")  # optional, never 0
    records = rrset.get("records")
    if (not isinstance(records, list) or not records
            or not all(isinstance(r, dict) and isinstance(r.get("content"), str) for r in records)):
        problems.append("The records field must be a non-empty list of {content}.")
    return problems


class _Handler(BaseHTTPRequestHandler):
    server: _StubServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, as from a real server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self, method: str) -> None:
        stub = self.server.stub
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "<invalid json>"
        headers = {k: v for k, v in self.headers.items()}
        fault = stub.take_fault(method, self.path)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.drop and not fault.apply_first:
            stub.record(method, self.path, body, 0, headers)
            self._drop()
            return
        if fault and fault.status is not None and not fault.apply_first:
            status, payload, content_type, extra = _fault_answer(fault, headers)  # refused
        else:
            status, payload, content_type, extra = self._answer(method, body, headers)
        if fault and fault.apply_first and fault.drop:
            stub.record(method, self.path, body, 0, headers)
            self._drop()
            return
        if fault and fault.status is not None and fault.apply_first:
            status, payload, content_type, extra = _fault_answer(fault, headers)
        stub.record(method, self.path, body, status, headers)
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _answer(self, method: str, body: Any,
                headers: dict[str, str]) -> tuple[int, Any, str, dict[str, str]]:
        stub = self.server.stub
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in stub.api.tokens:
            return 401, {"message": "Unauthenticated.", "correlation_id": str(uuid.uuid4())}, \
                "application/json", {}
        try:
            status, payload = stub.api.handle(method, self.path, body)
        except ApiError as error:
            payload = {"message": error.message, "errors": error.errors,
                       "correlation_id": str(uuid.uuid4())}
            return error.status, payload, "application/json", {}
        return status, payload, "application/json", {}

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _fault_answer(fault: Fault, headers: dict[str, str]) -> tuple[int, Any, str, dict[str, str]]:
    """The status, body, content type and headers a status fault answers with."""
    payload: Any = fault.body if fault.body is not None else {
        "message": "Injected failure", "correlation_id": str(uuid.uuid4())}
    if fault.echo_token:
        payload = {"message": f"Bad header {headers.get('Authorization')}",
                   "correlation_id": "echo-1"}
    return fault.status or 500, payload, fault.content_type, fault.headers


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True
    stub: HostingerStub

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (read timeout, kill -9) is expected here, not an error."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class HostingerStub:
    """The HTTP server: ``with HostingerStub(store, tokens) as stub: stub.url``."""

    def __init__(self, store: ZoneStore, tokens: Iterable[str], *, not_zone: str = "mixed",
                 tls: tuple[str, str] | None = None) -> None:
        self.store = store
        self.api = HostingerApi(store, tokens, not_zone)
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = _StubServer(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.port = self._server.server_address[1]
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self) -> HostingerStub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def record(self, method: str, path: str, body: Any, status: int,
               headers: dict[str, str]) -> None:
        with self._lock:
            self.calls.append(Call(method, path, body, status, headers, time.monotonic()))

    def calls_to(self, zone: str) -> list[Call]:
        """Requests to one zone's URL (any method), to count them."""
        with self._lock:
            return [c for c in self.calls
                    if unquote(c.path.removeprefix(ZONES_PREFIX)).lower() == zone.lower()]

    def calls_summary(self) -> list[str]:
        """Calls as "METHOD zone" strings, for exact-count assertions."""
        with self._lock:
            return [f"{c.method} {unquote(c.path.removeprefix(ZONES_PREFIX))}" for c in self.calls]

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()
