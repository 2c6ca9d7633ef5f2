"""Removing the challenge values this plugin wrote, and keeping the journal honest.

Knows nothing about certbot: it takes a :class:`.HostingerClient` and a :class:`.Journal`,
logs one-line warnings for what it leaves behind and returns plain values. The rule it
keeps: an entry leaves the journal only when Hostinger accepted the write that removed
its value, or when a read no longer shows a value that an earlier read had shown. A value
written but not shown yet (reads may lag writes) is read again for a few seconds; if it
still does not show, it stays in the journal for the next run. Entries that no read has
shown for 30 days are dropped with a warning.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, MutableMapping, Sequence
from typing import TypeVar

from certbot_dns_hostinger.hostinger import HostingerClient
from certbot_dns_hostinger.hostinger_http import HostingerError, RateLimitedError
from certbot_dns_hostinger.hostinger_records import absolute_name, txt_values
from certbot_dns_hostinger.journal import Entry, Journal, JournalError, Status, by_zone

logger = logging.getLogger(__name__)

REREAD_DELAYS = (1.0, 2.0, 3.0, 4.0)
"""Pauses between reads while a value just written is not shown yet."""
REREAD_BUDGET = sum(REREAD_DELAYS)
"""Seconds of such pauses per :meth:`Cleaner.remove` call, shared by all its zones."""
RECENT_WRITE = 3600.0
"""Only values written less than this many seconds ago are waited for: a read lag is
seconds; a value an hour old that no read shows was most likely never written."""
NEVER_SEEN_LIMIT = 30 * 86400.0
"""Entries that no read has shown within this many seconds of their write are dropped."""
REFUSED_STATUSES = frozenset({400, 401, 403, 404, 422})
"""Statuses by which the API refuses a write outright: nothing of it was applied."""

Key = TypeVar("Key")


def write_refused(error: HostingerError) -> bool:
    """Whether the API certainly applied nothing of the write that raised ``error``.

    Not for a rate limit, 5xx, network error or timeout (the write may have landed),
    nor when an earlier attempt of the same request failed that way.
    """
    return (error.status in REFUSED_STATUSES and not error.retried
            and not isinstance(error, RateLimitedError))


@contextlib.contextmanager
def journaled_write(journal: Journal, entries: Collection[Entry],
                    written: MutableMapping[Key, Entry], keys: Collection[Key]) -> Iterator[None]:
    """Record ``entries`` (in the journal, and ``written`` under ``keys``) for the write
    in the block; forget them again when the API refused that write outright."""
    journal.add(entries)
    written.update(zip(keys, entries, strict=True))
    try:
        yield
    except HostingerError as error:
        if write_refused(error):
            journal.discard(entries)
            for key in keys:
                written.pop(key, None)
        raise


class Cleaner:
    """Removes journal entries' values from their zones, zone by zone."""

    def __init__(self, client: HostingerClient, journal: Journal, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._journal = journal
        self._sleep = sleep
        self._clock = clock
        self._deadline = 0.0  # end of the re-read pauses of the current remove()
        self._removed: set[Entry] = set()  # entries of the current remove() gone already

    def leftovers(self, api_url: str) -> list[Entry]:
        """Journal entries this client may remove: same API URL, same or unknown account.

        Another account's entries are left for that account's runs.
        """
        entries = sorted(self._journal.load())
        mine = [e for e in entries if e.api_url == api_url and e.account in ("",
                                                                              self._client.account)]
        others = len([e for e in entries if e.api_url == api_url]) - len(mine)
        if others:
            logger.debug("Leaving %d journal entries of another Hostinger account alone", others)
        return mine

    def remove_leftovers(self, api_url: str) -> None:
        """Remove what earlier runs left (see :meth:`leftovers`); raises like :meth:`remove`."""
        entries = self.leftovers(api_url)
        if entries:
            logger.info("Removing %d TXT value(s) left by an earlier run", len(entries))
            self.remove(entries, " left by an earlier run")

    def stopped(self, error: RateLimitedError, api_url: str) -> str:
        """The one-line message for a run stopped by a rate limit: what stays, and where."""
        return f"{error}. {left_behind(self._journal, self.leftovers(api_url))}"

    def remove_written(self, entries: Sequence[Entry]) -> None:
        """:meth:`remove` after a run's validation: every failure is one warning, no raise.

        A rate limit was reported in a warning and its entries stay in the journal; a
        journal that cannot be read or written is named in a warning.
        """
        try:
            self.remove(entries)
        except RateLimitedError:
            pass
        except (OSError, JournalError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            logger.warning("Could not update the journal %s while removing the challenge TXT "
                           "value(s) at %s: %s. Delete any of those values hPanel still shows, "
                           "and check the permissions of certbot's --work-dir.",
                           self._journal.path, names(entries), reason)

    def remove(self, entries: Sequence[Entry], origin: str = "") -> list[Entry]:
        """Remove the entries' values; :returns: the entries kept in the journal.

        A zone whose removal fails is reported in one warning and the next zone is tried.
        :raises RateLimitedError: when the API asked to wait longer than the client waits,
            after a warning naming every value that stays (nothing more is sent).
        """
        kept: list[Entry] = []
        zones = sorted(by_zone(entries))
        self._deadline = self._clock() + REREAD_BUDGET
        self._removed = set()
        for index, zone in enumerate(zones):
            mine = [entry for entry in entries if entry.zone == zone]
            try:
                kept += self._remove_zone(zone, mine, origin)
            except RateLimitedError as error:
                rest = [entry for entry in entries if entry.zone in zones[index:]
                        and entry not in self._removed]
                self._warn_failed(rest, origin, error)
                raise
            except HostingerError as error:
                mine = [entry for entry in mine if entry not in self._removed]
                expired = self._expired(mine, self._journal.load())
                self._journal.discard(expired)
                self._warn_expired(expired, origin)
                mine = [entry for entry in mine if entry not in expired]
                if mine:
                    self._warn_failed(mine, origin, error)
                kept += mine
        return kept

    def _expired(self, entries: Iterable[Entry], statuses: dict[Entry, Status]) -> list[Entry]:
        """Entries no read has shown in the NEVER_SEEN_LIMIT since they were written."""
        return [e for e in entries if not _status(statuses, e, self._clock()).seen
                and self._age(statuses, e) > NEVER_SEEN_LIMIT]

    def _remove_zone(self, zone: str, entries: list[Entry], origin: str) -> list[Entry]:
        """Read, remove what shows, re-read for what does not yet; :returns: entries kept."""
        statuses = self._journal.load()
        pending = list(entries)
        unwanted = by_zone(entries)[zone]  # all of them, so a stale read never brings one back
        kept: list[Entry] = []
        delays = iter(REREAD_DELAYS)  # within the deadline shared by all zones
        while True:
            rrsets = self._client.read_records(zone)
            shown = txt_values(rrsets)
            visible = [e for e in pending if e.value in shown.get(e.name, set())]
            absent = [e for e in pending if e not in visible]
            gone = [e for e in absent if _status(statuses, e, self._clock()).seen]
            expired = [e for e in self._expired(absent, statuses) if e not in gone]
            if visible:
                self._journal.update(seen=visible)
                blocked = self._client.remove_from(zone, rrsets, unwanted)
                stuck = [e for e in visible if e.name in blocked]
                self._warn_blocked(stuck, blocked, origin)
                kept += stuck
                gone += [e for e in visible if e not in stuck]
            if gone or expired:
                self._journal.update(forget=[*gone, *expired])
                self._removed.update(gone, expired)
            self._warn_expired(expired, origin)
            pending = [e for e in absent if e not in gone and e not in expired]
            waiting = [e for e in pending if self._age(statuses, e) < RECENT_WRITE]
            delay = next(delays, None) if waiting else None
            if delay is not None:
                delay = min(delay, self._deadline - self._clock())
            if delay is None or delay <= 0:
                break
            logger.debug("%d value(s) in zone %s not shown yet; reading again in %.0f s",
                         len(pending), zone, delay)
            self._sleep(delay)
        self._warn_not_shown(pending, origin)
        return kept + pending

    def _age(self, statuses: dict[Entry, Status], entry: Entry) -> float:
        now = self._clock()
        return now - _status(statuses, entry, now).written_at

    # -- warnings: one line each, naming the values' records ----------------------------

    def _warn_failed(self, entries: Iterable[Entry], origin: str, error: Exception) -> None:
        logger.warning(
            "Could not remove the challenge TXT value(s)%s at %s: %s. They are kept in %s and "
            "removed on the next run; to remove them now, delete those TXT values in hPanel.",
            origin, names(entries), error, self._journal.path)

    def _warn_not_shown(self, entries: list[Entry], origin: str) -> None:
        if entries:
            logger.warning(
                "Hostinger's API does not show the challenge TXT value(s)%s at %s yet, so they "
                "could not be removed; they are kept in %s and the next run removes them.",
                origin, names(entries), self._journal.path)

    def _warn_expired(self, entries: list[Entry], origin: str) -> None:
        if entries:
            logger.warning(
                "Forgetting the challenge TXT value(s)%s at %s: no read of the zone has shown "
                "them in the 30 days since they were written, so they were most likely never "
                "written; if one is in the zone, delete it in hPanel.", origin, names(entries))

    def _warn_blocked(self, entries: list[Entry], blocked: dict[str, str], origin: str) -> None:
        for name in sorted({entry.name for entry in entries}):
            here = [entry for entry in entries if entry.name == name]
            logger.warning(
                "Left the challenge TXT value(s)%s at %s in place: %s. They are kept in %s; "
                "delete them in hPanel to remove them now.",
                origin, names(here), blocked[name], self._journal.path)


def left_behind(journal: Journal, entries: Iterable[Entry]) -> str:
    """One sentence saying which values may remain in the zones, and where they are kept."""
    entries = list(entries)
    if not entries:
        return "Nothing was left behind in the zones."
    return (f"{len(entries)} challenge TXT value(s) may remain at {names(entries)}; they are "
            f"kept in {journal.path} and the next run removes them.")


def names(entries: Iterable[Entry]) -> str:
    """The absolute record names of ``entries``, sorted, comma-separated."""
    return ", ".join(sorted({absolute_name(entry.name, entry.zone) for entry in entries}))


def _status(statuses: dict[Entry, Status], entry: Entry, now: float) -> Status:
    return statuses.get(entry) or Status(now)
