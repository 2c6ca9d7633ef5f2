"""DNS facts about names: which zone serves them, a zone's nameservers, CNAMEs.

Knows nothing about certbot or Hostinger's API. Questions go, with recursion desired,
to the servers given (``--dns-hostinger-nameservers``) or else to the system's resolver
(``/etc/resolv.conf``); every query has a timeout, and a server that refuses or fails
is skipped for the next one.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Sequence
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
EDNS_PAYLOAD = 1232
ANSWERED = (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)
"""Response codes that say something about the name; others mean "ask the next server"."""


class LookupFailed(Exception):
    """No server gave a usable answer, or a zone's nameservers have no address."""


class NoAnswer(LookupFailed):
    """Not one server responded at all (timeouts, unreachable): DNS is not usable here."""


@dataclass(frozen=True)
class Nameserver:
    """A nameserver: its name for messages, its addresses and port."""

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
class ZoneAnswer:
    """What DNS says about a name: the zone serving it, or the CNAME it points to."""

    zone: str | None
    cname: str | None = None


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


def system_servers() -> list[Nameserver]:
    """The system resolver's servers (``/etc/resolv.conf``); empty when there are none."""
    try:
        resolver = dns.resolver.Resolver()
    except (dns.exception.DNSException, OSError) as error:
        logger.debug("No system resolver: %s", error or type(error).__name__)
        return []
    addresses = [str(address) for address in resolver.nameservers if isinstance(address, str)]
    return [Nameserver(address, (address,), resolver.port) for address in addresses]


def find_nameservers(zone: str, *, timeout: float) -> list[Nameserver]:
    """The zone's NS hosts with all their addresses, through the system's resolver."""
    try:
        resolver = dns.resolver.Resolver()  # NoResolverConfiguration without resolv.conf
        answer = resolver.resolve(zone, "NS", lifetime=timeout)
    except (dns.exception.DNSException, OSError) as error:
        raise LookupFailed(
            f"Cannot find the nameservers of zone {zone}: {error or type(error).__name__}. "
            "Name the servers to poll explicitly, or turn the propagation check off."
        ) from None
    hosts = sorted({str(rdata.target).rstrip(".").lower() for rdata in answer})
    servers = [Nameserver(host, _resolve_addresses(resolver, host, timeout)) for host in hosts]
    reachable = [server for server in servers if server.addresses]
    if not reachable:
        raise LookupFailed(f"No address found for any nameserver of zone {zone}: "
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


# -- questions ----------------------------------------------------------------------------------


def zone_of(fqdn: str, servers: Sequence[Nameserver], *, timeout: float) -> ZoneAnswer:
    """The zone that serves ``fqdn``, from the SOA in the answer or authority section.

    A CNAME at ``fqdn`` is returned instead (the zone of its target is asked next).

    :raises LookupFailed: when no server answers NOERROR or NXDOMAIN.
    """
    response = ask_servers(servers, fqdn, dns.rdatatype.SOA, timeout=timeout)
    qname = dns.name.from_text(fqdn)
    for rrset in response.answer:
        if rrset.name == qname and rrset.rdtype == dns.rdatatype.CNAME:
            return ZoneAnswer(None, _text(rrset[0].target))
        if rrset.name == qname and rrset.rdtype == dns.rdatatype.SOA:
            return ZoneAnswer(_text(qname))
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA and qname.is_subdomain(rrset.name):
            return ZoneAnswer(_text(rrset.name))
    return ZoneAnswer(None)


def ns_hosts(zone: str, servers: Sequence[Nameserver], *, timeout: float) -> tuple[str, ...]:
    """The host names in the zone's NS set (sorted, lower case); empty when it has none.

    :raises LookupFailed: when no server answers NOERROR or NXDOMAIN.
    """
    response = ask_servers(servers, zone, dns.rdatatype.NS, timeout=timeout)
    qname = dns.name.from_text(zone)
    hosts = {_text(rdata.target) for rrset in response.answer
             if rrset.name == qname and rrset.rdtype == dns.rdatatype.NS for rdata in rrset}
    return tuple(sorted(hosts))


def host_addresses(host: str, servers: Sequence[Nameserver], *,
                   timeout: float) -> tuple[str, ...]:
    """Every IPv4 and IPv6 address of ``host``; empty when it has none or nobody answers."""
    addresses: list[str] = []
    qname = dns.name.from_text(host)
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        try:
            response = ask_servers(servers, host, rdtype, timeout=timeout)
        except LookupFailed as error:
            logger.debug("%s", error)
            continue
        addresses.extend(rdata.address for rrset in response.answer
                         if rrset.name == qname and rrset.rdtype == rdtype for rdata in rrset)
    return tuple(dict.fromkeys(addresses))


def lookup_cname(fqdn: str, nameservers: Sequence[Nameserver] | None, *,
                 timeout: float) -> str | None:
    """The CNAME target at ``fqdn`` (no trailing dot), or None when there is none.

    Asks the given servers (first one that answers wins), else the system's resolver.

    :raises LookupFailed: when no server answers.
    """
    servers = nameservers or system_servers()
    response = ask_servers(servers, fqdn, dns.rdatatype.CNAME, timeout=timeout)
    qname = dns.name.from_text(fqdn)
    for rrset in response.answer:
        if rrset.name == qname and rrset.rdtype == dns.rdatatype.CNAME:
            return _text(rrset[0].target)
    return None


def ask_servers(servers: Sequence[Nameserver], fqdn: str, rdtype: dns.rdatatype.RdataType, *,
                timeout: float) -> dns.message.Message:
    """The first NOERROR or NXDOMAIN response of the servers' addresses, in order.

    :raises NoAnswer: when no address responded; :raises LookupFailed: when all refused.
    """
    responded = False
    for server in servers:
        for address in server.addresses:
            try:
                response = ask(address, server.port, fqdn, rdtype, timeout=timeout,
                               recursive=True)
            except (dns.exception.DNSException, OSError) as error:
                logger.debug("%s query for %s to %s failed: %s", dns.rdatatype.to_text(rdtype),
                             fqdn, address, error or type(error).__name__)
                continue
            responded = True
            if response.rcode() in ANSWERED:
                return response
            logger.debug("%s query for %s to %s answered %s", dns.rdatatype.to_text(rdtype),
                         fqdn, address, dns.rcode.to_text(response.rcode()))
    failure = LookupFailed if responded else NoAnswer
    raise failure(f"No nameserver answered the {dns.rdatatype.to_text(rdtype)} query for "
                  f"{fqdn}.")


def ask(address: str, port: int, fqdn: str, rdtype: dns.rdatatype.RdataType, *,
        timeout: float, recursive: bool) -> dns.message.Message:
    """One question to one address: UDP, repeated over TCP when the answer is truncated."""
    query = dns.message.make_query(fqdn, rdtype, use_edns=0, payload=EDNS_PAYLOAD)
    if not recursive:
        query.flags &= ~dns.flags.RD
    response, _ = dns.query.udp_with_fallback(query, address, timeout=timeout, port=port)
    return response


def _text(name: dns.name.Name) -> str:
    return str(name.to_text()).rstrip(".").lower()
