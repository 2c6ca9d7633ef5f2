"""The propagation check and DNS lookups against real loopback nameservers
(sandbox/dns_server.py).

Nothing here leaves 127.0.0.0/8: host names are resolved through a patched
``socket.getaddrinfo`` and the "system" resolver is pointed at a stub. Tests that need
many polling rounds drive ``wait_for_records`` with a fake clock and sleeper, so they are
exact and take no real waiting; the few that wait for real keep their limits at 2-8 s and
assert outcomes and ordering, with generous upper bounds only.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.resolver
import pytest

from certbot_dns_hostinger import dns_lookup, propagation
from certbot_dns_hostinger.dns_lookup import LookupFailed, Nameserver
from certbot_dns_hostinger.propagation import Check, PropagationError
from sandbox.accounts import account_zones
from sandbox.dns_server import DnsStub
from sandbox.hostinger_api import ZoneStore, quote_txt

ZONE = "example.com"
NAME = "_acme-challenge.mail.example.com"
APEX_NAME = "_acme-challenge.example.com"
LOGGER = "certbot_dns_hostinger.propagation"


def publish(store: ZoneStore, name: str, values: list[str], rtype: str = "TXT",
            zone: str = ZONE) -> None:
    """A write as the API makes it: a view of delay d serves it d seconds later."""
    state = copy.deepcopy(store.latest())
    records = [quote_txt(v) for v in values] if rtype == "TXT" else values
    state[zone][(name, rtype)] = {"ttl": 60, "records": records}
    store.commit(state)


def at(stub: DnsStub, name: str = "127.0.0.1", *addresses: str) -> Nameserver:
    """The stub as a nameserver to poll (on its own port)."""
    return Nameserver(name, addresses or ("127.0.0.1",), stub.port)


def wanted(*values: str, name: str = NAME) -> dict[str, frozenset[str]]:
    return {name: frozenset(values)}


class FakeTime:
    """A clock and a sleeper that only move when the code under test sleeps."""

    def __init__(self, on_sleep: Callable[[int], None] | None = None) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []
        self.on_sleep = on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.pauses))


@pytest.fixture
def zones() -> ZoneStore:
    return ZoneStore(account_zones())


@pytest.fixture
def ns(zones: ZoneStore) -> Iterator[DnsStub]:
    with DnsStub(zones.view()) as stub:
        yield stub


@pytest.fixture
def fake_getaddrinfo(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Resolve host names from a table instead of the system (no DNS traffic at all)."""
    table = {
        "ns1.dns-parking.com": ["162.159.24.201", "2400:cb00:2049:1::a29f:18c9"],
        "ns2.dns-parking.com": ["162.159.25.42", "162.159.25.42", "2400:cb00:2049:1::a29f:192a"],
    }
    calls: list[tuple[str, Any]] = []

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        calls.append((host, kwargs.get("type")))
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM,
                 17, "", (address, 0)) for address in table[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


@pytest.fixture
def system_resolver(use_system_resolver: Callable[[int], None], ns: DnsStub) -> DnsStub:
    """Make ``dns.resolver.Resolver()`` ask the stub instead of /etc/resolv.conf."""
    use_system_resolver(ns.port)
    return ns


# -- which servers: parse_nameservers -----------------------------------------------------------


def test_parse_addresses_with_and_without_ports() -> None:
    parsed = dns_lookup.parse_nameservers(
        " 127.0.0.1:5353, [::1]:5300 ,::1,192.0.2.1 ,[2001:db8::53], 10.0.0.1:53")
    assert [(s.name, s.addresses, s.port) for s in parsed] == [
        ("127.0.0.1", ("127.0.0.1",), 5353),
        ("::1", ("::1",), 5300),
        ("::1", ("::1",), 53),
        ("192.0.2.1", ("192.0.2.1",), 53),
        ("2001:db8::53", ("2001:db8::53",), 53),
        ("10.0.0.1", ("10.0.0.1",), 53),
    ]
    assert [s.label for s in parsed if s.port == 53] == [
        "::1", "192.0.2.1", "2001:db8::53", "10.0.0.1"]
    assert parsed[0].label == "127.0.0.1:5353"


def test_parse_addresses_are_normalised() -> None:
    (server,) = dns_lookup.parse_nameservers("[2001:DB8:0:0::0053]:8053")
    assert server.addresses == ("2001:db8::53",)
    assert server.port == 8053


def test_parse_host_names_resolve_to_all_their_addresses(
        fake_getaddrinfo: list[tuple[str, Any]]) -> None:
    parsed = dns_lookup.parse_nameservers("ns1.dns-parking.com , ns2.dns-parking.com:8053")
    assert parsed == [
        Nameserver("ns1.dns-parking.com", ("162.159.24.201", "2400:cb00:2049:1::a29f:18c9")),
        # The duplicate IPv4 is listed once, in first-seen order.
        Nameserver("ns2.dns-parking.com", ("162.159.25.42", "2400:cb00:2049:1::a29f:192a"),
                   8053),
    ]
    assert [s.label for s in parsed] == ["ns1.dns-parking.com", "ns2.dns-parking.com:8053"]
    # One lookup per host name, none for literal addresses.
    assert [host for host, _ in fake_getaddrinfo] == ["ns1.dns-parking.com",
                                                      "ns2.dns-parking.com"]
    dns_lookup.parse_nameservers("127.0.0.1,[::1]:53")
    assert len(fake_getaddrinfo) == 2


def test_parse_label_of_a_host_or_ipv4_can_be_parsed_back(
        fake_getaddrinfo: list[tuple[str, Any]]) -> None:
    for spec in ("ns2.dns-parking.com:8053", "ns1.dns-parking.com", "127.0.0.1:5353"):
        (server,) = dns_lookup.parse_nameservers(spec)
        assert dns_lookup.parse_nameservers(server.label) == [server]


def test_parse_label_of_an_ipv6_server_with_a_port_can_be_parsed_back() -> None:
    (server,) = dns_lookup.parse_nameservers("[::1]:5300")
    assert server.label == "[::1]:5300"
    assert dns_lookup.parse_nameservers(server.label) == [server]


@pytest.mark.parametrize(("spec", "message"), [
    ("", "no nameserver given"),
    (" , ,", "no nameserver given"),
    ("ns1.example:abc", "invalid port in nameserver 'ns1.example:abc'"),
    ("ns1.example:\u0665\u0663", "invalid port in nameserver 'ns1.example:\u0665\u0663'"),
    ("ns1.example:\u00b2", "invalid port in nameserver 'ns1.example:\u00b2'"),
    ("ns1.example:", "invalid port in nameserver 'ns1.example:'"),
    ("ns1.example:0", "invalid port in nameserver 'ns1.example:0'"),
    ("ns1.example:65536", "invalid port in nameserver 'ns1.example:65536'"),
    ("ns1.example:-1", "invalid port in nameserver 'ns1.example:-1'"),
    ("[::1]:99999", "invalid port in nameserver '[::1]:99999'"),
    ("[::1]:", "invalid port in nameserver '[::1]:'"),
    ("[::1", "cannot parse nameserver '[::1'"),
    ("[::1]53", "cannot parse nameserver '[::1]53'"),
    (":53", "nameserver ':53' has no host"),
    ("[]:53", "nameserver '[]:53' has no host"),
    # A bad item is named even when good ones come first.
    ("127.0.0.1, 127.0.0.2:x", "invalid port in nameserver '127.0.0.2:x'"),
])
def test_parse_refuses_bad_items_naming_them(spec: str, message: str) -> None:
    # parse_nameservers raises ValueError (the plugin turns it into a PluginError naming
    # --dns-hostinger-nameservers); it never raises PropagationError.
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        dns_lookup.parse_nameservers(spec)


def test_parse_unknown_host_is_refused_with_the_resolver_error(
        fake_getaddrinfo: list[tuple[str, Any]]) -> None:
    with pytest.raises(ValueError, match=re.escape(
            "cannot resolve nameserver 'ns9.nowhere.invalid': ") + ".*Name or service not known"):
        dns_lookup.parse_nameservers("ns1.dns-parking.com, ns9.nowhere.invalid:53")


# -- which servers: find_nameservers ------------------------------------------------------------


def test_find_nameservers_resolves_every_ns_host(zones: ZoneStore,
                                                 system_resolver: DnsStub) -> None:
    zones.add_zone("dns-parking.com", [
        {"name": "ns1", "type": "A", "ttl": 300, "records": [{"content": "127.0.0.1"}]},
        {"name": "ns2", "type": "A", "ttl": 300, "records": [{"content": "127.0.0.2"}]},
        {"name": "ns2", "type": "AAAA", "ttl": 300, "records": [{"content": "::1"}]},
    ])
    assert dns_lookup.find_nameservers(ZONE, timeout=2) == [
        Nameserver("ns1.dns-parking.com", ("127.0.0.1",)),
        Nameserver("ns2.dns-parking.com", ("127.0.0.2", "::1")),
    ]


def test_find_nameservers_drops_hosts_without_an_address(zones: ZoneStore,
                                                         system_resolver: DnsStub) -> None:
    zones.add_zone("dns-parking.com", [
        {"name": "ns2", "type": "A", "ttl": 300, "records": [{"content": "127.0.0.2"}]},
    ])
    assert dns_lookup.find_nameservers(ZONE, timeout=2) == [
        Nameserver("ns2.dns-parking.com", ("127.0.0.2",))]


def test_find_nameservers_without_any_address_fails_naming_the_hosts(
        system_resolver: DnsStub) -> None:
    with pytest.raises(LookupFailed, match=re.escape(
            "No address found for any nameserver of zone example.com: "
            "ns1.dns-parking.com, ns2.dns-parking.com.")):
        dns_lookup.find_nameservers(ZONE, timeout=2)


def test_find_nameservers_of_an_unknown_zone_says_what_to_do(system_resolver: DnsStub) -> None:
    with pytest.raises(LookupFailed) as caught:
        dns_lookup.find_nameservers("example.org", timeout=2)
    message = str(caught.value)
    assert message.startswith("Cannot find the nameservers of zone example.org: ")
    assert message.endswith("Name the servers to poll explicitly, or turn the propagation "
                            "check off.")


# -- one question: query_txt --------------------------------------------------------------------


def test_query_txt_serves_api_quoted_values_bare(zones: ZoneStore, ns: DnsStub) -> None:
    apex = propagation.query_txt("127.0.0.1", ns.port, ZONE, timeout=2)
    assert apex == propagation.TxtAnswer(
        frozenset({"v=spf1 mx a include:_spf.mail.hostinger.com ~all"}), None, "NOERROR", True)
    publish(zones, "_acme-challenge.mail", ["abc", '"already-quoted"', "with space; and semi"])
    answer = propagation.query_txt("127.0.0.1", ns.port, NAME, timeout=2)
    assert answer.values == {"abc", "already-quoted", "with space; and semi"}
    assert (NAME, "TXT") in ns.queries


def test_query_txt_joins_a_value_split_into_character_strings(zones: ZoneStore,
                                                              ns: DnsStub) -> None:
    long_value = "k=" + "A" * 300 + "B" * 300
    publish(zones, "_acme-challenge.mail", ["short", long_value])
    # On the wire the long value really is several <=255-byte character-strings.
    raw, _ = dns.query.udp_with_fallback(dns.message.make_query(NAME, "TXT"), "127.0.0.1",
                                         timeout=2, port=ns.port)
    assert sorted(len(rdata.strings) for rdata in raw.answer[0]) == [1, 3]
    answer = propagation.query_txt("127.0.0.1", ns.port, NAME, timeout=2)
    assert answer.values == {"short", long_value}


def test_query_txt_tells_nxdomain_from_nodata(ns: DnsStub) -> None:
    missing = propagation.query_txt("127.0.0.1", ns.port, NAME, timeout=2)
    assert (missing.rcode, missing.values, missing.cname) == ("NXDOMAIN", frozenset(), None)
    assert missing.authoritative
    nodata = propagation.query_txt("127.0.0.1", ns.port, "mail.example.com", timeout=2)
    assert (nodata.rcode, nodata.values, nodata.cname) == ("NOERROR", frozenset(), None)
    # An empty non-terminal (news.example.com has only mail.news below it) is NODATA too.
    empty = propagation.query_txt("127.0.0.1", ns.port, "news.example.com", timeout=2)
    assert (empty.rcode, empty.values) == ("NOERROR", frozenset())


def test_query_txt_outside_every_zone_is_refused_and_not_authoritative(ns: DnsStub) -> None:
    answer = propagation.query_txt("127.0.0.1", ns.port, "_acme-challenge.example.org",
                                   timeout=2)
    assert (answer.rcode, answer.authoritative, answer.values) == ("REFUSED", False, frozenset())


def test_query_txt_reports_a_cname_and_ignores_the_targets_txt(zones: ZoneStore,
                                                               ns: DnsStub) -> None:
    # The CNAME points into a served zone, so the stub also returns the target's TXT.
    publish(zones, "_acme-challenge.mail", ["mail-acme.example.co.uk."], rtype="CNAME")
    publish(zones, "mail-acme", ["delegated-value"], zone="example.co.uk")
    answer = propagation.query_txt("127.0.0.1", ns.port, NAME, timeout=2)
    assert answer.cname == "mail-acme.example.co.uk"
    assert answer.values == frozenset()
    assert answer.rcode == "NOERROR"


def test_query_txt_sees_wildcard_values(zones: ZoneStore, ns: DnsStub) -> None:
    publish(zones, "*.news", ["from-the-wildcard"])
    answer = propagation.query_txt("127.0.0.1", ns.port, "_acme-challenge.news.example.com",
                                   timeout=2)
    assert answer.values == {"from-the-wildcard"}
    assert answer.cname is None


def test_query_txt_name_is_case_insensitive(zones: ZoneStore, ns: DnsStub) -> None:
    publish(zones, "_acme-challenge.mail", ["token-1"])
    answer = propagation.query_txt("127.0.0.1", ns.port, NAME.upper() + ".", timeout=2)
    assert answer.values == {"token-1"}


def test_query_txt_falls_back_to_tcp_when_the_udp_answer_is_truncated(
        zones: ZoneStore, ns: DnsStub) -> None:
    values = [f"value-{i:02d}-" + "x" * 40 for i in range(40)]  # ~2 KB: over the 1232 payload
    publish(zones, "_acme-challenge.mail", values)
    udp = dns.query.udp(dns.message.make_query(NAME, "TXT", use_edns=0, payload=1232),
                        "127.0.0.1", timeout=2, port=ns.port, ignore_trailing=True)
    assert udp.flags & dns.flags.TC  # what the stub sends over UDP: TC and nothing else
    assert not udp.answer
    ns.queries.clear()
    answer = propagation.query_txt("127.0.0.1", ns.port, NAME, timeout=2)
    assert answer.values == set(values)
    assert ns.queries == [(NAME, "TXT"), (NAME, "TXT")]  # UDP (truncated), then TCP


def test_query_txt_times_out_on_a_silent_server(ns: DnsStub) -> None:
    ns.set_silent(True)
    started = time.monotonic()
    with pytest.raises(dns.exception.Timeout):
        propagation.query_txt("127.0.0.1", ns.port, NAME, timeout=0.5)
    assert time.monotonic() - started < 10  # bounded by the per-query timeout, not hung


# -- one question: lookup_cname -----------------------------------------------------------------


def test_lookup_cname_asks_the_given_servers(zones: ZoneStore, ns: DnsStub) -> None:
    servers = [at(ns)]
    assert dns_lookup.lookup_cname(NAME, servers, timeout=2) is None  # NXDOMAIN
    assert dns_lookup.lookup_cname("mail.example.com", servers, timeout=2) is None  # NODATA
    assert dns_lookup.lookup_cname("www.example.com", servers, timeout=2) == "example.com"
    publish(zones, "_acme-challenge.mail", ["acme.example.net."], rtype="CNAME")
    assert dns_lookup.lookup_cname(NAME, servers, timeout=2) == "acme.example.net"
    assert ns.queries[-1] == (NAME, "CNAME")


def test_lookup_cname_skips_addresses_and_servers_that_do_not_answer(zones: ZoneStore,
                                                                     ns: DnsStub) -> None:
    publish(zones, "_acme-challenge.mail", ["acme.example.net."], rtype="CNAME")
    with DnsStub(zones.view()) as dead:
        dead.set_silent(True)
        servers = [at(dead, "ns-dead"), Nameserver("ns-live", ("127.0.0.2", "127.0.0.1"),
                                                   ns.port)]
        started = time.monotonic()
        assert dns_lookup.lookup_cname(NAME, servers, timeout=0.3) == "acme.example.net"
    assert time.monotonic() - started < 10


def test_lookup_cname_fails_when_no_server_answers(ns: DnsStub) -> None:
    ns.set_silent(True)
    message = f"No nameserver answered the CNAME query for {NAME}."
    with pytest.raises(LookupFailed, match=f"^{re.escape(message)}$"):
        dns_lookup.lookup_cname(NAME, [at(ns), Nameserver("x", ("127.0.0.2",), ns.port)],
                                 timeout=0.3)


def test_lookup_cname_does_not_take_a_refusal_as_no_cname(zones: ZoneStore,
                                                          ns: DnsStub) -> None:
    publish(zones, "_acme-challenge.mail", ["acme.example.net."], rtype="CNAME")
    with DnsStub(lambda: {}) as lame:  # serves no zone: REFUSED for everything
        assert dns_lookup.lookup_cname(NAME, [at(lame, "lame"), at(ns)],
                                        timeout=2) == "acme.example.net"


def test_lookup_cname_without_servers_uses_the_system_resolver(
        zones: ZoneStore, system_resolver: DnsStub) -> None:
    publish(zones, "_acme-challenge.mail", ["acme.example.net."], rtype="CNAME")
    assert dns_lookup.lookup_cname(NAME, None, timeout=2) == "acme.example.net"
    assert dns_lookup.lookup_cname(APEX_NAME, [], timeout=2) is None  # NXDOMAIN
    assert dns_lookup.lookup_cname("mail.example.com", None, timeout=2) is None  # NoAnswer
    assert (APEX_NAME, "CNAME") in system_resolver.queries


# -- waiting: real time -------------------------------------------------------------------------


def test_wait_returns_after_the_slower_of_two_delayed_servers(zones: ZoneStore) -> None:
    with DnsStub(zones.view(1.0)) as fast, DnsStub(zones.view(3.0)) as slow:
        published = time.monotonic()
        publish(zones, "_acme-challenge.mail", ["token-1"])
        started = time.monotonic()
        waited = propagation.wait_for_records(
            [Check((at(fast, "ns1.fast"), at(slow, "ns2.slow")), wanted("token-1"))],
            timeout=8)
        finished = time.monotonic()
    assert finished - published >= 3.0  # the slow server cannot have served it sooner
    assert 0 < waited <= finished - started
    assert waited < 8  # returned before the limit, not at it
    assert fast.queries.count((NAME, "TXT")) <= slow.queries.count((NAME, "TXT"))
    assert slow.queries.count((NAME, "TXT")) >= 2  # it was polled again, not given up on


@pytest.mark.parametrize(("fast_delay", "slow_delay", "interval_then"), [
    (2.0, 6.0, 0.5),  # within the first 2 minutes: rounds every 0.5 s
    (1.3, 6.1, 0.5),  # delays that fall between two rounds
    (30.0, 150.0, 0.625),  # later: rounds every 1/240 of the time waited
])
def test_wait_ends_within_one_interval_of_the_slower_server_serving(
        fast_delay: float, slow_delay: float, interval_then: float) -> None:
    # Deterministic: the two servers start serving at fixed points of a fake clock.
    before, after = ZoneStore(account_zones()), ZoneStore(account_zones())
    publish(after, "_acme-challenge.mail", ["token-1"])
    before_view, after_view = before.view(), after.view()
    fake = FakeTime()

    def serving_after(delay: float) -> Callable[[], Any]:
        def view() -> Any:  # what the server serves at this moment of the fake clock
            return (after_view if fake.now - 1000.0 >= delay else before_view)()
        return view

    with DnsStub(serving_after(fast_delay)) as fast, \
            DnsStub(serving_after(slow_delay)) as slow:
        waited = propagation.wait_for_records(
            [Check((at(fast, "ns1"), at(slow, "ns2")), wanted("token-1"))],
            timeout=600, clock=fake.clock, sleep=fake.sleep)
    assert slow_delay <= waited <= slow_delay + interval_then + 1e-9
    assert fast.queries.count((NAME, "TXT")) < slow.queries.count((NAME, "TXT"))


def test_server_that_never_serves_fails_naming_its_label_the_name_and_what_it_saw(
        zones: ZoneStore) -> None:
    with DnsStub(zones.view()) as live, DnsStub(zones.view(3600.0)) as stuck:
        publish(zones, "_acme-challenge.mail", ["token-1"])
        started = time.monotonic()
        with pytest.raises(PropagationError) as caught:
            propagation.wait_for_records(
                [Check((at(live, "ns1.dns-parking.com"), at(stuck, "ns2.dns-parking.com")),
                       wanted("token-1"))], timeout=2)
        elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 15
    assert str(caught.value) == (
        "The TXT records were not served by every authoritative nameserver within 2 seconds. "
        f"Still missing: ns2.dns-parking.com:{stuck.port} for {NAME}: answers NXDOMAIN.")
    assert live.queries.count((NAME, "TXT")) == 1  # satisfied at once, never asked again


def test_stale_value_on_a_lagging_server_is_shown() -> None:
    zones = account_zones()
    zones[ZONE].append({"name": "_acme-challenge.mail", "type": "TXT", "ttl": 60,
                        "records": [{"content": "old-token"}]})
    store = ZoneStore(zones)
    publish(store, "_acme-challenge.mail", ["new-token"])
    with DnsStub(store.view(3600.0)) as stuck:
        fake = FakeTime()
        with pytest.raises(PropagationError) as caught:
            propagation.wait_for_records([Check((at(stuck, "ns2.dns-parking.com"),),
                                                wanted("new-token"))],
                                         timeout=4, clock=fake.clock, sleep=fake.sleep)
    assert str(caught.value).endswith(
        f"Still missing: ns2.dns-parking.com:{stuck.port} for {NAME}: serves old-token but 1 "
        "expected value(s) are missing.")


@pytest.mark.parametrize("dead_kind", ["unbound", "silent"])
def test_server_with_one_dead_and_one_live_address_counts_as_reached(
        zones: ZoneStore, dead_kind: str) -> None:
    with contextlib.ExitStack() as stack:
        live = stack.enter_context(DnsStub(zones.view(1.0)))
        if dead_kind == "silent":  # 127.0.0.2 drops every query
            silent = stack.enter_context(DnsStub(zones.view(), host="127.0.0.2",
                                                 port=live.port))
            silent.set_silent(True)
        # else nothing listens on 127.0.0.2 at that port
        publish(zones, "_acme-challenge.mail", ["token-1"])
        both = Nameserver("ns1.dns-parking.com", ("127.0.0.2", "127.0.0.1"), live.port)
        waited = propagation.wait_for_records([Check((both,), wanted("token-1"))],
                                              timeout=8, query_timeout=0.3)
    assert waited < 8  # reached through its live address: no PropagationError, no hang
    assert (NAME, "TXT") in live.queries


def test_the_address_that_answered_last_is_asked_first(zones: ZoneStore) -> None:
    publish(zones, "_acme-challenge.mail", ["token-1"])
    publish(zones, "_acme-challenge", ["token-2"])
    with DnsStub(zones.view()) as fresh, \
            DnsStub(zones.view(3600.0), host="127.0.0.2", port=fresh.port) as stale:
        server = Nameserver("ns1.dns-parking.com", ("127.0.0.2", "127.0.0.1"), fresh.port)
        propagation.wait_for_records([Check((server,), {NAME: frozenset({"token-1"}),
                                                        APEX_NAME: frozenset({"token-2"})})],
                                     timeout=4)
    # The first name tried the stale address, then the fresh one, which served it; the
    # second name went to the fresh address first and never reached the stale one.
    assert stale.queries == [(NAME, "TXT")]
    assert fresh.queries == [(NAME, "TXT"), (APEX_NAME, "TXT")]


def test_server_whose_every_address_is_dead_is_reported_as_no_answer(ns: DnsStub) -> None:
    ns.set_silent(True)
    dead = Nameserver("ns1.dns-parking.com", ("127.0.0.1", "127.0.0.2"), ns.port)
    started = time.monotonic()
    with pytest.raises(PropagationError) as caught:
        propagation.wait_for_records([Check((dead,), wanted("v"))], timeout=1,
                                     query_timeout=0.3)
    assert time.monotonic() - started < 15
    assert (f"ns1.dns-parking.com:{ns.port} for {NAME}: no answer from 127.0.0.1, "
            "127.0.0.2.") in str(caught.value)


# -- waiting: driven by a fake clock ------------------------------------------------------------


def test_an_answer_without_authority_does_not_count(zones: ZoneStore) -> None:
    # A caching resolver named in --dns-hostinger-nameservers may serve the value from
    # one authoritative server while another still lacks it: only AA answers count.
    publish(zones, "_acme-challenge.mail", ["token-1"])
    with DnsStub(zones.view(), authoritative=False) as cache:
        fake = FakeTime()
        with pytest.raises(PropagationError) as caught:
            propagation.wait_for_records([Check((at(cache, "resolver"),), wanted("token-1"))],
                                         timeout=0, clock=fake.clock, sleep=fake.sleep)
    assert str(caught.value).endswith(
        f"Still missing: resolver:{cache.port} for {NAME}: answers without authority "
        "(AA flag unset): not a nameserver of this zone.")


def test_satisfied_pairs_are_not_asked_again_and_rounds_log_progress(
        caplog: pytest.LogCaptureFixture) -> None:
    first, second = ZoneStore(account_zones()), ZoneStore(account_zones())

    def on_sleep(pauses: int) -> None:  # what the servers serve changes between rounds
        if pauses == 1:
            publish(first, "_acme-challenge.mail", ["token-1"])
        if pauses == 3:
            publish(second, "_acme-challenge.mail", ["token-1"])

    fake = FakeTime(on_sleep)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with DnsStub(first.view()) as a, DnsStub(second.view()) as b:
        waited = propagation.wait_for_records(
            [Check((at(a, "ns1"), at(b, "ns2")), wanted("token-1"))],
            timeout=60, clock=fake.clock, sleep=fake.sleep)
    assert a.queries == [(NAME, "TXT")] * 2  # rounds 1-2, then satisfied
    assert b.queries == [(NAME, "TXT")] * 4  # rounds 1-4
    assert fake.pauses == pytest.approx([0.5, 0.5, 0.5])
    assert waited == pytest.approx(sum(fake.pauses))
    progress = [record.getMessage() for record in caplog.records
                if record.getMessage().startswith("Propagation round")]
    assert progress == [f"Propagation round {n}: {missing} (server, name) pair(s) still missing"
                        for n, missing in ((1, 2), (2, 1), (3, 1), (4, 0))]


def test_records_already_there_return_after_one_round_without_sleeping(
        zones: ZoneStore, ns: DnsStub) -> None:
    publish(zones, "_acme-challenge.mail", ["token-1", "someone-else"])
    fake = FakeTime()
    waited = propagation.wait_for_records([Check((at(ns),), wanted("token-1"))],
                                          timeout=0, clock=fake.clock, sleep=fake.sleep)
    assert waited == 0
    assert fake.pauses == []  # an extra value at the name does not matter


def test_polling_is_brisk_at_first_and_the_last_check_is_at_the_deadline(ns: DnsStub) -> None:
    fake = FakeTime()
    with pytest.raises(PropagationError, match="within 10 seconds"):
        propagation.wait_for_records([Check((at(ns),), wanted("v"))], timeout=10,
                                     clock=fake.clock, sleep=fake.sleep)
    assert fake.pauses == pytest.approx([0.5] * 20)
    assert ns.queries.count((NAME, "TXT")) == len(fake.pauses) + 1  # at once and after each


def test_polling_backs_off_gently_to_two_seconds_over_a_long_wait(ns: DnsStub) -> None:
    fake = FakeTime()
    with pytest.raises(PropagationError, match="within 600 seconds"):
        propagation.wait_for_records([Check((at(ns),), wanted("v"))], timeout=600,
                                     clock=fake.clock, sleep=fake.sleep)
    elapsed = 0.0
    for pause in fake.pauses[:-1]:  # 1/240 of the time waited, within 0.5-2 s
        assert pause == pytest.approx(min(max(elapsed / 240, 0.5), 2.0))
        elapsed += pause
    assert sum(fake.pauses) == pytest.approx(600.0)
    assert fake.pauses[:240] == pytest.approx([0.5] * 240)  # every 0.5 s for 2 minutes
    assert 0.5 < fake.pauses[241] < 0.51
    assert max(fake.pauses) == pytest.approx(2.0)
    assert len(fake.pauses) == 634  # a flat 0.5 s would take 1200


def test_polling_interval_and_cap_are_configurable(ns: DnsStub) -> None:
    fake = FakeTime()
    with pytest.raises(PropagationError, match=r"within 2\.5 seconds"):
        propagation.wait_for_records([Check((at(ns),), wanted("v"))], timeout=2.5,
                                     interval=0.2, max_interval=0.5,
                                     clock=fake.clock, sleep=fake.sleep)
    assert fake.pauses == pytest.approx([0.2] * 12 + [0.1])
    fake = FakeTime()
    with pytest.raises(PropagationError, match=r"within 300 seconds"):
        propagation.wait_for_records([Check((at(ns),), wanted("v"))], timeout=300,
                                     interval=0.2, max_interval=0.5,
                                     clock=fake.clock, sleep=fake.sleep)
    assert max(fake.pauses) == pytest.approx(0.5)
    assert sum(fake.pauses) == pytest.approx(300)


def test_zero_timeout_checks_once_and_fails_without_sleeping(ns: DnsStub) -> None:
    fake = FakeTime()
    with pytest.raises(PropagationError, match="within 0 seconds"):
        propagation.wait_for_records([Check((at(ns),), wanted("v"))], timeout=0,
                                     clock=fake.clock, sleep=fake.sleep)
    assert fake.pauses == []
    assert ns.queries == [(NAME, "TXT")]


def test_checks_on_the_same_server_and_name_need_every_value(zones: ZoneStore,
                                                            ns: DnsStub) -> None:
    # Two checks (e.g. example.com and *.example.com) meet at one name written two ways.
    checks = [Check((at(ns),), wanted("token-apex")),
              Check((at(ns),), wanted("token-wild", name=NAME.upper() + "."))]
    publish(zones, "_acme-challenge.mail", ["token-apex"])
    fake = FakeTime()
    with pytest.raises(PropagationError) as caught:
        propagation.wait_for_records(checks, timeout=0, clock=fake.clock, sleep=fake.sleep)
    assert str(caught.value).endswith(
        f"Still missing: 127.0.0.1:{ns.port} for {NAME}: serves token-apex but 1 expected "
        "value(s) are missing.")
    assert ns.queries == [(NAME, "TXT")]  # one (server, name) pair, asked once
    publish(zones, "_acme-challenge.mail", ["token-apex", "token-wild"])
    assert propagation.wait_for_records(checks, timeout=0, clock=fake.clock,
                                        sleep=fake.sleep) == 0


def test_timeout_message_explains_each_missing_pair_in_order(zones: ZoneStore,
                                                             ns: DnsStub) -> None:
    publish(zones, "_acme-challenge.mail", ["token-1"])
    publish(zones, "_acme-challenge.mail.news", ["elsewhere.example.net."], rtype="CNAME")
    shadowed = "_acme-challenge.mail.news.example.com"
    with DnsStub(lambda: {}) as lame:
        checks = [
            Check((at(ns, "ns1.dns-parking.com"),),
                  {NAME: frozenset({"token-1", "token-2"}), shadowed: frozenset({"token-3"}),
                   "mail.example.com": frozenset({"token-4"})}),
            Check((at(lame, "ns0.lame"),), {APEX_NAME: frozenset({"token-5"})}),
        ]
        fake = FakeTime()
        with pytest.raises(PropagationError) as caught:
            propagation.wait_for_records(checks, timeout=0, clock=fake.clock, sleep=fake.sleep)
    message = str(caught.value)
    prefix = "The TXT records were not served by every authoritative nameserver within 0 " \
             "seconds. Still missing: "
    assert message.startswith(prefix)
    assert message[len(prefix):].split("; ") == [  # sorted by server label, then name
        f"ns0.lame:{lame.port} for {APEX_NAME}: answers REFUSED",
        f"ns1.dns-parking.com:{ns.port} for {NAME}: serves token-1 but 1 expected value(s) "
        "are missing",
        f"ns1.dns-parking.com:{ns.port} for {shadowed}: answers with a CNAME to "
        "elsewhere.example.net: a CNAME or wildcard shadows the challenge name",
        f"ns1.dns-parking.com:{ns.port} for mail.example.com: has no TXT record there yet.",
    ]


def test_query_budget_shrinks_near_the_deadline_but_never_below_the_minimum(
        ns: DnsStub, monkeypatch: pytest.MonkeyPatch) -> None:
    budgets: list[float] = []
    real_query_txt = propagation.query_txt

    def spy(address: str, port: int, fqdn: str, *, timeout: float) -> propagation.TxtAnswer:
        budgets.append(timeout)
        return real_query_txt(address, port, fqdn, timeout=timeout)

    monkeypatch.setattr(propagation, "query_txt", spy)
    fake = FakeTime()
    with pytest.raises(PropagationError):
        propagation.wait_for_records([Check((at(ns),), wanted("v"))], timeout=3,
                                     query_timeout=1.5, clock=fake.clock, sleep=fake.sleep)
    # Rounds at 0, 0.5, ..., 3 (the deadline): 3 s, 2.5 s, ..., 0.5 s and 0 s remain.
    assert budgets == pytest.approx([1.5] * 4 + [1.0, 0.5, propagation.MIN_QUERY_TIMEOUT])


@pytest.mark.parametrize(("query_seconds", "pauses"), [
    (0.2, [0.3] * 4),  # a round that took 0.2 s is followed by 0.3 s: rounds every 0.5 s
    (0.7, []),  # a round longer than the interval is followed at once by the next
])
def test_rounds_start_on_a_steady_cadence(ns: DnsStub, monkeypatch: pytest.MonkeyPatch,
                                          query_seconds: float, pauses: list[float]) -> None:
    fake = FakeTime()
    starts: list[float] = []
    real_query_txt = propagation.query_txt

    def slow(address: str, port: int, fqdn: str, *, timeout: float) -> propagation.TxtAnswer:
        starts.append(fake.now)
        fake.now += query_seconds
        return real_query_txt(address, port, fqdn, timeout=timeout)

    monkeypatch.setattr(propagation, "query_txt", slow)
    with pytest.raises(PropagationError):
        propagation.wait_for_records([Check((at(ns),), wanted("v"))], timeout=2,
                                     clock=fake.clock, sleep=fake.sleep)
    assert fake.pauses == pytest.approx(pauses)
    step = max(query_seconds, 0.5)
    assert [start - 1000.0 for start in starts] == pytest.approx(
        [step * n for n in range(len(starts))])
