"""Where each challenge TXT record goes, and whether the CA will look there.

For each validation name, one DNS question (the SOA in the answer or authority section)
names the zone that serves it, and one read of the API, the same read the add reuses,
confirms that the zone is in the account. When DNS gives no usable answer, the API is
probed suffix by suffix instead. CNAMEs at the name are followed. Before anything is
written, the zone's public NS set is compared with Hostinger's nameservers for it.

Uses the Hostinger client and :mod:`.dns_lookup`; knows nothing about certbot.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from certbot_dns_hostinger.dns_lookup import (
    LookupFailed,
    Nameserver,
    NoAnswer,
    ZoneAnswer,
    find_nameservers,
    host_addresses,
    lookup_cname,
    ns_hosts,
    system_servers,
    zone_of,
)
from certbot_dns_hostinger.hostinger import HostingerClient
from certbot_dns_hostinger.hostinger_records import (
    RRSet,
    absolute_name,
    is_within,
    relative_name,
    zone_candidates,
)

logger = logging.getLogger(__name__)

HOSTINGER_NAMESERVERS = ("ns1.dns-parking.com", "ns2.dns-parking.com")
"""The servers of a Hostinger zone whose read lists no ``@ NS`` records."""
MAX_CNAME_HOPS = 8
DNS_TIMEOUT = 2.0
"""Seconds one discovery query to one address may take."""
NS_LOOKUP_TIMEOUT = 5.0
"""Seconds for the nameservers of a zone when discovery could not find them."""


class DiscoveryError(Exception):
    """No zone of the account can take the record, or the CA would not see it there."""


@dataclass(frozen=True)
class Target:
    """Where a validation name's TXT record is written: zone and zone-relative name."""

    zone: str
    name: str


class Discovery:
    """Maps validation names to zones for one run; DNS and API answers are cached."""

    def __init__(self, client: HostingerClient, servers: Sequence[Nameserver] | None,
                 delegation_check: bool = True, *, poll_public: bool = True,
                 timeout: float = DNS_TIMEOUT) -> None:
        """``servers`` (``--dns-hostinger-nameservers``) are asked instead of the system
        resolver and polled instead of each zone's nameservers; ``poll_public``: find the
        addresses of each zone's public nameservers, for the propagation check."""
        self._client = client
        self._override = list(servers or ())
        self._servers = self._override or system_servers()
        self._dns_usable = bool(self._servers)
        self._delegation_check = delegation_check
        self._poll_public = poll_public and not self._override
        self._timeout = timeout
        self._ns_hosts: dict[str, tuple[str, ...] | None] = {}
        self._addresses: dict[str, tuple[str, ...]] = {}
        self._polled: dict[str, dict[str, Nameserver]] = {}

    def target(self, validation_name: str) -> Target:
        """Zone and relative name for the TXT record at ``validation_name``.

        :raises DiscoveryError: no zone of the account holds it, a CNAME loop, or the
            zone is not delegated to Hostinger (nothing has been written then).
        """
        fqdn = validation_name.rstrip(".").lower()
        chain = [fqdn]
        while len(chain) <= MAX_CNAME_HOPS:
            name = chain[-1]
            found = self._dns_zone(name)
            if found is not None and found.cname:
                _follow(chain, found.cname)
                continue
            zone = self._account_zone(name, found)
            if zone is None:
                cname = None if found is not None else self._dns_cname(name)
                if cname is None:
                    raise DiscoveryError(_no_zone_message(chain))
                _follow(chain, cname)
                continue
            relative = relative_name(name, zone)
            cname = zone_cname(self._client.zone_records(zone), relative, zone)
            if cname is not None:
                _follow(chain, cname)
                continue
            self._check_delegation(zone, found.zone if found else None, name)
            logger.info("The TXT record for %s goes into zone %s as %s", fqdn, zone, relative)
            return Target(zone, relative)
        raise DiscoveryError(f"More than {MAX_CNAME_HOPS} CNAMEs from {fqdn}.")

    def nameservers(self, zone: str) -> list[Nameserver]:
        """The servers to poll for ``zone``: ``--dns-hostinger-nameservers``, else its
        public nameservers found during discovery, else (DNS could not tell them then)
        those the system resolver names now.

        :raises LookupFailed: naming the zone, when they cannot be found.
        """
        if self._override:
            return list(self._override)
        servers = self._polled.get(zone)
        if servers:
            return list(servers.values())
        return find_nameservers(zone, timeout=NS_LOOKUP_TIMEOUT)

    # -- which zone -------------------------------------------------------------------------

    def _dns_zone(self, name: str) -> ZoneAnswer | None:
        """What DNS says about ``name``, or None when it gives no usable answer."""
        if not self._dns_usable:
            return None
        try:
            found = zone_of(name, self._servers, timeout=self._timeout)
        except NoAnswer as error:
            self._dns_usable = False  # each further question would wait for the timeout
            _fall_back(name, f"{error} DNS is not asked again in this run")
            return None
        except LookupFailed as error:
            _fall_back(name, str(error))
            return None
        if found.zone is None and found.cname is None:
            _fall_back(name, "DNS named no zone for it")
            return None
        return found

    def _account_zone(self, name: str, found: ZoneAnswer | None) -> str | None:
        if found is not None and found.zone is not None:
            if "." in found.zone and self._client.is_zone(found.zone):
                return found.zone
            _fall_back(name, f"{found.zone}, the zone DNS names for it, is not a zone of "
                             "this Hostinger account")
        return self._client.find_zone(name)

    def _dns_cname(self, name: str) -> str | None:
        if not self._dns_usable:
            return None
        try:
            return lookup_cname(name, self._servers, timeout=self._timeout)
        except LookupFailed as error:
            logger.debug("CNAME lookup for %s failed: %s", name, error)
            return None

    # -- the delegation check ---------------------------------------------------------------

    def _check_delegation(self, zone: str, public_zone: str | None, name: str) -> None:
        """Refuse a zone none of whose public nameservers is Hostinger's."""
        if not (self._delegation_check or self._poll_public):
            return
        # The servers the CA asks are those of the zone DNS names, when it lies inside the
        # account's zone; a zone above it means the account's zone is not delegated at all.
        ns_zone = public_zone if public_zone and is_within(public_zone, zone) else zone
        public = self._public_hosts(ns_zone)
        if public is None:
            logger.debug("DNS could not tell the nameservers of %s; delegation not checked",
                         ns_zone)
            return
        if self._poll_public:
            self._remember_servers(zone, public)
        if not self._delegation_check:
            return
        hostinger = hostinger_nameservers(self._client.zone_records(zone))
        if not set(public) & set(hostinger):
            raise DiscoveryError(_refusal_message(zone, ns_zone, public, hostinger, name))
        logger.debug("Zone %s is served by %s; Hostinger's: %s", ns_zone, ", ".join(public),
                     ", ".join(hostinger))

    def _public_hosts(self, zone: str) -> tuple[str, ...] | None:
        if zone not in self._ns_hosts:
            hosts: tuple[str, ...] | None = None
            if self._dns_usable:
                try:
                    hosts = ns_hosts(zone, self._servers, timeout=self._timeout)
                except LookupFailed as error:
                    logger.debug("%s", error)
            self._ns_hosts[zone] = hosts
        return self._ns_hosts[zone]

    def _remember_servers(self, zone: str, hosts: Iterable[str]) -> None:
        servers = self._polled.setdefault(zone, {})
        for host in hosts:
            if host not in self._addresses:
                self._addresses[host] = host_addresses(host, self._servers,
                                                       timeout=self._timeout)
            if self._addresses[host]:
                servers[host] = Nameserver(host, self._addresses[host])


def hostinger_nameservers(rrsets: Iterable[RRSet]) -> tuple[str, ...]:
    """Hostinger's nameservers for a zone: its ``@ NS`` records, else the published pair."""
    listed = {content.strip().rstrip(".").lower() for rrset in rrsets
              if rrset.name == "@" and rrset.type == "NS" for content in rrset.contents}
    listed.discard("")
    return tuple(sorted(listed)) if listed else HOSTINGER_NAMESERVERS


def zone_cname(rrsets: Iterable[RRSet], relative: str, zone: str) -> str | None:
    """Absolute target of a CNAME at ``relative`` in the zone, if there is one."""
    for rrset in rrsets:
        if rrset.name == relative and rrset.type == "CNAME" and rrset.contents:
            target = rrset.contents[0].strip().lower()
            if target.endswith("."):
                return target.rstrip(".")
            return target if "." in target else absolute_name(target, zone)
    return None


def _follow(chain: list[str], target: str) -> None:
    target = target.rstrip(".").lower()
    logger.info("%s is a CNAME to %s; the TXT record goes there", chain[-1], target)
    if target in chain:
        raise DiscoveryError(f"CNAME loop at {' -> '.join([*chain, target])}.")
    chain.append(target)


def _fall_back(name: str, reason: str) -> None:
    logger.info("Finding the zone of %s by asking Hostinger's API for each parent name: %s.",
                name, reason.rstrip("."))


def _no_zone_message(chain: list[str]) -> str:
    tried = sorted({c for name in chain for c in zone_candidates(name)}, key=len)
    via = f" (reached through {' -> '.join(chain)})" if len(chain) > 1 else ""
    return (
        f"No DNS zone in this Hostinger account covers {chain[-1]}{via}; zones tried: "
        f"{', '.join(reversed(tried)) or 'none'}. Add the domain to the account the API token "
        "belongs to, or point _acme-challenge at a zone it has with a CNAME."
    )


def _refusal_message(zone: str, ns_zone: str, public: Sequence[str], hostinger: Sequence[str],
                     name: str) -> str:
    return (
        f"Zone {zone} is not delegated to Hostinger: public DNS gives the nameservers of "
        f"{ns_zone} as {', '.join(public) or 'none'}, Hostinger's are {', '.join(hostinger)}, "
        f"so the CA would never see the TXT record at {name}; nothing was written. Point the "
        "domain's nameservers at Hostinger's at its registrar, or delegate _acme-challenge "
        "with a CNAME into a zone of this account that Hostinger serves."
    )
