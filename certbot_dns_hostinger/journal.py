"""A small on-disk list of TXT values written and not yet confirmed gone.

The authenticator records every value before it writes it, so values left behind by a
failed or interrupted run (kill -9, power loss, a read that did not show the value yet)
are removed by the next run. Per value the file holds the API URL and account
fingerprint it was written with, zone, name, value, when it was written and whether a
read has ever shown it; no secret. It is written atomically, 0600. Fields this version
does not know are kept as they are; fields it expects but does not find get a safe
default (older files); items it cannot parse are kept as they are. A file that is not
JSON is moved aside, never overwritten; one that cannot be read stops the run.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

JOURNAL_NAME = "dns-hostinger-pending.json"
FILE_MODE = 0o600
KEY_FIELDS = ("api_url", "zone", "name", "value")


@dataclass(frozen=True, order=True)
class Entry:
    """One TXT value this plugin wrote: zone, zone-relative name, bare value.

    ``account`` is the token's fingerprint; empty for entries of older journals, which
    did not record it.
    """

    api_url: str
    zone: str
    name: str
    value: str
    account: str = ""


@dataclass(frozen=True)
class Status:
    """What the journal knows about an entry besides its identity."""

    written_at: float
    """Seconds since the epoch when the entry was recorded (just before its write)."""
    seen: bool = False
    """True once a read of the zone has shown the value."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Fields written by another version, kept as found."""


class JournalError(Exception):
    """The journal exists but cannot be read; it is never replaced then. One line."""


class Journal:
    """The journal file under certbot's work directory.

    Never overwrites what it could not read: a corrupt file is moved aside (and named in
    a warning), an unreadable one stops the run, and items it cannot parse are kept.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / JOURNAL_NAME
        self._unparsed: list[Any] = []

    def load(self) -> dict[Entry, Status]:
        """Entries on disk.

        :raises JournalError: when the file exists but cannot be read (permissions).
        """
        self._unparsed = []
        try:
            raw = self.path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):  # nothing there to lose
            return {}
        except OSError as error:
            raise JournalError(
                f"Cannot read {self.path} ({error.strerror or error}); it lists challenge "
                "values that may still be in the zones, so it is not replaced. Make it "
                "readable by the user certbot runs as, then run again.") from None
        try:
            items = json.loads(raw.decode("utf-8"))
            if not isinstance(items, list):
                raise ValueError("not a list")
        except ValueError as error:
            self._move_aside(error)
            return {}
        now = time.time()
        entries: dict[Entry, Status] = {}
        for item in items:
            parsed = _parse(item, now)
            if parsed is None:
                logger.warning("Keeping an unreadable entry in %s as it is: %.80r", self.path,
                               item)
                self._unparsed.append(item)
                continue
            entries[parsed[0]] = parsed[1]
        return entries

    def _move_aside(self, error: ValueError) -> None:
        """Rename a corrupt journal so that no write replaces it, and say where it went."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = self.path.with_name(f"{JOURNAL_NAME}.corrupt-{stamp}")
        number = 1
        while aside.exists():
            number += 1
            aside = self.path.with_name(f"{JOURNAL_NAME}.corrupt-{stamp}-{number}")
        os.replace(self.path, aside)
        os.chmod(aside, FILE_MODE)
        logger.warning("Moved the corrupt journal %s aside to %s (%s); the challenge values "
                       "it lists are not removed automatically: delete them in hPanel if they "
                       "are still there, then delete that file.", self.path, aside,
                       _short(error))

    def add(self, entries: Iterable[Entry]) -> None:
        """Record entries (before they are written to the zone); known ones keep their status."""
        current = self.load()
        now = time.time()
        for entry in entries:
            current.setdefault(entry, Status(now))
        self._save(current)

    def update(self, *, seen: Iterable[Entry] = (), forget: Iterable[Entry] = ()) -> None:
        """Mark entries a read has shown, and forget entries that are gone, in one write."""
        current = self.load()
        for entry in seen:
            if entry in current:
                current[entry] = replace(current[entry], seen=True)
        for entry in forget:
            current.pop(entry, None)
        self._save(current)

    def discard(self, entries: Iterable[Entry]) -> None:
        """Forget entries (they are gone from the zone)."""
        self.update(forget=entries)

    def _save(self, entries: Mapping[Entry, Status]) -> None:
        """Write ``entries`` and the items the last load could not parse, as found."""
        if not entries and not self._unparsed:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        items = [_dump(entry, entries[entry]) for entry in sorted(entries)] + self._unparsed
        payload = json.dumps(items, indent=1, sort_keys=True)
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


def _short(error: ValueError) -> str:
    return " ".join(str(error).split())[:120]


def by_zone(entries: Iterable[Entry]) -> dict[str, dict[str, set[str]]]:
    """zone -> zone-relative name -> values."""
    grouped: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for entry in entries:
        grouped[entry.zone][entry.name].add(entry.value)
    return grouped


def _parse(item: Any, now: float) -> tuple[Entry, Status] | None:
    """One journal item; missing new fields get safe defaults, unknown fields are kept."""
    if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in KEY_FIELDS):
        return None
    account = item.get("account")
    written_at = item.get("written_at")
    seen = item.get("seen")
    entry = Entry(item["api_url"], item["zone"], item["name"], item["value"],
                  account if isinstance(account, str) else "")
    extra = {k: v for k, v in item.items()
             if k not in {*KEY_FIELDS, "account", "written_at", "seen"}}
    status = Status(
        # an older journal did not record the time: count from the first run that reads it
        float(written_at) if isinstance(written_at, (int, float)) else now,
        seen if isinstance(seen, bool) else False,
        extra,
    )
    return entry, status


def _dump(entry: Entry, status: Status) -> dict[str, Any]:
    return {**status.extra, "api_url": entry.api_url, "zone": entry.zone, "name": entry.name,
            "value": entry.value, "account": entry.account,
            "written_at": round(status.written_at, 3), "seen": status.seen}
