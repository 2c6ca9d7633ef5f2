"""Zone discovery from DNS and the delegation check, over real loopback sockets.

DNS answers come from ``sandbox.dns_server.DnsStub`` on 127.0.0.1 (serving the stand-in
account's zones, or a public view of them where a registrar points elsewhere); API
calls go over HTTP to ``sandbox.hostinger_api.HostingerStub``, whose call log is the
count asserted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.resolver
import pytest

from certbot_dns_hostinger import dns_lookup
from certbot_dns_hostinger.discovery import (
    HOSTINGER_NAMESERVERS,
    Discovery,
    DiscoveryError,
    Target,
    _refusal_message,
    hostinger_nameservers,
)
from certbot_dns_hostinger.dns_lookup import Nameserver, ZoneAnswer
from certbot_dns_hostinger.hostinger import HostingerClient
from certbot_dns_hostinger.hostinger_records import RRSet
from sandbox.accounts import TOKEN, account_zones
from sandbox.dns_server import DnsStub, ZoneView, delegated_view
from sandbox.hostinger_api import HostingerStub, ZoneStore

LOGGER = "certbot_dns_hostinger.discovery"
ELSEWHERE = ["ns1.elsewhere.example.net", "ns2.elsewhere.example.net"]
OUTSIDE = {"example.org": [  # a domain hosted elsewhere, its _acme-challenge delegated inside
    {"name": "@", "type": "A", "ttl": 300, "records": [{"content": "192.0.2.80"}]},
    {"name": "_acme-challenge.mail", "type": "CNAME", "ttl": 300,
     "records": [{"content": "org-acme.example.co.uk."}]},
]}


def on(stub: DnsStub) -> list[Nameserver]:
    return [Nameserver("127.0.0.1", ("127.0.0.1",), stub.port)]


@pytest.fixture
def client(api: HostingerStub) -> HostingerClient:
    return HostingerClient(TOKEN, api.url, max_attempts=1)


@pytest.fixture
def ns(store: ZoneStore) -> Iterator[DnsStub]:
    with DnsStub(store.view()) as stub:
        yield stub


def public_dns(view: ZoneView, **kwargs: Any) -> DnsStub:
    return DnsStub(view, **kwargs)


# -- DNS questions ------------------------------------------------------------------------------


def test_zone_of_reads_the_soa_in_the_answer_and_the_authority_section(ns: DnsStub) -> None:
    servers = on(ns)
    assert dns_lookup.zone_of("example.com", servers, timeout=2) == ZoneAnswer("example.com")
    # NXDOMAIN and NODATA carry the zone's SOA in the authority section.
    assert dns_lookup.zone_of("_acme-challenge.mail.example.com", servers,
                              timeout=2) == ZoneAnswer("example.com")
    assert dns_lookup.zone_of("mail.example.com", servers, timeout=2) == ZoneAnswer("example.com")
    assert dns_lookup.zone_of("_acme-challenge.mail.example.co.uk", servers,
                              timeout=2) == ZoneAnswer("example.co.uk")
    assert dns_lookup.zone_of("_acme-challenge.a.b.example.com", servers,
                              timeout=2) == ZoneAnswer("b.example.com")
    assert dns_lookup.zone_of("www.example.com", servers,
                              timeout=2) == ZoneAnswer(None, "example.com")
    assert ns.queries[-1] == ("www.example.com", "SOA")


def test_zone_of_without_an_answering_server_says_whether_anyone_responded(ns: DnsStub) -> None:
    with DnsStub(lambda: {}) as lame, pytest.raises(dns_lookup.LookupFailed) as refused:
        dns_lookup.zone_of("mail.example.com", on(lame), timeout=2)
    assert type(refused.value) is dns_lookup.LookupFailed
    ns.set_silent(True)
    with pytest.raises(dns_lookup.NoAnswer, match=re.escape(
            "No nameserver answered the SOA query for mail.example.com.")):
        dns_lookup.zone_of("mail.example.com", on(ns), timeout=0.3)


def test_ns_hosts_include_hostingers_pair_for_zones_without_ns_records(ns: DnsStub) -> None:
    assert "NS" not in {r["type"] for r in account_zones()["example.co.uk"]}
    for zone in ("example.com", "example.co.uk", "b.example.com"):
        assert dns_lookup.ns_hosts(zone, on(ns), timeout=2) == HOSTINGER_NAMESERVERS
    assert dns_lookup.ns_hosts("mail.example.com", on(ns), timeout=2) == ()  # no zone cut


# -- which zone ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fqdn, zone, name", [
    ("_acme-challenge.mail.example.co.uk", "example.co.uk", "_acme-challenge.mail"),
    ("_acme-challenge.mail.news.example.com", "example.com", "_acme-challenge.mail.news"),
    ("_acme-challenge.a.b.example.com", "b.example.com", "_acme-challenge.a"),
    ("_acme-challenge.b.example.com", "b.example.com", "_acme-challenge"),
    ("_ACME-Challenge.Mail.Example.COM.", "example.com", "_acme-challenge.mail"),
])
def test_dns_names_the_zone_and_one_read_confirms_it(
        client: HostingerClient, api: HostingerStub, ns: DnsStub,
        caplog: pytest.LogCaptureFixture, *, fqdn: str, zone: str, name: str) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    assert Discovery(client, on(ns)).target(fqdn) == Target(zone, name)
    assert api.calls_summary() == [f"GET {zone}"]
    assert (f"The TXT record for {fqdn.rstrip('.').lower()} goes into zone {zone} as {name}"
            in caplog.messages)
    client.add_txt_values(zone, {name: ["v"]}, 60)  # the add reuses that read
    assert api.calls_summary() == [f"GET {zone}", f"PUT {zone}"]


def test_many_names_in_one_zone_take_one_read(client: HostingerClient, api: HostingerStub,
                                              ns: DnsStub) -> None:
    discovery = Discovery(client, on(ns))
    for i in range(20):
        assert discovery.target(f"_acme-challenge.mail{i}.example.com").zone == "example.com"
    assert api.calls_summary() == ["GET example.com"]


def test_cname_from_a_domain_hosted_elsewhere_is_followed(
        client: HostingerClient, api: HostingerStub, store: ZoneStore,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    with public_dns(delegated_view(store.view(), {}, OUTSIDE)) as dns:
        target = Discovery(client, on(dns)).target("_acme-challenge.mail.example.org")
    assert target == Target("example.co.uk", "org-acme")
    assert api.calls_summary() == ["GET example.co.uk"]
    assert ("_acme-challenge.mail.example.org is a CNAME to org-acme.example.co.uk; the TXT "
            "record goes there") in caplog.messages


def test_cname_in_a_zone_of_the_account_is_followed(client: HostingerClient, api: HostingerStub,
                                                    store: ZoneStore, ns: DnsStub) -> None:
    store.add_zone("example.com", [*account_zones()["example.com"],
                                   {"name": "_acme-challenge.mail", "type": "CNAME", "ttl": 300,
                                    "records": [{"content": "mail-acme.example.co.uk."}]}])
    target = Discovery(client, on(ns)).target("_acme-challenge.mail.example.com")
    assert target == Target("example.co.uk", "mail-acme")
    assert api.calls_summary() == ["GET example.co.uk"]


def test_cname_loop_is_found_whatever_the_case(client: HostingerClient, store: ZoneStore,
                                               ns: DnsStub) -> None:
    store.add_zone("example.com", [*account_zones()["example.com"],
                                   {"name": "_acme-challenge.mail", "type": "CNAME", "ttl": 300,
                                    "records": [{"content": "LOOP.Example.com."}]},
                                   {"name": "loop", "type": "CNAME", "ttl": 300,
                                    "records": [{"content": "_ACME-Challenge.MAIL.example.com."}]}])
    with pytest.raises(DiscoveryError, match=r"^CNAME loop at _acme-challenge\.mail\.example\.com"
                                             r" -> loop\.example\.com -> _acme-challenge\.mail"):
        Discovery(client, on(ns)).target("_acme-challenge.mail.example.com")


def test_dns_timeout_falls_back_to_probing_and_dns_is_not_asked_again(
        client: HostingerClient, api: HostingerStub, ns: DnsStub,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    ns.set_silent(True)
    discovery = Discovery(client, on(ns), timeout=0.3)
    assert discovery.target("_acme-challenge.mail.example.com") == Target(
        "example.com", "_acme-challenge.mail")
    asked = len(ns.queries)
    assert discovery.target("_acme-challenge.mail.example.co.uk") == Target(
        "example.co.uk", "_acme-challenge.mail")
    assert len(ns.queries) == asked  # the second name went straight to the API
    assert api.calls_summary() == ["GET mail.example.com", "GET example.com",
                                   "GET mail.example.co.uk", "GET example.co.uk"]
    assert ("Finding the zone of _acme-challenge.mail.example.com by asking Hostinger's API for "
            "each parent name: No nameserver answered the SOA query for "
            "_acme-challenge.mail.example.com. DNS is not asked again in this run."
            ) in caplog.messages


def test_without_any_resolver_the_api_is_probed(client: HostingerClient, api: HostingerStub,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def no_resolver(*args: Any, **kwargs: Any) -> dns.resolver.Resolver:
        raise dns.resolver.NoResolverConfiguration("no nameservers")

    monkeypatch.setattr(dns.resolver, "Resolver", no_resolver)
    discovery = Discovery(client, None)
    assert discovery.target("_acme-challenge.mail.example.co.uk").zone == "example.co.uk"
    assert api.calls_summary() == ["GET mail.example.co.uk", "GET example.co.uk"]


def test_a_public_zone_that_is_not_in_the_account_falls_back_to_probing(
        client: HostingerClient, api: HostingerStub, store: ZoneStore,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    # Public DNS has news.example.com as its own zone (on Hostinger's servers); the account
    # keeps those names in example.com.
    news = {"news.example.com": [{"name": "@", "type": "A", "ttl": 300,
                                  "records": [{"content": "192.0.2.9"}]}]}
    with public_dns(delegated_view(store.view(), {}, news)) as dns:
        target = Discovery(client, on(dns)).target("_acme-challenge.mail.news.example.com")
    assert target == Target("example.com", "_acme-challenge.mail.news")
    assert api.calls_summary() == ["GET news.example.com", "GET mail.news.example.com",
                                   "GET example.com"]
    assert ("Finding the zone of _acme-challenge.mail.news.example.com by asking Hostinger's "
            "API for each parent name: news.example.com, the zone DNS names for it, is not a "
            "zone of this Hostinger account.") in caplog.messages


def test_a_name_in_no_zone_is_refused_naming_the_candidates(client: HostingerClient,
                                                            ns: DnsStub) -> None:
    with pytest.raises(DiscoveryError, match=r"^No DNS zone in this Hostinger account covers "
                                             r"_acme-challenge\.mail\.example\.org; zones tried: "
                                             r"mail\.example\.org, example\.org\."):
        Discovery(client, on(ns)).target("_acme-challenge.mail.example.org")


# -- the delegation check -----------------------------------------------------------------------


def test_zone_delegated_elsewhere_is_refused_naming_both_sets(
        client: HostingerClient, api: HostingerStub, store: ZoneStore) -> None:
    with (public_dns(delegated_view(store.view(), {"example.com": ELSEWHERE})) as dns,
          pytest.raises(DiscoveryError) as caught):
        Discovery(client, on(dns)).target("_acme-challenge.mail.example.com")
    assert str(caught.value) == (
        "Zone example.com is not delegated to Hostinger: public DNS gives the nameservers of "
        "example.com as ns1.elsewhere.example.net, ns2.elsewhere.example.net, Hostinger's are "
        "ns1.dns-parking.com, ns2.dns-parking.com, so the CA would never see the TXT record "
        "at _acme-challenge.mail.example.com; nothing was written. Point the domain's "
        "nameservers at Hostinger's at its registrar, or delegate _acme-challenge with a "
        "CNAME into a zone of this account that Hostinger serves.")
    assert api.calls_summary() == ["GET example.com"]


def test_one_hostinger_server_among_the_public_ones_passes(client: HostingerClient,
                                                           store: ZoneStore) -> None:
    mixed = {"example.com": ["NS2.dns-parking.COM.", "ns9.elsewhere.example.net"]}
    with public_dns(delegated_view(store.view(), mixed)) as dns:
        assert Discovery(client, on(dns)).target("_acme-challenge.example.com").zone == \
            "example.com"


def test_delegation_check_off_writes_where_the_account_says(client: HostingerClient,
                                                            store: ZoneStore) -> None:
    with public_dns(delegated_view(store.view(), {"example.com": ELSEWHERE})) as dns:
        discovery = Discovery(client, on(dns), delegation_check=False)
        assert discovery.target("_acme-challenge.mail.example.com").zone == "example.com"


def test_without_ns_records_in_the_api_hostingers_pair_is_expected(client: HostingerClient,
                                                                   store: ZoneStore) -> None:
    expected = "Hostinger's are ns1.dns-parking.com, ns2.dns-parking.com, so"
    with (public_dns(delegated_view(store.view(), {"example.co.uk": ELSEWHERE})) as dns,
          pytest.raises(DiscoveryError, match=re.escape(expected))):
        Discovery(client, on(dns)).target("_acme-challenge.mail.example.co.uk")


def test_ns_records_listed_by_the_api_are_hostingers_servers(client: HostingerClient,
                                                             store: ZoneStore) -> None:
    listed = {"name": "@", "type": "NS", "ttl": 86400,
              "records": [{"content": "ns7.hostinger-dns.example."}]}
    store.add_zone("example.co.uk", [*account_zones()["example.co.uk"], listed])
    # DNS serves what the API lists: accepted although it is not the published pair.
    with public_dns(store.view()) as dns:
        assert Discovery(client, on(dns)).target("_acme-challenge.example.co.uk").zone == \
            "example.co.uk"
    # DNS names the published pair, the zone's own NS records another server: refused.
    pair = delegated_view(store.view(), {"example.co.uk": list(HOSTINGER_NAMESERVERS)})
    expected = "Hostinger's are ns7.hostinger-dns.example, so"
    with public_dns(pair) as dns, pytest.raises(DiscoveryError, match=re.escape(expected)):
        Discovery(client, on(dns)).target("_acme-challenge.example.co.uk")


def test_hostinger_nameservers_are_compared_without_case_or_trailing_dot() -> None:
    rrsets = [RRSet("@", "NS", 86400, ("NS1.DNS-Parking.com.", "ns2.dns-parking.com")),
              RRSet("www", "NS", 300, ("ns.sub.example.",))]
    assert hostinger_nameservers(rrsets) == HOSTINGER_NAMESERVERS
    assert hostinger_nameservers([]) == HOSTINGER_NAMESERVERS


class _NoNsAnswers(DnsStub):
    """Answers every question but NS (a resolver that fails on them)."""

    def answer(self, wire: bytes, over_udp: bool) -> bytes | None:
        if b"\x00\x00\x02\x00\x01" in wire[12:]:  # QTYPE NS, QCLASS IN
            return None
        return super().answer(wire, over_udp)


def test_when_dns_cannot_tell_the_nameservers_the_run_goes_on(
        client: HostingerClient, store: ZoneStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, LOGGER)
    with _NoNsAnswers(delegated_view(store.view(), {"example.com": ELSEWHERE})) as dns:
        target = Discovery(client, on(dns), timeout=0.3).target("_acme-challenge.example.com")
    assert target.zone == "example.com"
    assert ("DNS could not tell the nameservers of example.com; delegation not checked"
            in caplog.messages)


# -- the servers to poll ------------------------------------------------------------------------


@pytest.fixture
def system_resolver(use_system_resolver: Callable[[int], None],
                    store: ZoneStore) -> Iterator[DnsStub]:
    """``dns.resolver.Resolver()`` asks a loopback stand-in of a recursive resolver."""
    parking = {"dns-parking.com": [
        {"name": "ns1", "type": "A", "ttl": 300, "records": [{"content": "127.0.0.2"}]},
        {"name": "ns2", "type": "A", "ttl": 300, "records": [{"content": "127.0.0.3"}]},
        {"name": "ns2", "type": "AAAA", "ttl": 300, "records": [{"content": "::1"}]},
    ]}
    with DnsStub(delegated_view(store.view(), {}, parking), authoritative=False) as stub:
        use_system_resolver(stub.port)
        yield stub


def test_the_nameservers_found_are_polled_without_a_second_lookup(
        client: HostingerClient, system_resolver: DnsStub) -> None:
    discovery = Discovery(client, None)
    discovery.target("_acme-challenge.mail.example.com")
    discovery.target("_acme-challenge.example.com")
    asked = list(system_resolver.queries)
    assert discovery.nameservers("example.com") == [
        Nameserver("ns1.dns-parking.com", ("127.0.0.2",)),
        Nameserver("ns2.dns-parking.com", ("127.0.0.3", "::1")),
    ]
    assert system_resolver.queries == asked
    assert asked.count(("example.com", "NS")) == 1
    assert asked.count(("ns2.dns-parking.com", "AAAA")) == 1


def test_given_nameservers_are_asked_and_polled(client: HostingerClient, ns: DnsStub) -> None:
    discovery = Discovery(client, on(ns))
    discovery.target("_acme-challenge.mail.example.com")
    assert discovery.nameservers("example.com") == on(ns)
    assert ("example.com", "NS") in ns.queries


def test_the_refusal_and_fallback_messages_are_in_the_troubleshooting_page() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "troubleshooting.rst").read_text()
    refusal = _refusal_message("<zone>", "<public zone>", ["<public NS hosts>"],
                               ["<Hostinger's NS hosts>"], "<name>")
    assert f"   {refusal}\n" in page
    for reason in ("DNS named no zone for it",
                   "<zone>, the zone DNS names for it, is not a zone of this Hostinger account",
                   "No nameserver answered the SOA query for <name>. DNS is not asked again "
                   "in this run"):
        line = (f"Finding the zone of <name> by asking Hostinger's API for each parent name: "
                f"{reason}.")
        assert f"   {line}\n" in page
    assert "   The TXT record for <name> goes into zone <zone> as <relative name>\n" in page
