"""A real authoritative DNS server on 127.0.0.1 (UDP and TCP) for tests and the sandbox.

It serves zones given in the Hostinger API's rrset shape by a callable that is asked
on every query, so state is live (``ZoneStore.view(delay)`` gives delayed views).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

ZoneView = Callable[[], Mapping[str, Sequence[Mapping[str, Any]]]]
HOSTINGER_NS = ("ns1.dns-parking.com.", "ns2.dns-parking.com.")
"""What Hostinger's nameservers serve as a zone's NS set when its read lists none."""
SERVED_TYPES = {"SOA", "NS", "A", "AAAA", "MX", "TXT", "CNAME", "CAA"}
TXT_CHUNK = 255
DEFAULT_UDP_PAYLOAD = 512


def delegated_view(view: ZoneView, delegations: Mapping[str, Sequence[str]],
                   extra: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> ZoneView:
    """``view`` as public DNS would show it when each zone in ``delegations`` has the NS
    hosts given there (a registrar pointing elsewhere), plus the ``extra`` zones."""

    def public() -> dict[str, Sequence[Mapping[str, Any]]]:
        zones: dict[str, Sequence[Mapping[str, Any]]] = {**view(), **(extra or {})}
        for zone, hosts in delegations.items():
            others = [r for r in zones.get(zone, []) if not (r["name"] == "@" and
                                                             str(r["type"]).upper() == "NS")]
            ns = {"name": "@", "type": "NS", "ttl": 86400,
                  "records": [{"content": host.rstrip(".") + "."} for host in hosts]}
            zones[zone] = [*others, ns]
        return zones

    return public


def _txt_rdata_text(value: str) -> str:
    """A TXT value as zone-file text, split into 255-byte strings."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    raw = value.encode()
    chunks = [raw[i:i + TXT_CHUNK] for i in range(0, len(raw), TXT_CHUNK)] or [b""]
    return " ".join(
        '"' + chunk.decode("utf-8", "replace").replace("\\", "\\\\").replace('"', '\\"') + '"'
        for chunk in chunks
    )


class _Zone:
    """One zone's rrsets as dnspython objects, keyed by absolute name and type."""

    def __init__(self, origin: str, rrsets: Sequence[Mapping[str, Any]]) -> None:
        self.origin = dns.name.from_text(origin)
        self.records: dict[tuple[dns.name.Name, str], dns.rrset.RRset] = {}
        for rrset in rrsets:
            self._add(rrset)
        if (self.origin, "NS") not in self.records:
            self._add({"name": "@", "type": "NS", "ttl": 86400,
                       "records": [{"content": host} for host in HOSTINGER_NS]})
        if (self.origin, "SOA") not in self.records:
            primary = self.records[(self.origin, "NS")][0].target.to_text()
            soa = f"{primary} dns.hostinger.com. 1 3600 600 604800 60"
            self._add({"name": "@", "type": "SOA", "ttl": 3600, "records": [{"content": soa}]})

    def _add(self, rrset: Mapping[str, Any]) -> None:
        rtype = str(rrset["type"]).upper()
        if rtype not in SERVED_TYPES:
            return
        relative = str(rrset["name"])
        name = self.origin if relative in ("@", "") else dns.name.from_text(relative, self.origin)
        contents = [r["content"] for r in rrset["records"] if not r.get("is_disabled")]
        if not contents:
            return
        texts = [_txt_rdata_text(c) if rtype == "TXT" else c for c in contents]
        rdatas = [dns.rdata.from_text(dns.rdataclass.IN, rtype, text, origin=self.origin,
                                      relativize=False) for text in texts]
        self.records[(name, rtype)] = dns.rrset.from_rdata_list(name, int(rrset["ttl"]), rdatas)

    def names(self) -> set[dns.name.Name]:
        return {name for name, _ in self.records}

    def exists(self, qname: dns.name.Name) -> bool:
        """True for owners and empty non-terminals."""
        return any(name == qname or name.is_subdomain(qname) for name in self.names())

    def soa(self) -> dns.rrset.RRset:
        return self.records[(self.origin, "SOA")]


class DnsStub:
    """Authoritative server: ``with DnsStub(view) as server: server.port``."""

    def __init__(self, view: ZoneView, *, host: str = "127.0.0.1", port: int = 0,
                 authoritative: bool = True) -> None:
        self.view = view
        self.authoritative = authoritative  # False: answer like a caching resolver (no AA)
        self.queries: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._parsed: tuple[str, list[_Zone]] = ("", [])
        self._silent = False
        self._udp, self._tcp = self._bind(host, port)
        self.port: int = self._udp.server_address[1]
        self._threads = [threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
                         for server in (self._udp, self._tcp)]

    def _bind(self, host: str,
              port: int) -> tuple[socketserver.ThreadingUDPServer, socketserver.ThreadingTCPServer]:
        last_error: OSError | None = None
        for _ in range(20):  # UDP picks the port; TCP on the same one may be taken
            udp = _UdpServer((host, port), _UdpHandler)
            udp.stub = self
            try:
                tcp = _TcpServer((host, udp.server_address[1]), _TcpHandler)
            except OSError as error:
                udp.server_close()
                last_error = error
                continue
            tcp.stub = self
            return udp, tcp
        raise OSError(f"no free port for both UDP and TCP: {last_error}")

    def __enter__(self) -> DnsStub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        for server in (self._udp, self._tcp):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)

    def set_silent(self, silent: bool) -> None:
        """Drop every query (a server that does not answer)."""
        self._silent = silent

    # -- answering ------------------------------------------------------------------------

    def answer(self, wire: bytes, over_udp: bool) -> bytes | None:
        """The response to one query in wire format, or None to stay silent."""
        if self._silent:
            return None
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        question = query.question[0]
        with self._lock:
            self.queries.append((question.name.to_text().rstrip("."),
                                 dns.rdatatype.to_text(question.rdtype)))
        response = self._resolve(query, question.name, question.rdtype)
        if not over_udp:  # TCP: no payload limit (the response would inherit EDNS's)
            return response.to_wire(max_size=65535)
        payload = max(query.payload if query.edns >= 0 else 0, DEFAULT_UDP_PAYLOAD)
        try:
            return response.to_wire(max_size=payload)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC | (response.flags & dns.flags.AA)
            return truncated.to_wire()

    def _zones(self) -> list[_Zone]:
        """The view as parsed zones; parsing is slow, so it is redone only on a change."""
        snapshot = self.view()
        key = repr(snapshot)
        with self._lock:
            if self._parsed[0] == key:
                return self._parsed[1]
        zones = _zones_of(snapshot)
        with self._lock:
            self._parsed = (key, zones)
        return zones

    def _resolve(self, query: dns.message.Message, qname: dns.name.Name,
                 rdtype: int) -> dns.message.Message:
        response = dns.message.make_response(query)
        zones = self._zones()
        zone = _closest_zone(zones, qname)
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA if self.authoritative else dns.flags.RA
        rtype = dns.rdatatype.to_text(rdtype)
        cname = zone.records.get((qname, "CNAME"))
        if cname is not None and rtype != "CNAME":
            response.answer.append(cname)
            target = cname[0].target
            target_zone = _closest_zone(zones, target)
            if target_zone is not None and (target, rtype) in target_zone.records:
                response.answer.append(target_zone.records[(target, rtype)])
            return response
        found = zone.records.get((qname, rtype)) or _wildcard(zone, qname, rtype)
        if found is not None:
            response.answer.append(found)
        elif not zone.exists(qname):
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(zone.soa())
        else:
            response.authority.append(zone.soa())
        return response


def _zones_of(snapshot: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[_Zone]:
    return [_Zone(origin, rrsets) for origin, rrsets in snapshot.items()]


def _closest_zone(zones: Sequence[_Zone], qname: dns.name.Name) -> _Zone | None:
    inside = [zone for zone in zones if qname.is_subdomain(zone.origin)]
    return max(inside, key=lambda zone: len(zone.origin), default=None)


def _wildcard(zone: _Zone, qname: dns.name.Name, rtype: str) -> dns.rrset.RRset | None:
    """A wildcard match at the parent, when the name itself does not exist."""
    if zone.exists(qname) or qname == zone.origin:
        return None
    wildcard = zone.records.get((dns.name.Name((b"*", *qname.parent().labels)), rtype))
    if wildcard is None:
        return None
    return dns.rrset.from_rdata_list(qname, wildcard.ttl, list(wildcard))


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = False
    stub: DnsStub


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    stub: DnsStub


class _UdpHandler(socketserver.BaseRequestHandler):
    server: _UdpServer

    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.stub.answer(data, over_udp=True)
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TcpHandler(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            while True:
                header = _read_exact(sock, 2)
                if header is None:
                    return
                wire = _read_exact(sock, struct.unpack("!H", header)[0])
                if wire is None:
                    return
                reply = self.server.stub.answer(wire, over_udp=False)
                if reply is None:
                    return
                sock.sendall(struct.pack("!H", len(reply)) + reply)


def _read_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
