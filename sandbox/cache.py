"""A cache outside the checkout for slow-to-make test material (Debian roots, old certbots).

``$CERTBOT_DNS_HOSTINGER_CACHE`` or ``/var/cache/certbot-dns-hostinger``. Entries are
named after a hash of everything that went into them, so a change makes a new entry;
writers take a lock, so two test runs never build the same entry at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

DEFAULT_CACHE = "/var/cache/certbot-dns-hostinger"


def cache_dir(kind: str) -> Path:
    """The cache folder for ``kind`` (``roots``, ``venvs``), created when missing."""
    path = Path(os.environ.get("CERTBOT_DNS_HOSTINGER_CACHE", DEFAULT_CACHE)) / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def key(*parts: object) -> str:
    """A short, stable name for the inputs of a cache entry."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


@contextlib.contextmanager
def locked(folder: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock named ``name`` in ``folder`` (blocks until it is free)."""
    with (folder / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
