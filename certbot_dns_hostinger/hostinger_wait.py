"""When to retry a request to Hostinger's API, and when to stop sending altogether.

Plain functions on header values and clocks; no HTTP, no certbot. A ``Retry-After``
up to :data:`RETRY_AFTER_CAP` is waited for; a longer one puts the API URL on hold for
the rest of the process: retrying earlier than asked is the repeated 429 that can get
an IP address blocked.
"""

from __future__ import annotations

import datetime
import email.utils
import random
import re
import time
from collections.abc import Mapping

BACKOFF_BASE = 1.0
"""First retry delay in seconds; doubled on every further attempt."""
BACKOFF_CAP = 16.0
"""Longest delay between two attempts when the API gives no Retry-After."""
RETRY_AFTER_CAP = 60.0
"""Longest Retry-After the client waits for; a longer one stops every request at once."""

_HOLD_UNTIL: dict[str, float] = {}
"""API base URL -> wall-clock time before which no request is sent to it.

Process-wide on purpose: ``certbot renew`` makes one authenticator per certificate, and a
long Retry-After must silence all of them, not only the one that received it.
"""


def backoff_delay(attempt: int) -> float:
    """Capped exponential backoff for retry number ``attempt``, jittered in its upper half."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto


def retry_delay(headers: Mapping[str, str], attempt: int) -> float:
    """Delay before the next attempt: Retry-After (seconds or HTTP date) if given, capped."""
    seconds = retry_after_seconds(headers)
    if seconds is None:
        return backoff_delay(attempt)
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds the Retry-After header asks for, or None without a usable header."""
    header = headers.get("Retry-After")
    return parse_retry_after(header) if header else None


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


def hold(url: str, until: float) -> None:
    """Send nothing to ``url`` before the wall-clock time ``until``."""
    _HOLD_UNTIL[url] = max(until, _HOLD_UNTIL.get(url, 0.0))


def held_until(url: str) -> float | None:
    """The end of the hold on ``url``, or None when requests may be sent."""
    until = _HOLD_UNTIL.get(url)
    if until is not None and time.time() >= until:
        _HOLD_UNTIL.pop(url, None)
        return None
    return until


def clear_holds() -> None:
    """Forget every hold, as a new process starts (the test suite runs many in one)."""
    _HOLD_UNTIL.clear()


def describe_wait(seconds: float, until: float) -> str:
    """``60 min 0 s (until 2026-08-10 14:03:20 UTC)``: a wait, as a length and a UTC time."""
    total = max(0, round(seconds))
    minutes, rest = divmod(total, 60)
    length = f"{minutes} min {rest} s" if minutes else f"{rest} s"
    moment = datetime.datetime.fromtimestamp(until, datetime.timezone.utc)
    return f"{length} (until {moment:%Y-%m-%d %H:%M:%S} UTC)"
