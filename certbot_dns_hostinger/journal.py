"""A small on-disk list of TXT values written and not yet removed.

The authenticator records every value before it writes it and forgets it once it is
removed, so values left behind by an interrupted run (kill -9, power loss) can be
removed by the next run. The file holds no secret: zone, name and challenge value
only, plus the API URL they were written through. It is written atomically, 0600.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

JOURNAL_NAME = "dns-hostinger-pending.json"
FILE_MODE = 0o600


@dataclass(frozen=True, order=True)
class Entry:
    """One TXT value this plugin wrote: zone, zone-relative name, bare value."""

    api_url: str
    zone: str
    name: str
    value: str


def by_zone(entries: Iterable[Entry]) -> dict[str, dict[str, set[str]]]:
    """Values grouped by zone, then by zone-relative name."""
    grouped: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for entry in entries:
        grouped[entry.zone][entry.name].add(entry.value)
    return grouped


class Journal:
    """The journal file under certbot's work directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / JOURNAL_NAME

    def load(self) -> set[Entry]:
        """Entries on disk; an unreadable or corrupt journal is reported and treated as empty."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return set()
        except OSError as error:
            logger.warning("Cannot read %s (%s); earlier leftovers are not cleaned", self.path,
                           error.strerror)
            return set()
        try:
            return {Entry(**item) for item in json.loads(raw)}
        except (ValueError, TypeError) as error:
            logger.warning("Ignoring corrupt journal %s: %s", self.path, error)
            return set()

    def add(self, entries: Iterable[Entry]) -> None:
        """Record entries (before they are written to the zone)."""
        self._save(self.load() | set(entries))

    def discard(self, entries: Iterable[Entry]) -> None:
        """Forget entries (after they were removed from the zone)."""
        self._save(self.load() - set(entries))

    def _save(self, entries: set[Entry]) -> None:
        if not entries:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps([asdict(entry) for entry in sorted(entries)], indent=1)
        handle, temp = tempfile.mkstemp(prefix=".journal-", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                os.fchmod(stream.fileno(), FILE_MODE)
                stream.write(payload)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
