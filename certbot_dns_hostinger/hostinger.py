"""Client for Hostinger's DNS API: zone discovery and value-aware TXT add/remove.

Knows nothing about certbot. Every change it makes is limited to the TXT values it
is asked to add or remove; values owned by anybody else are written back exactly as
read (see ``docs/reference.rst`` for the traps of the API this module works around).
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import random
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from certbot_dns_hostinger import __version__

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://developers.hostinger.com"
ZONE_PATH = "/api/dns/v1/zones/"
USER_AGENT = f"certbot-dns-hostinger/{__version__}"

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a TCP/TLS connection to the API."""
READ_TIMEOUT = 30.0
"""Seconds to wait for the API to answer a request."""
MAX_ATTEMPTS = 4
"""Attempts per request, first one included (Hostinger may block IPs that keep hitting 429)."""
BACKOFF_BASE = 1.0
"""First retry delay in seconds; doubled on every further attempt."""
BACKOFF_CAP = 16.0
"""Longest delay between two attempts when the API gives no Retry-After."""
RETRY_AFTER_CAP = 60.0
"""Longest Retry-After the client honours; longer values are clamped to this."""
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NOT_A_ZONE_STATUSES = frozenset({404, 422})
CONFLICT_CODE = "[DNS:4008]"
RECHECK_ATTEMPTS = 3
"""Reads after a DNS:4008 answer before the values are declared in conflict (reads may lag)."""
RECHECK_DELAY = 2.0
EXCERPT_LENGTH = 120
MAX_ZONE_LABELS = 127

Sleeper = Callable[[float], None]


class HostingerError(Exception):
    """A request to Hostinger's API failed; the text is one line meant for the user."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TokenRejectedError(HostingerError):
    """The API answered 401: the token is wrong, revoked or expired."""


@dataclass(frozen=True)
class RRSet:
    """One record set of a zone as the API returns it (TXT contents still quoted)."""

    name: str
    type: str
    ttl: int
    contents: tuple[str, ...]

    def to_body(self) -> dict[str, Any]:
        """The rrset in the shape a PUT body expects."""
        return {
            "name": self.name,
            "type": self.type,
            "ttl": self.ttl,
            "records": [{"content": content} for content in self.contents],
        }


def unquote_txt(content: str) -> str:
    """Remove one pair of surrounding double quotes, as the API adds them to TXT values."""
    if len(content) >= 2 and content[0] == '"' and content[-1] == '"':
        return content[1:-1]
    return content


def check_api_url(url: str) -> str:
    """Validate the API base URL and return it without a trailing slash.

    :raises ValueError: with a one-line reason when the URL is unusable or not https
        (plain http is accepted only for a loopback host, for local testing).
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"{url!r} must not contain a user name, password, query or fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(f"{url!r} uses plain http; only https is allowed outside loopback")
    return url.strip().rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def zone_candidates(fqdn: str) -> list[str]:
    """Suffixes of ``fqdn`` that could be a zone, longest first.

    Single labels (TLDs) and names whose first label starts with ``_`` are skipped:
    neither can be a domain in a Hostinger account.
    """
    labels = fqdn.rstrip(".").lower().split(".")
    suffixes = (".".join(labels[i:]) for i in range(len(labels) - 1))
    return [suffix for suffix in suffixes if not suffix.startswith("_")]


def relative_name(fqdn: str, zone: str) -> str:
    """The name of ``fqdn`` relative to ``zone`` (``@`` for the apex), compared by labels."""
    name_labels = fqdn.rstrip(".").lower().split(".")
    zone_labels = zone.rstrip(".").lower().split(".")
    if name_labels == zone_labels:
        return "@"
    if name_labels[-len(zone_labels):] != zone_labels:
        raise ValueError(f"{fqdn} is not inside zone {zone}")
    return ".".join(name_labels[: -len(zone_labels)])


def absolute_name(name: str, zone: str) -> str:
    """The absolute name (no trailing dot) of a zone-relative ``name``."""
    name = name.rstrip(".").lower()
    return zone if name in ("@", "") else f"{name}.{zone}"


class HostingerClient:
    """Talks to Hostinger's DNS API for one token.

    Zone lookups are cached for the life of the object (one certbot run), so every
    suffix is probed at most once.
    """

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
        max_attempts: int = MAX_ATTEMPTS,
        verify: bool | str = True,
        sleep: Sleeper = time.sleep,
    ) -> None:
        self._token = token
        self._base_url = check_api_url(api_url)
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._verify = verify
        self._sleep = sleep
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
        )
        self._zone_probes: dict[str, bool] = {}
        self._fresh_records: dict[str, list[RRSet]] = {}

    # -- zone discovery -------------------------------------------------------------

    def find_zone(self, fqdn: str) -> str | None:
        """The longest suffix of ``fqdn`` that is a zone of this account, or None."""
        for candidate in zone_candidates(fqdn):
            if self._is_zone(candidate):
                return candidate
        return None

    def _is_zone(self, candidate: str) -> bool:
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
        body = _append_body(rrsets, wanted, ttl)
        if not body:
            logger.debug("All TXT values already present in zone %s", zone)
            return
        self._fresh_records.pop(zone, None)
        try:
            self._write("PUT", zone, {"overwrite": False, "zone": body}, "adding TXT records")
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
                self._sleep(RECHECK_DELAY)
            rrsets = self._get_zone(zone, "re-reading records") or []
            if not _append_body(rrsets, wanted, ttl=0):
                logger.debug("DNS:4008 in zone %s: values were already present", zone)
                return
        raise HostingerError(_conflict_message(zone, wanted, rrsets, error), 422)

    # -- removing ---------------------------------------------------------------------

    def remove_txt_values(self, zone: str, unwanted: Mapping[str, Collection[str]]) -> None:
        """Remove exactly the values in ``unwanted`` (relative name -> values) from ``zone``.

        Others' values at the same names are written back as read, with the rrset's TTL;
        rrsets left empty are deleted in one call. Values already gone are not an error.
        """
        rrsets = self._get_zone(zone, "reading records before cleanup") or []
        self._fresh_records.pop(zone, None)
        keep, delete = _removal_plan(rrsets, unwanted)
        if keep:
            body = {"overwrite": True, "zone": [rrset.to_body() for rrset in keep]}
            self._write("PUT", zone, body, "removing TXT records")
        if delete:
            filters = [{"name": name, "type": "TXT"} for name in delete]
            self._write("DELETE", zone, {"filters": filters}, "deleting TXT records")

    # -- HTTP -------------------------------------------------------------------------

    def _get_zone(self, zone: str, step: str, missing_ok: bool = False) -> list[RRSet] | None:
        response = self._request("GET", zone, None, step)
        if missing_ok and response.status_code in NOT_A_ZONE_STATUSES:
            logger.debug("%s is not a zone of this account (HTTP %s)", zone, response.status_code)
            return None
        self._raise_for_status(response, step, zone)
        return parse_rrsets(_json_or_none(response))

    def _write(self, method: str, zone: str, body: dict[str, Any], step: str) -> None:
        logger.debug("%s zone %s: %s", method, zone, json.dumps(body, sort_keys=True))
        response = self._request(method, zone, body, step)
        self._raise_for_status(response, step, zone)

    def _request(
        self, method: str, zone: str, body: dict[str, Any] | None, step: str
    ) -> requests.Response:
        url = self._base_url + ZONE_PATH + quote(zone.rstrip(".").lower(), safe="")
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            try:
                response = self._session.request(
                    method,
                    url,
                    json=body,
                    timeout=self._timeout,
                    verify=self._verify,
                    allow_redirects=False,
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                if last:
                    raise HostingerError(
                        f"Network error talking to Hostinger's API while {step} for zone {zone}"
                        f" after {attempt} attempts: {self._redact(_describe(error))}"
                    ) from None
                delay = backoff_delay(attempt)
                logger.debug("%s %s failed (%s); retry in %.1f s", method, url,
                             _describe(error), delay)
            except requests.RequestException as error:
                raise HostingerError(
                    f"Request to Hostinger's API failed while {step} for zone {zone}: "
                    f"{self._redact(_describe(error))}"
                ) from None
            else:
                if response.status_code not in RETRY_STATUSES or last:
                    return response
                delay = retry_delay(response, attempt)
                logger.debug("%s %s answered HTTP %s; retry in %.1f s", method, url,
                             response.status_code, delay)
                response.close()
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_for_status(self, response: requests.Response, step: str, zone: str) -> None:
        if 200 <= response.status_code < 300:
            return
        detail = self._redact(describe_error_body(response))
        status = response.status_code
        text = f"Hostinger API error while {step} for zone {zone}: HTTP {status}: {detail}"
        hint = STATUS_HINTS.get(status)
        if hint:
            text = f"{text}. {hint}"
        error_type = TokenRejectedError if status == 401 else HostingerError
        raise error_type(text, status)

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "<redacted>") if self._token else text


STATUS_HINTS = {
    401: "The API token is invalid or has expired: create a new one in hPanel "
    "(Profile > API) and put it in dns_hostinger_api_token in the credentials file",
    403: "The API token may not manage this zone",
    404: "Hostinger does not know this zone in the token's account",
    429: "Hostinger is rate limiting this client; wait a few minutes before retrying "
    "(repeated 429s can get the IP address blocked)",
}


def backoff_delay(attempt: int) -> float:
    """Capped exponential backoff for retry number ``attempt``, jittered in its upper half."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto


def retry_delay(response: requests.Response, attempt: int) -> float:
    """Delay before the next attempt: Retry-After (seconds or HTTP date) if given, capped."""
    header = response.headers.get("Retry-After")
    seconds = parse_retry_after(header) if header else None
    if seconds is None:
        return backoff_delay(attempt)
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def parse_retry_after(value: str) -> float | None:
    """Seconds to wait from a Retry-After header value, or None when unparsable."""
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when.timestamp() - time.time()


def parse_rrsets(payload: Any) -> list[RRSet]:
    """Parse a zone read defensively: unknown fields are ignored, malformed entries skipped."""
    if not isinstance(payload, list):
        raise HostingerError(f"Unexpected answer from Hostinger's API: {_excerpt(repr(payload))}")
    rrsets = []
    for entry in payload:
        if not isinstance(entry, Mapping):
            continue
        name, rtype, ttl = entry.get("name"), entry.get("type"), entry.get("ttl")
        records = entry.get("records")
        if not isinstance(name, str) or not isinstance(rtype, str) or not isinstance(records, list):
            continue
        contents = tuple(
            record["content"]
            for record in records
            if isinstance(record, Mapping) and isinstance(record.get("content"), str)
        )
        rrsets.append(RRSet(name.lower(), rtype.upper(), ttl if isinstance(ttl, int) else 0,
                            contents))
    return rrsets


def describe_error_body(response: requests.Response) -> str:
    """The API's message, field errors and correlation id, or a short excerpt of a non-JSON body."""
    payload = _json_or_none(response)
    if not isinstance(payload, Mapping):
        text = re.sub(r"<[^>]*>", " ", response.text or "")
        text = " ".join(text.split())
        return f"non-JSON answer: {_excerpt(text)}" if text else "empty answer"
    message = payload.get("message") or payload.get("error") or "no message"
    parts = [str(message)]
    field_errors = payload.get("errors")
    if isinstance(field_errors, Mapping) and field_errors:
        parts.append("; ".join(
            f"{field}: {_join_messages(field_errors[field])}" for field in sorted(field_errors)
        ))
    correlation = payload.get("correlation_id")
    if correlation:
        parts.append(f"correlation id {correlation}")
    return " | ".join(parts)


def _join_messages(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_LENGTH else text[:EXCERPT_LENGTH] + "..."


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _txt_rrsets(rrsets: Iterable[RRSet]) -> dict[str, RRSet]:
    return {rrset.name: rrset for rrset in rrsets if rrset.type == "TXT"}


def _append_body(
    rrsets: Iterable[RRSet], wanted: Mapping[str, Collection[str]], ttl: int
) -> list[dict[str, Any]]:
    """PUT (overwrite: false) rrsets carrying every wanted value not yet present."""
    existing = _txt_rrsets(rrsets)
    body = []
    for name in sorted(wanted):
        current = existing.get(name.lower())
        present = {unquote_txt(content) for content in current.contents} if current else set()
        missing = sorted(set(wanted[name]) - present)
        if missing:
            rrset_ttl = current.ttl if current and current.ttl else ttl
            body.append(RRSet(name.lower(), "TXT", rrset_ttl, tuple(missing)).to_body())
    return body


def _removal_plan(
    rrsets: Iterable[RRSet], unwanted: Mapping[str, Collection[str]]
) -> tuple[list[RRSet], list[str]]:
    """Split the touched TXT rrsets into those to write back and names to delete."""
    existing = _txt_rrsets(rrsets)
    keep: list[RRSet] = []
    delete: list[str] = []
    for name in sorted(unwanted):
        current = existing.get(name.lower())
        if current is None:
            continue
        ours = set(unwanted[name])
        remaining = tuple(c for c in current.contents if unquote_txt(c) not in ours)
        if len(remaining) == len(current.contents):
            continue
        if remaining:
            keep.append(RRSet(current.name, "TXT", current.ttl, remaining))
        else:
            delete.append(current.name)
    return keep, delete


def _conflict_message(
    zone: str, wanted: Mapping[str, Collection[str]], rrsets: list[RRSet], error: HostingerError
) -> str:
    """Explain a DNS:4008 that is not a duplicate: a CNAME at the name or a delegated sub-zone."""
    present = {(rrset.name, rrset.type) for rrset in rrsets}
    missing = {rrset["name"] for rrset in _append_body(rrsets, wanted, ttl=0)}
    causes = []
    for name in sorted(missing):
        fqdn = absolute_name(name, zone)
        if (name.lower(), "CNAME") in present:
            causes.append(f"{fqdn} has a CNAME record, which cannot coexist with TXT")
        else:
            causes.append(
                f"{fqdn} may lie inside a sub-zone delegated to its own zone or conflict "
                "with another record"
            )
    return f"{error} ({'; '.join(causes)})"
