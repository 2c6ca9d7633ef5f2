"""The propagation check against real loopback nameservers (tests/dns_stub.py)."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator

import dns.exception
import pytest

from certbot_dns_hostinger import propagation
from certbot_dns_hostinger.propagation import Check, Nameserver, PropagationError
from tests.conftest import account_zones
from tests.dns_stub import DnsStub
from tests.hostinger_stub import ZoneStore, quote_txt

NAME = "_acme-challenge.mail.example.com"


def publish(store: ZoneStore, zone: str, name: str, values: list[str],
            rtype: str = "TXT") -> None:
    """A write as the API makes it: visible to a view of delay d after d seconds."""
    state = copy.deepcopy(store.latest())
    records = [quote_txt(v) for v in values] if rtype == "TXT" else values
    state[zone][(name, rtype)] = {"ttl": 60, "records": records}
    store.commit(state)


def server(stub: DnsStub, *addresses: str) -> Nameserver:
    return Nameserver("127.0.0.1", addresses or ("127.0.0.1",), stub.port)


@pytest.fixture
def zones() -> ZoneStore:
    return ZoneStore(account_zones())


@pytest.fixture
def ns(zones: ZoneStore) -> Iterator[DnsStub]:
    with DnsStub(zones.view()) as stub:
        yield stub


# -- which servers ------------------------------------------------------------------------------


def test_parse_nameservers_accepts_hosts_ports_and_ipv6() -> None:
    parsed = propagation.parse_nameservers(" 127.0.0.1:5353, [::1]:5300 ,::1,192.0.2.1 ")
    assert [(s.label, s.addresses, s.port) for s in parsed] == [
        ("127.0.0.1:5353", ("127.0.0.1",), 5353),
        ("::1:5300", ("::1",), 5300),
        ("::1", ("::1",), 53),
        ("192.0.2.1", ("192.0.2.1",), 53),
    ]
    (local,) = propagation.parse_nameservers("localhost:53")
    assert "127.0.0.1" in local.addresses or "::1" in local.addresses


@pytest.mark.parametrize(("spec", "message"), [
    ("", "no nameserver given"),
    (" , ", "no nameserver given"),
    ("ns1.example:abc", "invalid port"),
    ("ns1.example:0", "invalid port"),
    ("ns1.example:70000", "invalid port"),
    ("[::1", "cannot parse nameserver"),
    ("[::1]x", "cannot parse nameserver"),
    (":53", "has no host"),
])
def test_parse_nameservers_refuses_bad_items(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        propagation.parse_nameservers(spec)


# -- one question -------------------------------------------------------------------------------


def test_query_txt_reads_quoted_and_long_values(zones: ZoneStore, ns: DnsStub) -> None:
    long_value = "k=" + "A" * 600  # served as three character-strings, joined back
    publish(zones, "example.com", "_acme-challenge.mail", ["abc", long_value])
    answer = propagation.query_txt("127.0.0.1", ns.port, NAME, timeout=2)
    assert answer.values == {"abc", long_value}
    assert answer.rcode == "NOERROR" and answer.authoritative and answer.cname is None


def test_query_txt_tells_nxdomain_from_nodata(ns: DnsStub) -> None:
    missing = propagation.query_txt("127.0.0.1", ns.port, NAME, timeout=2)
    assert missing.rcode == "NXDOMAIN" and missing.values == frozenset()
    nodata = propagation.query_txt("127.0.0.1", ns.port, "mail.example.com", timeout=2)
    assert nodata.rcode == "NOERROR" and nodata.values == frozenset()


def test_query_txt_reports_a_cname_at_the_name(zones: ZoneStore, ns: DnsStub) -> None:
    publish(zones, "example.com", "_acme-challenge.mail", ["acme.example.net."], rtype="CNAME")
    answer = propagation.query_txt("127.0.0.1", ns.port, NAME, timeout=2)
    assert answer.cname == "acme.example.net" and answer.values == frozenset()


def test_query_txt_falls_back_to_tcp_when_truncated(zones: ZoneStore, ns: DnsStub) -> None:
    values = [f"value-{i:02d}-" + "x" * 40 for i in range(40)]  # ~2 KB: over UDP's limit
    publish(zones, "example.com", "_acme-challenge.mail", values)
    answer = propagation.query_txt("127.0.0.1", ns.port, NAME, timeout=2)
    assert answer.values == set(values)
    assert ns.queries.count((NAME, "TXT")) == 2  # UDP (truncated), then TCP


def test_query_txt_times_out_on_a_silent_server(ns: DnsStub) -> None:
    ns.set_silent(True)
    started = time.monotonic()
    with pytest.raises(dns.exception.Timeout):
        propagation.query_txt("127.0.0.1", ns.port, NAME, timeout=0.5)
    assert time.monotonic() - started < 5


def test_lookup_cname_asks_the_given_servers(zones: ZoneStore, ns: DnsStub) -> None:
    servers = [server(ns)]
    assert propagation.lookup_cname(NAME, servers, timeout=2) is None
    publish(zones, "example.com", "_acme-challenge.mail", ["acme.example.net."], rtype="CNAME")
    assert propagation.lookup_cname(NAME, servers, timeout=2) == "acme.example.net"
    ns.set_silent(True)
    with pytest.raises(PropagationError, match=f"No nameserver answered the CNAME query for "
                                               f"{NAME}"):
        propagation.lookup_cname(NAME, servers, timeout=0.3)


# -- waiting ------------------------------------------------------------------------------------


def test_wait_ends_soon_after_the_slower_of_two_delays(zones: ZoneStore) -> None:
    with DnsStub(zones.view(1.0)) as fast, DnsStub(zones.view(3.0)) as slow:
        publish(zones, "example.com", "_acme-challenge.mail", ["token-1"])
        started = time.monotonic()
        waited = propagation.wait_for_records(
            [Check((server(fast), server(slow)), {NAME: frozenset({"token-1"})})], timeout=30)
        elapsed = time.monotonic() - started
    assert 3.0 <= waited <= elapsed < 30
    # The fast server was satisfied first and not asked again.
    assert fast.queries.count((NAME, "TXT")) < slow.queries.count((NAME, "TXT"))


def test_server_that_never_serves_fails_naming_server_name_and_what_it_saw(
        zones: ZoneStore) -> None:
    with DnsStub(zones.view()) as live, DnsStub(zones.view(3600.0)) as stuck:
        publish(zones, "example.com", "_acme-challenge.mail", ["token-1"])
        with pytest.raises(PropagationError) as caught:
            propagation.wait_for_records(
                [Check((server(live), server(stuck)), {NAME: frozenset({"token-1"})})],
                timeout=2)
    message = str(caught.value)
    assert "within 2 seconds" in message
    assert f"127.0.0.1:{stuck.port} for {NAME}: answers NXDOMAIN" in message
    assert f"127.0.0.1:{live.port}" not in message


def test_partial_values_and_cname_shadow_are_explained(zones: ZoneStore, ns: DnsStub) -> None:
    publish(zones, "example.com", "_acme-challenge.mail", ["token-1"])
    publish(zones, "example.com", "_acme-challenge.mail.news", ["elsewhere.example.net."],
            rtype="CNAME")
    shadowed = "_acme-challenge.mail.news.example.com"
    with pytest.raises(PropagationError) as caught:
        propagation.wait_for_records(
            [Check((server(ns),), {NAME: frozenset({"token-1", "token-2"}),
                                   shadowed: frozenset({"token-3"})})], timeout=1)
    message = str(caught.value)
    assert f"for {NAME}: serves token-1 but 1 expected value(s) are missing" in message
    assert (f"for {shadowed}: answers with a CNAME to elsewhere.example.net: a CNAME or "
            f"wildcard shadows the challenge name") in message


def test_dead_address_does_not_stall_a_server_that_has_a_live_one(zones: ZoneStore) -> None:
    with DnsStub(zones.view()) as live:
        publish(zones, "example.com", "_acme-challenge.mail", ["token-1"])
        # 127.0.0.2 has nothing on that port: a broken address next to a working one.
        both = Nameserver("ns1.example", ("127.0.0.2", "127.0.0.1"), live.port)
        waited = propagation.wait_for_records(
            [Check((both,), {NAME: frozenset({"token-1"})})], timeout=20, query_timeout=0.5)
    assert waited < 20
    assert (NAME, "TXT") in live.queries


def test_unreachable_server_is_reported_as_no_answer(ns: DnsStub) -> None:
    ns.set_silent(True)
    with pytest.raises(PropagationError, match=r"no answer from 127\.0\.0\.1"):
        propagation.wait_for_records(
            [Check((server(ns),), {NAME: frozenset({"v"})})], timeout=1, query_timeout=0.3)


def test_polling_interval_starts_short_and_backs_off_gently(ns: DnsStub) -> None:
    now = [0.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    with pytest.raises(PropagationError):
        propagation.wait_for_records([Check((server(ns),), {NAME: frozenset({"v"})})],
                                     timeout=10, clock=lambda: now[0], sleep=sleep)
    assert pauses[:4] == pytest.approx([1.0, 1.25, 1.5625, 1.953125])
    assert max(pauses) == 2.0
    assert sum(pauses) == pytest.approx(10.0)
