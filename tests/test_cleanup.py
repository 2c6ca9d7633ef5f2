"""Cleanup and the journal against the stand-in API over real HTTP: lag, age, accounts."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from certbot_dns_hostinger.cleanup import NEVER_SEEN_LIMIT, REREAD_BUDGET, REREAD_DELAYS, Cleaner
from certbot_dns_hostinger.hostinger import HostingerClient
from certbot_dns_hostinger.hostinger_http import RateLimitedError, token_fingerprint
from certbot_dns_hostinger.journal import Entry, Journal, Status
from sandbox.accounts import TOKEN, account_zones
from sandbox.hostinger_api import Fault, HostingerStub, ZoneStore

ACCOUNT = token_fingerprint(TOKEN)


class Sleeps(list[float]):
    """Records requested pauses instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "work")


@pytest.fixture
def client(api: HostingerStub) -> HostingerClient:
    return HostingerClient(TOKEN, api.url, sleep=Sleeps())


def entry(api: HostingerStub, value: str, name: str = "_acme-challenge.mail",
          zone: str = "example.com", account: str = ACCOUNT) -> Entry:
    return Entry(api.url, zone, name, value, account)


def write(client: HostingerClient, journal: Journal, *entries: Entry) -> None:
    """What a run does before cleanup: journal first, then the write."""
    journal.add(entries)
    for e in entries:
        client.add_txt_values(e.zone, {e.name: [e.value]}, 60)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_value_not_shown_in_ten_seconds_stays_for_the_next_run(
    api: HostingerStub, store: ZoneStore, client: HostingerClient, journal: Journal,
    caplog: pytest.LogCaptureFixture
) -> None:
    before = store.dump("example.com")
    store.read_lag = 3600.0  # no read in this run shows the write
    ours = entry(api, "v1")
    write(client, journal, ours)
    sleeps = Sleeps()
    kept = Cleaner(client, journal, sleep=sleeps).remove([ours])
    assert kept == [ours]
    assert sleeps == list(REREAD_DELAYS) and sum(sleeps) <= 10
    assert api.calls_summary().count("GET example.com") == 1 + len(REREAD_DELAYS) + 1
    assert warnings(caplog) == [
        "Hostinger's API does not show the challenge TXT value(s) at "
        "_acme-challenge.mail.example.com yet, so they could not be removed; they are kept in "
        f"{journal.path} and the next run removes them."]
    assert list(journal.load()) == [ours]
    store.read_lag = 0.0  # the next run
    Cleaner(client, journal, sleep=sleeps).remove_leftovers(api.url)
    assert store.dump("example.com") == before and not journal.path.exists()


def test_value_removed_as_soon_as_a_read_shows_it(
    api: HostingerStub, store: ZoneStore, client: HostingerClient, journal: Journal
) -> None:
    before = store.dump("example.com")
    store.read_lag = 1.5
    ours = entry(api, "v1")
    write(client, journal, ours)
    started = time.monotonic()
    assert Cleaner(client, journal).remove([ours]) == []
    assert time.monotonic() - started < 8  # the first read after the lag, not the last
    assert store.dump("example.com") == before and not journal.path.exists()


def test_value_seen_before_and_now_absent_is_forgotten_without_waiting(
    api: HostingerStub, store: ZoneStore, client: HostingerClient, journal: Journal
) -> None:
    gone = entry(api, "removed-in-hpanel")
    journal.add([gone])
    journal.update(seen=[gone])
    sleeps = Sleeps()
    assert Cleaner(client, journal, sleep=sleeps).remove([gone]) == []
    assert not sleeps and not journal.path.exists()
    assert api.calls_summary() == ["GET example.com"]


def test_old_value_never_shown_is_dropped_with_a_warning(
    api: HostingerStub, client: HostingerClient, journal: Journal,
    caplog: pytest.LogCaptureFixture
) -> None:
    old, young = entry(api, "never-written"), entry(api, "just-written", "_acme-challenge")
    journal.add([old, young])
    later = time.time() + NEVER_SEEN_LIMIT + 60  # 30 days on
    raw = json.loads(journal.path.read_text())
    for item in raw:
        if item["value"] == "just-written":
            item["written_at"] = later - 5
    journal.path.write_text(json.dumps(raw))
    sleeps = Sleeps()
    kept = Cleaner(client, journal, sleep=sleeps, clock=lambda: later).remove([old, young])
    assert kept == [young]
    assert list(journal.load()) == [young]
    assert warnings(caplog)[0] == (
        "Forgetting the challenge TXT value(s) at _acme-challenge.mail.example.com: no read of "
        "the zone has shown them in the 30 days since they were written, so they were most "
        "likely never written; if one is in the zone, delete it in hPanel.")
    assert sleeps == list(REREAD_DELAYS)  # only for the young one


def test_old_never_shown_entry_of_an_unreadable_zone_is_dropped_too(
    api: HostingerStub, client: HostingerClient, journal: Journal,
    caplog: pytest.LogCaptureFixture
) -> None:
    """E.g. an older journal's entry of another account: its zone is not in this one."""
    foreign = entry(api, "theirs", zone="example.org", account="")
    journal.add([foreign])
    cleaner = Cleaner(client, journal, sleep=Sleeps())
    assert cleaner.remove([foreign]) == [foreign]  # a warning, kept
    assert warnings(caplog)[0].startswith("Could not remove the challenge TXT value(s) at "
                                          "_acme-challenge.mail.example.org: ")
    later = Cleaner(client, journal, sleep=Sleeps(),
                    clock=lambda: time.time() + NEVER_SEEN_LIMIT + 60)
    assert later.remove([foreign]) == []
    assert warnings(caplog)[-1].startswith("Forgetting the challenge TXT value(s) at "
                                           "_acme-challenge.mail.example.org: ")
    assert not journal.path.exists()


def test_hour_old_leftover_not_shown_is_not_waited_for(
    api: HostingerStub, client: HostingerClient, journal: Journal
) -> None:
    ours = entry(api, "an-hour-ago")
    journal.add([ours])
    sleeps = Sleeps()
    Cleaner(client, journal, sleep=sleeps, clock=lambda: time.time() + 7200).remove([ours])
    assert not sleeps and list(journal.load()) == [ours]


def test_disabled_neighbour_keeps_our_value_and_its_entry(
    api: HostingerStub, store: ZoneStore, client: HostingerClient, journal: Journal,
    caplog: pytest.LogCaptureFixture
) -> None:
    store.add_zone("example.com", [*account_zones()["example.com"],
                                   {"name": "_acme-challenge.mail", "type": "TXT", "ttl": 300,
                                    "records": [{"content": "paused", "is_disabled": True}]}])
    ours = entry(api, "v1")
    write(client, journal, ours)
    before = store.dump("example.com")
    assert Cleaner(client, journal).remove([ours]) == [ours]
    assert store.dump("example.com") == before  # nothing written
    assert warnings(caplog) == [
        "Left the challenge TXT value(s) at _acme-challenge.mail.example.com in place: its record "
        "set also holds a disabled record, which the API cannot write back. They are kept in "
        f"{journal.path}; delete them in hPanel to remove them now."]
    (item,) = journal.load().items()
    assert item == (ours, Status(item[1].written_at, seen=True))


def test_long_retry_after_in_cleanup_keeps_everything_and_sends_nothing_more(
    api: HostingerStub, client: HostingerClient, journal: Journal,
    caplog: pytest.LogCaptureFixture
) -> None:
    first, second = entry(api, "v1"), entry(api, "v2", "_acme-challenge.mail", "example.co.uk")
    write(client, journal, first, second)
    api.reset_calls()
    api.inject(Fault(method="GET", status=429, times=50, headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimitedError):
        Cleaner(client, journal).remove([first, second])
    assert len(api.calls) == 1
    assert sorted(journal.load()) == sorted([first, second])
    (warning,) = warnings(caplog)
    assert warning.startswith("Could not remove the challenge TXT value(s) at "
                              "_acme-challenge.mail.example.co.uk, "
                              "_acme-challenge.mail.example.com: Hostinger rate-limited")


def test_journal_of_the_previous_version_is_read_and_unknown_fields_kept(
    api: HostingerStub, store: ZoneStore, client: HostingerClient, journal: Journal
) -> None:
    before = store.dump("example.com")
    client.add_txt_values("example.com", {"_acme-challenge.mail": ["old-format"]}, 60)
    journal.path.parent.mkdir(parents=True)
    journal.path.write_text(json.dumps([
        {"api_url": api.url, "zone": "example.com", "name": "_acme-challenge.mail",
         "value": "old-format"},
        {"api_url": api.url, "zone": "example.co.uk", "name": "_acme-challenge",
         "value": "from-the-future", "account": ACCOUNT, "written_at": time.time(),
         "seen": True, "shard": 7},
        {"zone": "broken"},
    ]))
    loaded = journal.load()
    assert entry(api, "old-format", account="") in loaded
    assert loaded[entry(api, "old-format", account="")].seen is False
    cleaner = Cleaner(client, journal)
    assert len(cleaner.leftovers(api.url)) == 2  # an unknown account may be this one
    cleaner.remove([entry(api, "old-format", account="")])
    assert store.dump("example.com") == before
    left, broken = json.loads(journal.path.read_text())
    assert left["shard"] == 7 and left["value"] == "from-the-future"
    assert broken == {"zone": "broken"}  # kept as found, never dropped


def test_other_accounts_and_other_apis_are_not_leftovers(
    api: HostingerStub, client: HostingerClient, journal: Journal
) -> None:
    mine = entry(api, "mine")
    journal.add([mine, entry(api, "theirs", account="0badc0de"),
                 Entry("https://developers.hostinger.com", "example.com", "x", "y", ACCOUNT)])
    assert Cleaner(client, journal).leftovers(api.url) == [mine]


class Clock:
    """A clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = time.time()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_reread_budget_is_shared_by_all_zones(
    api: HostingerStub, store: ZoneStore, client: HostingerClient, journal: Journal,
    caplog: pytest.LogCaptureFixture
) -> None:
    store.read_lag = 3600.0  # no read in this run shows the writes
    ours = [entry(api, "v1"), entry(api, "v2", zone="example.co.uk"),
            entry(api, "v3", name="_acme-challenge.a", zone="b.example.com")]
    write(client, journal, *ours)
    clock = Clock()
    kept = Cleaner(client, journal, sleep=clock.sleep, clock=clock).remove(ours)
    assert sorted(kept) == sorted(ours)
    assert 0 < sum(clock.sleeps) <= REREAD_BUDGET  # not 10 s per zone
    assert len(warnings(caplog)) == 3


def test_a_failure_in_a_later_round_names_only_what_is_still_there(
    api: HostingerStub, store: ZoneStore, client: HostingerClient, journal: Journal,
    caplog: pytest.LogCaptureFixture
) -> None:
    store.read_lag = 2.0
    first, second = entry(api, "v1"), entry(api, "v2", name="_acme-challenge.www2")
    write(client, journal, first)
    time.sleep(2.2)
    write(client, journal, second)  # the first read of the cleanup shows only the first

    def sleep(seconds: float) -> None:
        api.inject(Fault(method="DELETE", status=403))  # the second round's removal fails
        time.sleep(2.2)

    assert Cleaner(client, journal, sleep=sleep).remove([first, second]) == [second]
    assert store.txt("example.com", "_acme-challenge.mail") == []
    [warning] = warnings(caplog)
    assert warning.startswith("Could not remove the challenge TXT value(s) at "
                              "_acme-challenge.www2.example.com: ")
    assert list(journal.load()) == [second]
