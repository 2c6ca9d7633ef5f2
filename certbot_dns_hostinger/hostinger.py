"""Client for Hostinger's DNS API: zone discovery and value-aware TXT add/remove.

Knows nothing about certbot. Every change it makes is limited to the TXT values it
is asked to add or remove; values owned by anybody else are written back bare, with
their TTL as read, or not at all (see ``docs/reference.rst`` for the traps of the API
this module works around). HTTP
lives in :mod:`.hostinger_http`, record parsing and the add/remove plans in
:mod:`.hostinger_records`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

from certbot_dns_hostinger.hostinger_http import (
    DEFAULT_API_URL,
    ApiSession,
    HostingerError,
    token_fingerprint,
)
from certbot_dns_hostinger.hostinger_records import (
    RRSet,
    append_body,
    conflict_message,
    missing_values,
    parse_rrsets,
    removal_plan,
    zone_candidates,
)

logger = logging.getLogger(__name__)

CONFLICT_CODE = "[DNS:4008]"
RECHECK_ATTEMPTS = 3
"""Reads after a DNS:4008 answer before the values are declared in conflict (reads may lag)."""
RECHECK_DELAY = 2.0


class HostingerClient:
    """Talks to Hostinger's DNS API for one token.

    Zone lookups are cached for the life of the object (one certbot run), so every
    suffix is probed at most once.
    """

    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, **options: Any) -> None:
        """``options`` go to :class:`ApiSession` (timeout, max_attempts, verify, sleep)."""
        self._api = ApiSession(token, api_url, **options)
        # a few hex digits telling this token's account apart in the journal
        self.account = token_fingerprint(token)
        self._zone_probes: dict[str, bool] = {}
        self._fresh_records: dict[str, list[RRSet]] = {}

    # -- zone discovery -------------------------------------------------------------

    def find_zone(self, fqdn: str) -> str | None:
        """The longest suffix of ``fqdn`` that is a zone of this account, or None."""
        for candidate in zone_candidates(fqdn):
            if self.is_zone(candidate):
                return candidate
        return None

    def is_zone(self, candidate: str) -> bool:
        """Whether ``candidate`` is a zone of this account: one GET, kept for the add."""
        candidate = candidate.rstrip(".").lower()
        if candidate not in self._zone_probes:
            records = self._get_zone(candidate, "probing", missing_ok=True)
            self._zone_probes[candidate] = bool(records)
            if records:
                self._fresh_records[candidate] = records
        return self._zone_probes[candidate]

    def zone_records(self, zone: str) -> list[RRSet]:
        """The zone's rrsets, reusing the discovery read when no write happened since."""
        cached = self._fresh_records.get(zone)
        if cached is not None:
            return cached
        records = self._get_zone(zone, "reading records") or []
        self._fresh_records[zone] = records
        return records

    # -- adding -----------------------------------------------------------------------

    def add_txt_values(self, zone: str, wanted: Mapping[str, Collection[str]], ttl: int) -> None:
        """Make every value in ``wanted`` (relative name -> values) present in ``zone``.

        One read (often the one made during discovery) and at most one append of every
        value not already there, carrying all names at once. Existing rrsets keep their
        TTL so that others' records are not changed.
        """
        rrsets = self.zone_records(zone)
        body = append_body(rrsets, wanted, ttl)
        if not body:
            logger.debug("All TXT values already present in zone %s", zone)
            return
        self._fresh_records.pop(zone, None)
        try:
            self._api.write("PUT", zone, {"overwrite": False, "zone": body}, "adding TXT records")
        except HostingerError as error:
            if error.status != 422 or CONFLICT_CODE not in str(error):
                raise
            self._confirm_after_conflict(zone, wanted, error)

    def _confirm_after_conflict(
        self, zone: str, wanted: Mapping[str, Collection[str]], error: HostingerError
    ) -> None:
        """After DNS:4008, succeed only if fresh reads show every value in place."""
        for attempt in range(RECHECK_ATTEMPTS):
            if attempt:
                self._api.sleep(RECHECK_DELAY)
            rrsets = self._get_zone(zone, "re-reading records") or []
            if not missing_values(rrsets, wanted):
                logger.debug("DNS:4008 in zone %s: values were already present", zone)
                return
        raise HostingerError(conflict_message(zone, wanted, rrsets, error), 422, error.retried)

    # -- removing ---------------------------------------------------------------------

    def remove_txt_values(
        self, zone: str, unwanted: Mapping[str, Collection[str]]
    ) -> dict[str, str]:
        """Remove exactly the values in ``unwanted`` (relative name -> values) from ``zone``.

        One fresh read, then :meth:`remove_from`. :returns: name -> reason for the names
        whose values had to stay (see :func:`.hostinger_records.removal_plan`).
        """
        return self.remove_from(zone, self.read_records(zone), unwanted)

    def read_records(self, zone: str) -> list[RRSet]:
        """A fresh read of the zone (never the cached discovery read)."""
        self._fresh_records.pop(zone, None)
        return self._get_zone(zone, "reading records before cleanup") or []

    def remove_from(
        self, zone: str, rrsets: list[RRSet], unwanted: Mapping[str, Collection[str]]
    ) -> dict[str, str]:
        """Remove ``unwanted`` values as seen in ``rrsets`` (a read of ``zone``).

        Others' values at the same names are written back bare with the rrset's TTL as
        read (one PUT); rrsets left empty are deleted (one DELETE); an rrset that cannot
        be written back unchanged is left alone. Values already gone are not an error.
        :returns: name -> reason for each rrset left alone.
        """
        self._fresh_records.pop(zone, None)
        plan = removal_plan(rrsets, unwanted)
        if plan.keep:
            body = {"overwrite": True, "zone": [rrset.to_body() for rrset in plan.keep]}
            self._api.write("PUT", zone, body, "removing TXT records")
        if plan.delete:
            filters = [{"name": name, "type": "TXT"} for name in plan.delete]
            self._api.write("DELETE", zone, {"filters": filters}, "deleting TXT records")
        return plan.blocked

    def _get_zone(self, zone: str, step: str, missing_ok: bool = False) -> list[RRSet] | None:
        payload = self._api.get_zone(zone, step, missing_ok=missing_ok)
        return None if payload is None else parse_rrsets(payload)
