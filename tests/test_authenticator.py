"""The certbot authenticator against the stand-in API (real HTTP) and DNS (real UDP/TCP)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import subprocess
import sys
import time
import unittest
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dns.resolver
import josepy as jose
import pytest
from acme import challenges, messages
from certbot import achallenges, errors
from certbot.plugins import dns_test_common
from certbot.tests import acme_util
from certbot.tests import util as test_util

from certbot_dns_hostinger.dns_hostinger import Authenticator
from certbot_dns_hostinger.hostinger_http import token_fingerprint
from certbot_dns_hostinger.hostinger_wait import clear_holds
from certbot_dns_hostinger.journal import JOURNAL_NAME
from sandbox.accounts import TOKEN, account_zones
from sandbox.dns_server import DnsStub, delegated_view
from sandbox.hostinger_api import CONFLICT_MESSAGE, Fault, HostingerStub, ZoneStore

REAL_RESOLVER = dns.resolver.Resolver  # before any test points it at a stand-in
ACCOUNT_KEY = jose.JWKRSA.load(test_util.load_vector("rsa512_key.pem"))
ZONES = ("example.com", "example.co.uk", "b.example.com")


def make_achall(domain: str) -> achallenges.KeyAuthorizationAnnotatedChallenge:
    """A dns-01 challenge with its own random token, built the way the running certbot does."""
    challb = acme_util.chall_to_challb(challenges.DNS01(token=os.urandom(16)),
                                       messages.STATUS_PENDING)
    if "identifier" in achallenges.KeyAuthorizationAnnotatedChallenge.__slots__:
        identifier = messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=domain)
        return achallenges.KeyAuthorizationAnnotatedChallenge(
            challb=challb, identifier=identifier, account_key=ACCOUNT_KEY)
    return achallenges.KeyAuthorizationAnnotatedChallenge(  # certbot < 5.3
        challb=challb, domain=domain, account_key=ACCOUNT_KEY)


def validation(achall: achallenges.KeyAuthorizationAnnotatedChallenge) -> str:
    return str(achall.validation(achall.account_key))


def make_auth(credentials: Path, work_dir: Path, **options: Any) -> Authenticator:
    settings = {"credentials": str(credentials), "propagation_seconds": 0, "ttl": 60,
                "nameservers": None, "propagation_check": "off", "delegation_check": "on"}
    settings.update(options)
    config = SimpleNamespace(work_dir=str(work_dir),
                             **{f"dns_hostinger_{key}": value for key, value in settings.items()})
    return Authenticator(config, "dns-hostinger")


def dumps(store: ZoneStore) -> dict[str, str]:
    return {zone: store.dump(zone) for zone in ZONES}


@pytest.fixture
def auth(credentials: Path, tmp_path: Path) -> Authenticator:
    return make_auth(credentials, tmp_path / "work")


@pytest.fixture(autouse=True)
def system_resolver(use_system_resolver: Callable[[int], None],
                    store: ZoneStore) -> Iterator[DnsStub]:
    """The "system" resolver (``dns.resolver.Resolver()``) is a loopback stand-in serving
    the account's zones like a recursive resolver (no AA), so nothing leaves 127.0.0.1."""
    with DnsStub(store.view(), authoritative=False) as resolver:
        use_system_resolver(resolver.port)
        yield resolver


class CertbotContractTest(unittest.TestCase, dns_test_common.BaseAuthenticatorTest):
    """certbot's own base tests for DNS authenticators."""

    def setUp(self) -> None:
        self.auth = make_auth(Path("/nonexistent.ini"), Path("/nonexistent"))


def test_parser_registers_every_documented_option() -> None:
    seen: dict[str, dict[str, Any]] = {}
    Authenticator.add_parser_arguments(lambda name, **kw: seen.setdefault(name, kw))
    assert set(seen) == {"propagation-seconds", "credentials", "ttl", "nameservers",
                         "propagation-check", "delegation-check"}
    assert seen["propagation-seconds"]["default"] == 600
    assert seen["ttl"]["default"] == 60
    assert seen["propagation-check"]["choices"] == ("on", "off")
    assert seen["delegation-check"]["choices"] == ("on", "off")
    assert seen["delegation-check"]["default"] == "on"


# -- what lands in the zone -------------------------------------------------------------------


def test_apex_and_wildcard_values_coexist_and_zone_is_restored(
    auth: Authenticator, api: HostingerStub, store: ZoneStore
) -> None:
    before = dumps(store)
    # certbot hands both authorizations over as "example.com" (ACME strips the "*.")
    apex, wildcard = make_achall("example.com"), make_achall("example.com")
    responses = auth.perform([apex, wildcard])
    assert len(responses) == 2
    assert sorted(store.txt("example.com", "_acme-challenge")) == sorted(
        [validation(apex), validation(wildcard)])
    auth.cleanup([apex, wildcard])
    assert dumps(store) == before
    assert api.calls_summary() == ["GET example.com", "PUT example.com",
                                   "GET example.com", "DELETE example.com"]


@pytest.mark.parametrize("domain, zone, name", [
    ("mail.example.co.uk", "example.co.uk", "_acme-challenge.mail"),
    ("mail.news.example.com", "example.com", "_acme-challenge.mail.news"),
    ("a.b.example.com", "b.example.com", "_acme-challenge.a"),
    ("b.example.com", "b.example.com", "_acme-challenge"),
])
def test_deep_names_land_in_the_right_zone(auth: Authenticator, store: ZoneStore, domain: str,
                                           zone: str, name: str) -> None:
    before = dumps(store)
    achall = make_achall(domain)
    auth.perform([achall])
    assert store.txt(zone, name) == [validation(achall)]
    changed = [z for z in ZONES if z != zone]
    assert {z: store.dump(z) for z in changed} == {z: before[z] for z in changed}
    auth.cleanup([achall])
    assert dumps(store) == before


def test_five_names_in_one_zone_take_four_calls(auth: Authenticator, api: HostingerStub,
                                                store: ZoneStore) -> None:
    before = dumps(store)
    achalls = [make_achall(f"mail{i}.example.com") for i in range(5)]
    auth.perform(achalls)
    auth.cleanup(achalls)
    # DNS names the zone; its one read is reused by the add.
    assert api.calls_summary() == ["GET example.com", "PUT example.com", "GET example.com",
                                   "DELETE example.com"]
    assert dumps(store) == before


def test_someone_elses_challenge_value_survives(auth: Authenticator, store: ZoneStore) -> None:
    store.add_zone("example.com", [*account_zones()["example.com"],
                                   {"name": "_acme-challenge.mail", "type": "TXT", "ttl": 300,
                                    "records": [{"content": "other-client-value"}]}])
    before = dumps(store)
    achall = make_achall("mail.example.com")
    auth.perform([achall])
    assert store.txt("example.com", "_acme-challenge.mail") == [
        "other-client-value", validation(achall)]
    auth.cleanup([achall])
    assert dumps(store) == before


@pytest.mark.parametrize("applied", [False, True], ids=["refused", "applied-then-403"])
def test_cleanup_after_partial_add_removes_what_was_written(
    auth: Authenticator, api: HostingerStub, store: ZoneStore, applied: bool,
    caplog: pytest.LogCaptureFixture
) -> None:
    before = dumps(store)
    first, second = make_achall("mail.example.com"), make_achall("mail.example.co.uk")
    api.inject(Fault(method="PUT", path="example.co.uk", status=403, apply_first=applied))
    with pytest.raises(errors.PluginError, match="HTTP 403"):
        auth.perform([first, second])
    assert store.txt("example.com", "_acme-challenge.mail") == [validation(first)]
    journal = Path(auth.config.work_dir) / JOURNAL_NAME
    # a refused write leaves no journal entry behind; the first zone's entry stays
    assert [e["zone"] for e in json.loads(journal.read_text())] == ["example.com"]
    with caplog.at_level(logging.WARNING):
        auth.cleanup([first, second])
        auth.cleanup([first, second])
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    if applied:  # a 403 after applying is not a real API's way; the next run would remove it
        assert store.txt("example.co.uk", "_acme-challenge.mail") == [validation(second)]
        return
    assert dumps(store) == before
    assert not journal.exists()


@pytest.mark.parametrize("faults, kept", [
    ([Fault(method="PUT", status=422, body='{"message": "The ttl field is invalid."}')], False),
    ([Fault(method="PUT", status=400)], False),
    ([Fault(method="PUT", status=401, body='{"message": "Unauthenticated."}')], False),
    ([Fault(method="PUT", status=500, times=4)], True),
    ([Fault(method="PUT", drop=True, times=4)], True),
    # the first attempt may have landed; the 422 of the retry then proves nothing
    ([Fault(method="PUT", status=500), Fault(method="PUT", status=422)], True),
], ids=["422", "400", "401", "500", "network", "500-then-422"])
def test_a_refused_add_leaves_no_journal_entry(
    auth: Authenticator, api: HostingerStub, store: ZoneStore, faults: list[Fault], kept: bool
) -> None:
    before = dumps(store)
    api.inject(*faults)
    with pytest.raises(errors.PluginError):
        auth.perform([make_achall("mail.example.com")])
    assert dumps(store) == before
    journal = Path(auth.config.work_dir) / JOURNAL_NAME
    assert journal.exists() == kept  # after a 5xx or a lost answer the write may have landed
    assert bool(auth._written) == kept


def test_a_real_conflict_leaves_no_journal_entry(auth: Authenticator, api: HostingerStub,
                                                store: ZoneStore) -> None:
    # DNS:4008 and the re-reads do not show the value: a conflict (the rest is ours to test)
    api.inject(Fault(method="PUT", status=422, body=json.dumps({"message": CONFLICT_MESSAGE})))
    before = dumps(store)
    achall = make_achall("mail.example.com")
    with pytest.raises(errors.PluginError, match="DNS:4008"):
        auth.perform([achall])
    auth.cleanup([achall])
    assert dumps(store) == before
    assert not (Path(auth.config.work_dir) / JOURNAL_NAME).exists()


def test_cleanup_failure_warns_with_leftover_names_and_keeps_journal(
    auth: Authenticator, api: HostingerStub, store: ZoneStore, caplog: pytest.LogCaptureFixture
) -> None:
    achall = make_achall("mail.example.com")
    auth.perform([achall])
    api.inject(Fault(method="GET", status=401, body='{"message": "Unauthenticated."}'))
    with caplog.at_level(logging.WARNING):
        auth.cleanup([achall])
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1
    assert "_acme-challenge.mail.example.com" in warning[0].getMessage()
    assert "invalid or has expired" in warning[0].getMessage()
    journal = json.loads((Path(auth.config.work_dir) / JOURNAL_NAME).read_text())
    written_at = journal[0].pop("written_at")
    assert journal == [{"api_url": api.url, "zone": "example.com",
                        "name": "_acme-challenge.mail", "value": validation(achall),
                        "account": token_fingerprint(TOKEN), "seen": False}]
    assert abs(written_at - time.time()) < 60


def test_interrupted_run_leftovers_are_removed_next_time(
    credentials: Path, tmp_path: Path, api: HostingerStub, store: ZoneStore
) -> None:
    store.add_zone("example.com", [*account_zones()["example.com"],
                                   {"name": "_acme-challenge.mail", "type": "TXT", "ttl": 300,
                                    "records": [{"content": "keep-me"}]}])
    before = dumps(store)
    crashed = make_achall("mail.example.com")
    make_auth(credentials, tmp_path / "work").perform([crashed])  # never cleaned up
    journal = tmp_path / "work" / JOURNAL_NAME
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert TOKEN not in journal.read_text()

    nextrun = make_auth(credentials, tmp_path / "work")
    fresh = make_achall("mail.example.com")
    nextrun.perform([fresh])
    assert store.txt("example.com", "_acme-challenge.mail") == ["keep-me", validation(fresh)]
    nextrun.cleanup([fresh])
    assert dumps(store) == before
    assert not journal.exists()


# -- long rate limits, read lag, several accounts ----------------------------------------------


@pytest.mark.parametrize("applied", [False, True], ids=["refused", "applied-then-429"])
def test_long_retry_after_while_adding_stops_and_cleanup_sends_nothing(
    auth: Authenticator, api: HostingerStub, store: ZoneStore, applied: bool
) -> None:
    before = dumps(store)
    api.inject(Fault(method="PUT", path="example.com", status=429, times=50,
                     headers={"Retry-After": "3600"}, apply_first=applied))
    achall = make_achall("mail.example.com")
    with pytest.raises(errors.PluginError) as caught:
        auth.perform([achall])
    message = str(caught.value)
    journal = Path(auth.config.work_dir) / JOURNAL_NAME
    assert message.startswith("Hostinger rate-limited the API token while adding TXT records "
                              "for zone example.com and asked to wait ")
    assert " UTC); no further request was sent. 1 challenge TXT value(s) may remain at " \
        f"_acme-challenge.mail.example.com; they are kept in {journal} and the next run " \
        "removes them." in message
    assert "\n" not in message
    sent = len(api.calls)
    auth.cleanup([achall])
    # discovery's one read of the zone, the refused append, and nothing from the cleanup
    assert api.calls_summary() == ["GET example.com", "PUT example.com"]
    assert len(api.calls) == sent
    # a 429 may come after the write landed: the value stays in the journal either way
    assert len(json.loads(journal.read_text())) == 1
    if not applied:
        assert dumps(store) == before
        return
    # the write landed before the 429: the next run (a new process) removes it
    clear_holds()
    api.faults.clear()
    nextrun = make_auth(auth.config.dns_hostinger_credentials, Path(auth.config.work_dir))
    fresh = make_achall("mail.example.com")
    nextrun.perform([fresh])
    nextrun.cleanup([fresh])
    assert dumps(store) == before and not journal.exists()


def test_long_retry_after_before_any_write_says_nothing_was_left(
    auth: Authenticator, api: HostingerStub
) -> None:
    api.inject(Fault(method="GET", status=429, times=50, headers={"Retry-After": "600"}))
    achall = make_achall("mail.example.com")
    with pytest.raises(errors.PluginError) as caught:
        auth.perform([achall])
    assert "asked to wait 10 min 0 s (until " in str(caught.value)
    assert str(caught.value).endswith("; no further request was sent. Nothing was left "
                                      "behind in the zones.")
    auth.cleanup([achall])
    assert len(api.calls) == 1
    assert not (Path(auth.config.work_dir) / JOURNAL_NAME).exists()


def test_cleanup_waits_for_a_lagging_read(auth: Authenticator, api: HostingerStub,
                                          store: ZoneStore) -> None:
    before = dumps(store)
    store.read_lag = 2.0
    achall = make_achall("mail.example.com")
    auth.perform([achall])
    auth.cleanup([achall])
    assert dumps(store) == before
    assert not (Path(auth.config.work_dir) / JOURNAL_NAME).exists()
    assert api.calls_summary().count("GET example.com") >= 3  # discovery, then re-reads


def test_another_accounts_leftovers_are_neither_touched_nor_dropped(
    store: ZoneStore, tmp_path: Path
) -> None:
    other_token = "hst-other-account-token-77aa"
    with HostingerStub(store, [TOKEN, other_token]) as stub:
        def credentials(token: str, name: str) -> Path:
            path = tmp_path / name
            path.write_text(f"dns_hostinger_api_token = {token}\n"
                            f"dns_hostinger_api_url = {stub.url}\n")
            path.chmod(0o600)
            return path
        before = dumps(store)
        first = make_achall("mail.example.com")
        make_auth(credentials(other_token, "other.ini"), tmp_path / "work").perform([first])
        journal = tmp_path / "work" / JOURNAL_NAME
        assert json.loads(journal.read_text())[0]["account"] == token_fingerprint(other_token)
        assert other_token not in journal.read_text()

        stub.reset_calls()
        mine = make_auth(credentials(TOKEN, "mine.ini"), tmp_path / "work")
        achall = make_achall("mail.example.co.uk")
        mine.perform([achall])
        mine.cleanup([achall])
        assert store.txt("example.com", "_acme-challenge.mail") == [validation(first)]
        assert [e["value"] for e in json.loads(journal.read_text())] == [validation(first)]
        assert "GET example.com" not in stub.calls_summary()

        again = make_auth(credentials(other_token, "other.ini"), tmp_path / "work")
        fresh = make_achall("mail.example.co.uk")
        again.perform([fresh])
        again.cleanup([fresh])
        assert dumps(store) == before and not journal.exists()


# -- errors before anything is written -----------------------------------------------------


def assert_nothing_written(api: HostingerStub) -> None:
    assert [c for c in api.calls_summary() if not c.startswith("GET")] == []


def test_bad_token_is_one_clear_line(auth: Authenticator, api: HostingerStub, tmp_path: Path,
                                     credentials: Path) -> None:
    credentials.write_text(f"dns_hostinger_api_token = nope\ndns_hostinger_api_url = {api.url}\n")
    with pytest.raises(errors.PluginError) as caught:
        auth.perform([make_achall("mail.example.com")])
    assert "HTTP 401" in str(caught.value) and "invalid or has expired" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert api.calls_summary() == ["GET example.com"]


def test_name_outside_every_zone_fails_before_any_write(auth: Authenticator,
                                                        api: HostingerStub) -> None:
    with pytest.raises(errors.PluginError) as caught:
        auth.perform([make_achall("mail.example.com"), make_achall("mail.example.org")])
    assert "No DNS zone in this Hostinger account covers _acme-challenge.mail.example.org" in str(
        caught.value)
    assert_nothing_written(api)


def test_unwritable_journal_is_one_line_and_nothing_is_written(
        credentials: Path, tmp_path: Path, api: HostingerStub) -> None:
    blocked = tmp_path / "work-is-a-file"
    blocked.write_text("")
    auth = make_auth(credentials, blocked)
    with pytest.raises(errors.PluginError, match=r"Cannot write .*work-is-a-file.*--work-dir"):
        auth.perform([make_achall("mail.example.com")])
    assert_nothing_written(api)


@pytest.mark.parametrize("content, message", [
    ("", 'Property "dns_hostinger_api_token" not found'),
    ("dns_hostinger_api_token =\n", 'Property "dns_hostinger_api_token" not set'),
    ("dns_hostinger_api_token = '   '\n", "dns_hostinger_api_token is empty"),
    ("dns_hostinger_api_token = a b\n", "contains white space"),
    ("dns_hostinger_api_token = abc\u2019def-secret\n",
     "contains characters that are not printable ASCII; copy the token again"),
    ("dns_hostinger_api_token = abc\x7fdef-secret\n", "not printable ASCII"),
    ("dns_hostinger_api_token = x\ndns_hostinger_api_url = http://api.example.com\n",
     "only https is allowed"),
    ("dns_hostinger_api_token = x\ndns_hostinger_api_url = developers.hostinger.com\n",
     "is not an http(s) URL"),
    ("dns_hostinger_api_token = x\n[broken\n", "Error parsing credentials configuration"),
])
def test_bad_credentials_files_are_refused(credentials: Path, tmp_path: Path, api: HostingerStub,
                                           content: str, message: str) -> None:
    credentials.write_text(content)
    auth = make_auth(credentials, tmp_path / "work")
    with pytest.raises(errors.PluginError) as caught:
        auth.perform([make_achall("mail.example.com")])
    assert message in str(caught.value)
    assert TOKEN not in str(caught.value) and "secret" not in str(caught.value)
    if "ASCII" in message:
        assert f" in {credentials} contains" in str(caught.value)
    assert api.calls == []


def test_missing_credentials_file(tmp_path: Path, api: HostingerStub) -> None:
    auth = make_auth(tmp_path / "missing.ini", tmp_path / "work")
    with pytest.raises(errors.PluginError, match="File not found"):
        auth.perform([make_achall("mail.example.com")])


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root to run the check as another user")
def test_unreadable_credentials_file(credentials: Path) -> None:
    code = ("import os\n"
            "from certbot_dns_hostinger.dns_hostinger import _check_readable\n"
            "os.setgid(65534)\nos.setuid(65534)\n"  # drop root only after the imports
            f"_check_readable({str(credentials)!r})\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=Path(__file__).parent.parent, check=False)
    assert result.returncode == 1
    assert "Cannot read the credentials file" in result.stderr


@pytest.mark.parametrize("options, message", [
    ({"ttl": 59}, "--dns-hostinger-ttl must be between 60 and 86400"),
    ({"ttl": 86401}, "--dns-hostinger-ttl must be between 60 and 86400"),
    ({"propagation_seconds": -1}, "propagation-seconds must be 0 or more"),
    ({"nameservers": "127.0.0.1:99999"}, "--dns-hostinger-nameservers"),
])
def test_bad_options_are_refused_before_any_call(credentials: Path, tmp_path: Path,
                                                 api: HostingerStub, options: dict[str, Any],
                                                 message: str) -> None:
    auth = make_auth(credentials, tmp_path / "work", **options)
    with pytest.raises(errors.PluginError, match=message):
        auth.perform([make_achall("mail.example.com")])
    assert api.calls == []


def test_token_never_reaches_logs(credentials: Path, tmp_path: Path, api: HostingerStub,
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api.inject(Fault(method="GET", status=500, echo_token=True),
               Fault(method="DELETE", status=400, echo_token=True))
    auth = make_auth(credentials, tmp_path / "work")
    achalls = [make_achall("mail.example.com"), make_achall("example.com")]
    auth.perform(achalls)
    auth.cleanup(achalls)
    assert caplog.records
    assert TOKEN not in caplog.text
    assert "<redacted>" in caplog.text


# -- CNAME delegation of _acme-challenge ------------------------------------------------------


def test_cname_into_another_zone_of_the_account_is_followed(auth: Authenticator,
                                                            store: ZoneStore) -> None:
    store.add_zone("example.com", [*account_zones()["example.com"],
                                   {"name": "_acme-challenge.mail", "type": "CNAME", "ttl": 300,
                                    "records": [{"content": "mail-acme.example.co.uk."}]}])
    before = dumps(store)
    achall = make_achall("mail.example.com")
    auth.perform([achall])
    assert store.txt("example.co.uk", "mail-acme") == [validation(achall)]
    assert store.dump("example.com") == before["example.com"]
    auth.cleanup([achall])
    assert dumps(store) == before


def test_cname_loop_is_reported(auth: Authenticator, store: ZoneStore, api: HostingerStub) -> None:
    store.add_zone("example.com", [*account_zones()["example.com"],
                                   {"name": "_acme-challenge.mail", "type": "CNAME", "ttl": 300,
                                    "records": [{"content": "loop.example.com."}]},
                                   {"name": "loop", "type": "CNAME", "ttl": 300,
                                    "records": [{"content": "_acme-challenge.mail.example.com."}]}])
    with pytest.raises(errors.PluginError, match="CNAME loop"):
        auth.perform([make_achall("mail.example.com")])
    assert_nothing_written(api)


def test_cname_loop_in_mixed_case_is_reported(credentials: Path, tmp_path: Path,
                                              store: ZoneStore, api: HostingerStub) -> None:
    outside = {"example.org": [
        {"name": "_acme-challenge.mail", "type": "CNAME", "ttl": 300,
         "records": [{"content": "Loop.Example.ORG."}]},
        {"name": "loop", "type": "CNAME", "ttl": 300,
         "records": [{"content": "_ACME-Challenge.Mail.example.org."}]},
    ]}
    with DnsStub(lambda: outside) as server:
        auth = make_auth(credentials, tmp_path / "work", nameservers=f"127.0.0.1:{server.port}")
        with pytest.raises(errors.PluginError) as caught:
            auth.perform([make_achall("mail.example.org")])
    assert str(caught.value) == ("CNAME loop at _acme-challenge.mail.example.org -> "
                                 "loop.example.org -> _acme-challenge.mail.example.org.")
    assert_nothing_written(api)


@pytest.fixture
def outside_dns(store: ZoneStore) -> Iterator[DnsStub]:
    """DNS for a domain hosted elsewhere whose _acme-challenge is delegated into the account."""
    outside = {"example.org": [
        {"name": "@", "type": "A", "ttl": 300, "records": [{"content": "192.0.2.80"}]},
        {"name": "_acme-challenge.mail", "type": "CNAME", "ttl": 300,
         "records": [{"content": "org-acme.example.co.uk."}]},
    ]}
    view = store.view(0.0)
    with DnsStub(lambda: {**view(), **outside}) as server:
        yield server


def test_cname_from_a_zone_elsewhere_is_found_in_dns(credentials: Path, tmp_path: Path,
                                                     store: ZoneStore,
                                                     outside_dns: DnsStub) -> None:
    before = dumps(store)
    auth = make_auth(credentials, tmp_path / "work",
                     nameservers=f"127.0.0.1:{outside_dns.port}", propagation_check="on",
                     propagation_seconds=30)
    achall = make_achall("mail.example.org")
    auth.perform([achall])
    assert store.txt("example.co.uk", "org-acme") == [validation(achall)]
    auth.cleanup([achall])
    assert dumps(store) == before


# -- waiting for the nameservers ----------------------------------------------------------------


@pytest.fixture
def nameservers(store: ZoneStore) -> Iterator[tuple[DnsStub, DnsStub]]:
    with DnsStub(store.view(1.0)) as ns1, DnsStub(store.view(2.5)) as ns2:
        yield ns1, ns2


def test_wait_ends_soon_after_the_slowest_nameserver(
    credentials: Path, tmp_path: Path, store: ZoneStore, nameservers: tuple[DnsStub, DnsStub]
) -> None:
    ns1, ns2 = nameservers
    auth = make_auth(credentials, tmp_path / "work", propagation_check="on",
                     propagation_seconds=60,
                     nameservers=f"127.0.0.1:{ns1.port},127.0.0.1:{ns2.port}")
    achalls = [make_achall("mail.example.com"), make_achall("mail.example.co.uk")]
    start = time.monotonic()
    auth.perform(achalls)
    waited = time.monotonic() - start
    assert 2.5 <= waited < 30
    answers = {name for name, rtype in ns2.queries if rtype == "TXT"}
    assert {"_acme-challenge.mail.example.com", "_acme-challenge.mail.example.co.uk"} <= {
        name.rstrip(".").lower() for name in answers}
    auth.cleanup(achalls)


def test_nameserver_that_never_serves_fails_clearly_and_cleanup_still_runs(
    credentials: Path, tmp_path: Path, store: ZoneStore, nameservers: tuple[DnsStub, DnsStub]
) -> None:
    before = dumps(store)
    ns1, _ = nameservers
    with DnsStub(store.view(3600.0)) as stuck:
        auth = make_auth(credentials, tmp_path / "work", propagation_check="on",
                         propagation_seconds=4,
                         nameservers=f"127.0.0.1:{ns1.port},127.0.0.1:{stuck.port}")
        achall = make_achall("mail.example.com")
        with pytest.raises(errors.PluginError) as caught:
            auth.perform([achall])
        auth.cleanup([achall])
    message = str(caught.value)
    # The server that never serves is named as missing the value; the one that serves is not.
    assert f"127.0.0.1:{stuck.port} for _acme-challenge.mail.example.com: " in message
    assert f"127.0.0.1:{ns1.port} for" not in message
    assert dumps(store) == before


# -- discovery from DNS and the delegation check --------------------------------------------------


def delegate_elsewhere(resolver: DnsStub, store: ZoneStore, zone: str) -> None:
    """Public DNS (the system resolver) names other nameservers for ``zone``."""
    resolver.view = delegated_view(store.view(), {zone: ["ns1.elsewhere.example.net",
                                                         "ns2.elsewhere.example.net"]})


def test_zone_delegated_elsewhere_is_refused_before_any_write(
    auth: Authenticator, api: HostingerStub, store: ZoneStore, system_resolver: DnsStub
) -> None:
    delegate_elsewhere(system_resolver, store, "example.com")
    before = dumps(store)
    started = time.monotonic()
    with pytest.raises(errors.PluginError) as caught:
        auth.perform([make_achall("mail.example.co.uk"), make_achall("mail.example.com")])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Zone example.com is not delegated to Hostinger: public DNS gives "
                              "the nameservers of example.com as ns1.elsewhere.example.net, "
                              "ns2.elsewhere.example.net, Hostinger's are ns1.dns-parking.com, "
                              "ns2.dns-parking.com,")
    assert "Point the domain's nameservers at Hostinger's" in message
    assert "delegate _acme-challenge with a CNAME" in message
    assert_nothing_written(api)  # not even the other zone's value
    assert dumps(store) == before
    assert not (Path(auth.config.work_dir) / JOURNAL_NAME).exists()
    assert time.monotonic() - started < 60  # seconds, not the 600 s propagation limit


def test_delegation_check_off_writes_anyway(credentials: Path, tmp_path: Path,
                                            api: HostingerStub, store: ZoneStore,
                                            system_resolver: DnsStub) -> None:
    delegate_elsewhere(system_resolver, store, "example.com")
    auth = make_auth(credentials, tmp_path / "work", delegation_check="off")
    achall = make_achall("mail.example.com")
    auth.perform([achall])
    assert store.txt("example.com", "_acme-challenge.mail") == [validation(achall)]
    auth.cleanup([achall])


def test_silent_dns_falls_back_to_probing_and_goes_on(auth: Authenticator, api: HostingerStub,
                                                      store: ZoneStore,
                                                      system_resolver: DnsStub) -> None:
    system_resolver.set_silent(True)
    before = dumps(store)
    achall = make_achall("mail.example.com")
    auth.perform([achall])
    auth.cleanup([achall])
    assert api.calls_summary() == ["GET mail.example.com", "GET example.com", "PUT example.com",
                                   "GET example.com", "DELETE example.com"]
    assert dumps(store) == before


def test_hundred_names_in_ten_zones_take_at_most_45_calls(auth: Authenticator,
                                                          api: HostingerStub,
                                                          store: ZoneStore) -> None:
    zones = [f"shop{k}.example.net" for k in range(10)]
    for zone in zones:
        store.add_zone(zone, [{"name": "@", "type": "A", "ttl": 300,
                               "records": [{"content": "192.0.2.7"}]}])
    achalls = [make_achall(f"host{i}.{zone}") for zone in zones for i in range(10)]
    auth.perform(achalls)
    assert all(store.txt(zone, f"_acme-challenge.host{i}") for zone in zones for i in range(10))
    auth.cleanup(achalls)
    calls = api.calls_summary()
    assert sorted(calls) == sorted(f"{method} {zone}" for zone in zones
                                   for method in ("GET", "PUT", "GET", "DELETE"))
    assert len(calls) <= 45
    assert all(not store.txt(zone, f"_acme-challenge.host{i}") for zone in zones
               for i in range(10))


# -- a journal that cannot be read or written ----------------------------------------------


CORRUPT = '[{"api_url": "u", "zone": "example.com", "name": "_acme-challenge", "value": "v"},]'


def test_a_corrupt_journal_is_moved_aside_and_never_overwritten(
    auth: Authenticator, store: ZoneStore, caplog: pytest.LogCaptureFixture
) -> None:
    before = dumps(store)
    journal = Path(auth.config.work_dir) / JOURNAL_NAME
    journal.parent.mkdir(parents=True)
    journal.write_text(CORRUPT)
    journal.chmod(0o644)
    achall = make_achall("mail.example.com")
    with caplog.at_level(logging.WARNING):
        auth.perform([achall])
        auth.cleanup([achall])
    [aside] = journal.parent.glob(f"{JOURNAL_NAME}.corrupt-*")
    assert aside.read_text() == CORRUPT
    assert stat.S_IMODE(aside.stat().st_mode) == 0o600
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(f"Moved the corrupt journal {journal} aside to {aside} (")
    assert dumps(store) == before and not journal.exists()


def test_an_unreadable_journal_stops_the_run_before_any_write(
    auth: Authenticator, api: HostingerStub, store: ZoneStore
) -> None:
    before = dumps(store)
    journal = Path(auth.config.work_dir) / JOURNAL_NAME
    journal.mkdir(parents=True)  # unreadable even for root, unlike a file with mode 000
    with pytest.raises(errors.PluginError) as caught:
        auth.perform([make_achall("mail.example.com")])
    assert str(caught.value).startswith(f"Cannot read {journal} (Is a directory); it lists ")
    assert "\n" not in str(caught.value)
    assert not any(call.method in ("PUT", "DELETE") for call in api.calls)
    assert journal.is_dir() and dumps(store) == before


def test_journal_items_that_cannot_be_parsed_are_kept_as_they_are(
    auth: Authenticator, store: ZoneStore
) -> None:
    before = dumps(store)
    journal = Path(auth.config.work_dir) / JOURNAL_NAME
    journal.parent.mkdir(parents=True)
    odd = {"zone": 5, "name": "_acme-challenge", "value": "from-a-future-version"}
    journal.write_text(json.dumps([odd]))
    achall = make_achall("mail.example.com")
    auth.perform([achall])
    assert odd in json.loads(journal.read_text())
    auth.cleanup([achall])
    assert json.loads(journal.read_text()) == [odd]
    assert dumps(store) == before


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """No file can be made in ``directory``, not even by root (``chattr +i``)."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(directory)], check=False).returncode:
            pytest.skip("chattr +i is not supported here")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        directory.chmod(0o500)
        try:
            yield
        finally:
            directory.chmod(0o700)


def test_a_journal_that_cannot_be_written_during_cleanup_is_one_warning(
    auth: Authenticator, caplog: pytest.LogCaptureFixture
) -> None:
    achall = make_achall("mail.example.com")
    auth.perform([achall])
    journal = Path(auth.config.work_dir) / JOURNAL_NAME
    with read_only(journal.parent), caplog.at_level(logging.WARNING):
        auth.cleanup([achall])
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(f"Could not update the journal {journal} while removing the "
                              "challenge TXT value(s) at _acme-challenge.mail.example.com: ")


def test_no_resolv_conf_with_the_propagation_check_on_is_one_line(
    auth: Authenticator, api: HostingerStub, store: ZoneStore, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "resolv.conf"
    empty.write_text("")  # no nameserver line: dnspython raises NoResolverConfiguration
    monkeypatch.setattr(dns.resolver, "Resolver",
                        lambda *args, **kwargs: REAL_RESOLVER(filename=str(empty)))
    before = dumps(store)
    auth.config.dns_hostinger_propagation_check = "on"
    achall = make_achall("mail.example.com")
    with pytest.raises(errors.PluginError) as caught:
        auth.perform([achall])
    assert str(caught.value).startswith("Cannot find the nameservers of zone example.com: ")
    assert str(caught.value).endswith("Name the servers to poll explicitly, or turn the "
                                      "propagation check off.")
    auth.cleanup([achall])
    assert dumps(store) == before


@pytest.mark.parametrize("ttl_format", ["str", "float"])
def test_a_ttl_read_as_a_string_or_float_is_kept_in_every_write(
    auth: Authenticator, api: HostingerStub, store: ZoneStore, ttl_format: str
) -> None:
    store.add_zone("example.com", [*account_zones()["example.com"],
                                   {"name": "_acme-challenge.mail", "type": "TXT", "ttl": 300,
                                    "records": [{"content": "other-client-value"}]}])
    store.ttl_format = ttl_format  # the GET shows "300" or 300.0
    before = dumps(store)
    achall = make_achall("mail.example.com")
    auth.perform([achall])
    auth.cleanup([achall])
    puts = [call.body for call in api.calls if call.method == "PUT"]
    assert [[rrset.get("ttl") for rrset in body["zone"]] for body in puts] == [[300], [300]]
    assert dumps(store) == before
