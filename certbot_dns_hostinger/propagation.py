"""Wait until every authoritative nameserver serves the expected TXT values.

Knows nothing about certbot or Hostinger's API. Queries go straight to each
nameserver address (recursion off, UDP with TCP fallback on truncation), so no
recursive resolver's cached NXDOMAIN can hide or fake a record.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

logger = logging.getLogger(__name__)

DNS_PORT = 53
QUERY_TIMEOUT = 2.0
"""Seconds one query to one address may take before the next address is tried."""
POLL_INTERVAL = 0.5
"""Shortest time between the starts of two polling rounds (used for the first 2 minutes)."""
MAX_POLL_INTERVAL = 2.0
"""Longest time between two polling rounds (reached after 8 minutes of waiting)."""
POLL_BACKOFF = 1 / 240
"""The interval is this fraction of the time waited so far, within the two bounds above."""
MIN_QUERY_TIMEOUT = 0.2
EDNS_PAYLOAD = 1232

Clock = Callable[[], float]
Sleeper = Callable[[float], None]


class PropagationError(Exception):
    """The records did not appear in time, or the nameservers could not be found."""


@dataclass(frozen=True)
class Nameserver:
    """A nameserver to poll: its name for messages, its addresses and port."""

    name: str
    addresses: tuple[str, ...]
    port: int = DNS_PORT

    @property
    def label(self) -> str:
        """The name as a user would write it, with the port when it is not 53."""
        if self.port == DNS_PORT:
            return self.name
        host = f"[{self.name}]" if ":" in self.name else self.name
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class TxtAnswer:
    """What one nameserver said about the TXT records at one name."""

    values: frozenset[str]
    cname: str | None
    rcode: str
    authoritative: bool


@dataclass(frozen=True)
class Check:
    """Servers that must all serve every expected value (fqdn -> values)."""

    servers: tuple[Nameserver, ...]
    expected: Mapping[str, frozenset[str]]


# -- which servers ------------------------------------------------------------------------------


def parse_nameservers(spec: str) -> list[Nameserver]:
    """Parse ``HOST[:PORT],...`` (IPv6 as ``[addr]:port`` or bare) into nameservers.

    Host names are resolved to all their IPv4 and IPv6 addresses by the system's
    resolver (so /etc/hosts applies).

    :raises ValueError: naming the item that is not usable.
    """
    items = [item.strip() for item in spec.split(",") if item.strip()]
    if not items:
        raise ValueError("no nameserver given")
    servers = []
    for item in items:
        host, port = _split_host_port(item)
        servers.append(Nameserver(host, _addresses_of_host(host), port))
    return servers


def _split_host_port(item: str) -> tuple[str, int]:
    port_text: str | None = None
    if item.startswith("["):
        host, closed, rest = item[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError(f"cannot parse nameserver {item!r}")
        port_text = rest[1:] if rest else None
    elif item.count(":") == 1:
        host, port_text = item.split(":")
    else:
        host = item
    if not host:
        raise ValueError(f"nameserver {item!r} has no host")
    if port_text is None:
        return host, DNS_PORT
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid port in nameserver {item!r}")
    return host, int(port_text)


def _addresses_of_host(host: str) -> tuple[str, ...]:
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError as error:
        raise ValueError(f"cannot resolve nameserver {host!r}: {error}") from None
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def find_nameservers(zone: str, *, timeout: float = QUERY_TIMEOUT) -> list[Nameserver]:
    """The zone's NS hosts with all their addresses, through the system's resolver."""
    resolver = dns.resolver.Resolver()
    try:
        answer = resolver.resolve(zone, "NS", lifetime=timeout)
    except dns.exception.DNSException as error:
        raise PropagationError(
            f"Cannot find the nameservers of zone {zone}: {error or type(error).__name__}. "
            "Name the servers to poll explicitly, or turn the propagation check off."
        ) from None
    hosts = sorted({str(rdata.target).rstrip(".").lower() for rdata in answer})
    servers = [Nameserver(host, _resolve_addresses(resolver, host, timeout)) for host in hosts]
    reachable = [server for server in servers if server.addresses]
    if not reachable:
        raise PropagationError(f"No address found for any nameserver of zone {zone}: "
                               f"{', '.join(hosts)}.")
    return reachable


def _resolve_addresses(resolver: dns.resolver.Resolver, host: str,
                       timeout: float) -> tuple[str, ...]:
    addresses: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = resolver.resolve(host, rdtype, lifetime=timeout)
        except dns.exception.DNSException as error:
            logger.debug("No %s address for nameserver %s: %s", rdtype, host, error)
            continue
        addresses.extend(rdata.address for rdata in answer)
    return tuple(addresses)


# -- one question -------------------------------------------------------------------------------


def query_txt(address: str, port: int, fqdn: str, *, timeout: float) -> TxtAnswer:
    """Ask one server, without recursion, for the TXT records at ``fqdn``.

    :raises dns.exception.DNSException: on a timeout or a malformed answer.
    :raises OSError: when the address cannot be reached.
    """
    response = _ask(address, port, fqdn, dns.rdatatype.TXT, timeout=timeout, recursive=False)
    qname = dns.name.from_text(fqdn)
    values: set[str] = set()
    cname = None
    for rrset in response.answer:
        if rrset.name != qname:
            continue
        if rrset.rdtype == dns.rdatatype.TXT:
            values.update(b"".join(rdata.strings).decode("utf-8", "replace") for rdata in rrset)
        elif rrset.rdtype == dns.rdatatype.CNAME:
            cname = str(rrset[0].target).rstrip(".")
    return TxtAnswer(frozenset(values), cname, dns.rcode.to_text(response.rcode()),
                     bool(response.flags & dns.flags.AA))


def lookup_cname(fqdn: str, nameservers: Sequence[Nameserver] | None, *,
                 timeout: float) -> str | None:
    """The CNAME target at ``fqdn`` (no trailing dot), or None when there is none.

    Asks the given servers (first one that answers wins), else the system's resolver.
    """
    if not nameservers:
        try:
            answer = dns.resolver.Resolver().resolve(fqdn, "CNAME", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return str(answer[0].target).rstrip(".")
    qname = dns.name.from_text(fqdn)
    for server in nameservers:
        for address in server.addresses:
            try:
                response = _ask(address, server.port, fqdn, dns.rdatatype.CNAME,
                                timeout=timeout, recursive=True)
            except (dns.exception.DNSException, OSError) as error:
                logger.debug("CNAME query to %s failed: %s", address, error)
                continue
            if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                logger.debug("CNAME query to %s answered %s", address,
                             dns.rcode.to_text(response.rcode()))
                continue  # REFUSED, SERVFAIL: this server cannot tell; ask the next
            for rrset in response.answer:
                if rrset.name == qname and rrset.rdtype == dns.rdatatype.CNAME:
                    return str(rrset[0].target).rstrip(".")
            return None
    raise PropagationError(f"No nameserver answered the CNAME query for {fqdn}.")


def _ask(address: str, port: int, fqdn: str, rdtype: dns.rdatatype.RdataType, *,
         timeout: float, recursive: bool) -> dns.message.Message:
    query = dns.message.make_query(fqdn, rdtype, use_edns=0, payload=EDNS_PAYLOAD)
    if not recursive:
        query.flags &= ~dns.flags.RD
    response, _ = dns.query.udp_with_fallback(query, address, timeout=timeout, port=port)
    return response


# -- waiting ------------------------------------------------------------------------------------


def wait_for_records(
    checks: Sequence[Check],
    *,
    timeout: float,
    interval: float = POLL_INTERVAL,
    max_interval: float = MAX_POLL_INTERVAL,
    query_timeout: float = QUERY_TIMEOUT,
    clock: Clock = time.monotonic,
    sleep: Sleeper = time.sleep,
) -> float:
    """Poll until every server of every check serves every expected value.

    Checks at once, then starts a round every ``interval`` seconds at first, later every
    ``POLL_BACKOFF`` of the time waited so far, at most ``max_interval`` (counted from
    the start of the previous round); the last round is at the deadline. A (server, name)
    pair that has been satisfied is not asked again. Only answers with the authoritative
    (AA) flag count. An unanswered query in the last round may overrun the deadline by
    ``MIN_QUERY_TIMEOUT``.

    :returns: seconds waited.
    :raises PropagationError: at ``timeout``, naming what each server still lacked.
    """
    start = clock()
    deadline = start + timeout
    pending = _pending_pairs(checks)
    seen: dict[tuple[Nameserver, str], str] = {}
    preferred: dict[Nameserver, str] = {}
    rounds = 0
    while True:
        rounds += 1
        round_start = clock()
        for (server, fqdn), values in list(pending.items()):
            ok, observation = _observe(server, fqdn, values, preferred,
                                       _query_budget(query_timeout, deadline, clock))
            if ok:
                del pending[(server, fqdn)]
            else:
                seen[(server, fqdn)] = observation
        logger.debug("Propagation round %d: %d (server, name) pair(s) still missing",
                     rounds, len(pending))
        if not pending:
            return clock() - start
        now = clock()
        if now >= deadline:
            raise PropagationError(_timeout_message(pending, seen, timeout))
        next_round = round_start + _interval(round_start - start, interval, max_interval)
        if next_round > now:  # rounds start on a steady cadence, however long one took
            sleep(min(next_round, deadline) - now)


def _interval(waited: float, interval: float, max_interval: float) -> float:
    """Brisk rounds while records usually appear, sparser ones as the wait drags on."""
    return min(max(waited * POLL_BACKOFF, interval), max_interval)


def _pending_pairs(checks: Sequence[Check]) -> dict[tuple[Nameserver, str], frozenset[str]]:
    pending: dict[tuple[Nameserver, str], frozenset[str]] = {}
    for check in checks:
        for server in check.servers:
            for fqdn, values in check.expected.items():
                key = (server, fqdn.rstrip(".").lower())
                pending[key] = pending.get(key, frozenset()) | values
    return pending


def _query_budget(query_timeout: float, deadline: float, clock: Clock) -> float:
    return min(query_timeout, max(MIN_QUERY_TIMEOUT, deadline - clock()))


def _observe(server: Nameserver, fqdn: str, expected: frozenset[str],
             preferred: dict[Nameserver, str], timeout: float) -> tuple[bool, str]:
    """Ask the server's addresses (last responsive one first) until one serves everything."""
    addresses = sorted(server.addresses, key=lambda address: address != preferred.get(server))
    observation = f"no answer from {', '.join(server.addresses)}"
    for address in addresses:
        try:
            answer = query_txt(address, server.port, fqdn, timeout=timeout)
        except (dns.exception.DNSException, OSError) as error:
            logger.debug("No answer from %s port %d for %s: %s", address, server.port, fqdn,
                         error or type(error).__name__)
            continue
        preferred[server] = address
        if answer.authoritative and expected <= answer.values:
            return True, "ok"
        observation = _describe_answer(answer, expected)
    return False, observation


def _describe_answer(answer: TxtAnswer, expected: frozenset[str]) -> str:
    if answer.cname:
        return (f"answers with a CNAME to {answer.cname}: a CNAME or wildcard shadows the "
                "challenge name")
    if answer.rcode != "NOERROR":
        return f"answers {answer.rcode}"
    if not answer.authoritative:
        return "answers without authority (AA flag unset): not a nameserver of this zone"
    if not answer.values:
        return "has no TXT record there yet"
    missing = len(expected - answer.values)
    shown = ", ".join(sorted(answer.values))
    return f"serves {shown} but {missing} expected value(s) are missing"


def _timeout_message(pending: Mapping[tuple[Nameserver, str], frozenset[str]],
                     seen: Mapping[tuple[Nameserver, str], str], timeout: float) -> str:
    details = "; ".join(
        f"{server.label} for {fqdn}: {seen.get((server, fqdn), 'not asked')}"
        for server, fqdn in sorted(pending, key=lambda key: (key[0].label, key[1]))
    )
    return (
        f"The TXT records were not served by every authoritative nameserver within "
        f"{timeout:g} seconds. Still missing: {details}."
    )
