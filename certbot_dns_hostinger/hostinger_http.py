"""HTTP to Hostinger's DNS API: session, authentication, timeouts, retries and errors.

Knows nothing about records or certbot. Every request carries the token in its
Authorization header only; every error text has the token redacted.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from certbot_dns_hostinger import __version__
from certbot_dns_hostinger.hostinger_wait import (
    RETRY_AFTER_CAP,
    backoff_delay,
    describe_wait,
    held_until,
    hold,
    retry_after_seconds,
    retry_delay,
)

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
FINGERPRINT_DIGITS = 8
"""Hex digits of the token's SHA-256 kept as the account's fingerprint in the journal."""
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NOT_A_ZONE_STATUSES = frozenset({404, 422})
EXCERPT_LENGTH = 120

Sleeper = Callable[[float], None]


class HostingerError(Exception):
    """A request to Hostinger's API failed; the text is one line meant for the user.

    ``retried`` is true when an earlier attempt of the request failed in a way that may
    have let it through (network error, 429, 5xx), so a final refusal proves nothing.
    """

    def __init__(self, message: str, status: int | None = None, retried: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retried = retried


class TokenRejectedError(HostingerError):
    """The API answered 401: the token is wrong, revoked or expired."""


class RateLimitedError(HostingerError):
    """The API asked to wait longer than the client waits; nothing more is sent to it."""

    def __init__(self, message: str, status: int | None, until: float) -> None:
        super().__init__(message, status)
        self.until = until


def token_fingerprint(token: str) -> str:
    """A few hex digits of the token's SHA-256: tells accounts apart, reveals nothing."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:FINGERPRINT_DIGITS]



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


class ApiSession:
    """One token's HTTP session with the API: requests with retries, errors as one line."""

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
        self.sleep = sleep
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
        )

    def get_zone(self, zone: str, step: str, missing_ok: bool = False) -> Any:
        """The JSON list of a zone read, or None when ``missing_ok`` and it is not a zone."""
        response, _ = self._request("GET", zone, None, step)
        if missing_ok and response.status_code in NOT_A_ZONE_STATUSES:
            logger.debug("%s is not a zone of this account (HTTP %s)", zone, response.status_code)
            return None
        self._raise_for_status(response, step, zone)
        payload = json_or_none(response)
        if not isinstance(payload, list):  # the API answers a bare array of rrsets
            raise HostingerError(f"Unexpected answer from Hostinger's API while {step} for zone "
                                 f"{zone}: {excerpt(self._redact(response.text or 'empty'))}")
        return payload

    def write(self, method: str, zone: str, body: dict[str, Any], step: str) -> None:
        """Send a PUT or DELETE with a JSON body; raise :class:`HostingerError` unless 2xx."""
        logger.debug("%s zone %s: %s", method, zone, json.dumps(body, sort_keys=True))
        response, attempts = self._request(method, zone, body, step)
        self._raise_for_status(response, step, zone, retried=attempts > 1)

    def _request(
        self, method: str, zone: str, body: dict[str, Any] | None, step: str
    ) -> tuple[requests.Response, int]:
        """The final response and the number of attempts it took."""
        url = self._base_url + ZONE_PATH + quote(zone.rstrip(".").lower(), safe="")
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            self._check_hold(step, zone)
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
                             self._redact(_describe(error)), delay)
            except requests.RequestException as error:
                raise HostingerError(
                    f"Request to Hostinger's API failed while {step} for zone {zone}: "
                    f"{self._redact(_describe(error))}"
                ) from None
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response, attempt
                self._stop_on_long_wait(response, step, zone)
                if last:
                    return response, attempt
                delay = retry_delay(response.headers, attempt)
                logger.debug("%s %s answered HTTP %s; retry in %.1f s", method, url,
                             response.status_code, delay)
                response.close()
            self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_hold(self, step: str, zone: str) -> None:
        until = held_until(self._base_url)
        if until is not None:
            raise RateLimitedError(
                f"Not {step} for zone {zone}: Hostinger rate-limited the API token and asked "
                f"to wait {describe_wait(until - time.time(), until)}, so nothing more is sent "
                "to it", None, until)

    def _stop_on_long_wait(self, response: requests.Response, step: str, zone: str) -> None:
        """Raise at once when Retry-After asks for longer than the client waits."""
        seconds = retry_after_seconds(response.headers)
        if seconds is None or seconds <= RETRY_AFTER_CAP:
            return
        until = time.time() + seconds
        hold(self._base_url, until)
        response.close()
        status = response.status_code
        who = ("Hostinger rate-limited the API token" if status == 429
               else f"Hostinger's API answered HTTP {status}")
        raise RateLimitedError(
            f"{who} while {step} for zone {zone} and asked to wait "
            f"{describe_wait(seconds, until)}; no further request was sent", status, until)

    def _raise_for_status(self, response: requests.Response, step: str, zone: str,
                          retried: bool = False) -> None:
        if 200 <= response.status_code < 300:
            return
        detail = self._redact(describe_error_body(response))
        status = response.status_code
        text = f"Hostinger API error while {step} for zone {zone}: HTTP {status}: {detail}"
        hint = STATUS_HINTS.get(status)
        if hint:
            text = f"{text}. {hint}"
        error_type = TokenRejectedError if status == 401 else HostingerError
        raise error_type(text, status, retried)

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


def describe_error_body(response: requests.Response) -> str:
    """The API's message, field errors and correlation id, or a short excerpt of a non-JSON body."""
    payload = json_or_none(response)
    if not isinstance(payload, Mapping):
        text = re.sub(r"<[^>]*>", " ", response.text or "")
        text = " ".join(text.split())
        return f"non-JSON answer: {excerpt(text)}" if text else "empty answer"
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


def json_or_none(response: requests.Response) -> Any:
    """The decoded JSON body, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def excerpt(text: str) -> str:
    """At most EXCERPT_LENGTH characters of ``text``, marked when cut."""
    return text if len(text) <= EXCERPT_LENGTH else text[:EXCERPT_LENGTH] + "..."


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
