"""Wait until every authoritative nameserver serves the expected TXT values.

Knows nothing about certbot or Hostinger's API. Queries go straight to each
nameserver address (recursion off, UDP with TCP fallback on truncation), so no
recursive resolver's cached NXDOMAIN can hide or fake a record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype

from certbot_dns_hostinger.dns_lookup import Nameserver, ask

logger = logging.getLogger(__name__)

QUERY_TIMEOUT = 2.0
"""Seconds one query to one address may take before the next address is tried."""
POLL_INTERVAL = 0.5
"""Shortest time between the starts of two polling rounds (used for the first 2 minutes)."""
MAX_POLL_INTERVAL = 2.0
"""Longest time between two polling rounds (reached after 8 minutes of waiting)."""
POLL_BACKOFF = 1 / 240
"""The interval is this fraction of the time waited so far, within the two bounds above."""
MIN_QUERY_TIMEOUT = 0.2

Clock = Callable[[], float]
Sleeper = Callable[[float], None]


class PropagationError(Exception):
    """The records did not appear in time."""


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


# -- one question -------------------------------------------------------------------------------


def query_txt(address: str, port: int, fqdn: str, *, timeout: float) -> TxtAnswer:
    """Ask one server, without recursion, for the TXT records at ``fqdn``.

    :raises dns.exception.DNSException: on a timeout or a malformed answer.
    :raises OSError: when the address cannot be reached.
    """
    response = ask(address, port, fqdn, dns.rdatatype.TXT, timeout=timeout, recursive=False)
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
