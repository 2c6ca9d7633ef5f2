"""End to end: real certbot, Pebble, the HTTPS API stand-in and loopback nameservers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.accounts import TOKEN, account_zones
from sandbox.ca import certificate_info
from sandbox.dns_server import DnsStub
from sandbox.hostinger_api import Fault
from sandbox.stack import Sandbox

pytestmark = pytest.mark.issuance
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sandbox"), delays=(0.0, 1.0)) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(sandbox: Sandbox) -> None:
    sandbox.reset()
    # A new ACME account per test: Pebble may reuse an account's valid authorizations,
    # and then certbot would never call the plugin for a name an earlier test validated.
    shutil.rmtree(sandbox.config_dir / "accounts", ignore_errors=True)


def assert_issued(sandbox: Sandbox, result: subprocess.CompletedProcess[str], cert_name: str,
                  names: list[str]) -> None:
    assert result.returncode == 0, result.stderr
    info = certificate_info(sandbox.lineage(cert_name) / "fullchain.pem")
    assert info.names == sorted(names)


@pytest.mark.parametrize("names", [
    ["mail.example.com"],
    ["example.com", "*.example.com"],
    ["mail.example.co.uk"],
    ["mail.news.example.com"],
])
def test_issue_leaves_every_zone_unchanged(sandbox: Sandbox, names: list[str]) -> None:
    before = sandbox.dumps()
    cert_name = names[0].replace("*", "wildcard")
    result = sandbox.issue(names, cert_name=cert_name)
    assert_issued(sandbox, result, cert_name, names)
    calls = sandbox.api.calls_summary()
    assert any(call.startswith("PUT ") for call in calls), calls  # the plugin did the work
    assert sandbox.dumps() == before
    assert TOKEN not in sandbox.text_seen_by_user(result)


def test_five_names_in_one_zone_take_four_api_calls(sandbox: Sandbox) -> None:
    before = sandbox.dumps()
    names = [f"mail{i}.example.com" for i in range(5)]
    result = sandbox.issue(names, cert_name="five")
    assert_issued(sandbox, result, "five", names)
    # DNS (the sandbox's nameservers) names the zone; one read serves discovery and add.
    assert sandbox.api.calls_summary() == [
        "GET example.com", "PUT example.com", "GET example.com", "DELETE example.com"]
    assert sandbox.dumps() == before


def test_renew_reuses_saved_options_and_credentials(sandbox: Sandbox) -> None:
    before = sandbox.dumps()
    assert_issued(sandbox, sandbox.issue(["mail.example.com"], cert_name="renewal"), "renewal",
                  ["mail.example.com"])
    first = certificate_info(sandbox.lineage("renewal") / "fullchain.pem")
    use_fresh_account(sandbox, "renewal")  # so the CA cannot reuse the first authorizations
    sandbox.api.reset_calls()
    result = sandbox.certbot(["renew", "--force-renewal", "--no-random-sleep-on-renew",
                             "--cert-name", "renewal"])
    assert result.returncode == 0, result.stderr
    renewed = certificate_info(sandbox.lineage("renewal") / "fullchain.pem")
    assert renewed.serial != first.serial and renewed.names == ["mail.example.com"]
    assert "PUT example.com" in sandbox.api.calls_summary()
    assert sandbox.dumps() == before


def use_fresh_account(sandbox: Sandbox, cert_name: str) -> None:
    """Register a new ACME account and point the lineage's renewal conf at it."""
    accounts = sandbox.config_dir / "accounts"
    shutil.rmtree(accounts)
    registered = sandbox.certbot(["register"])
    assert registered.returncode == 0, registered.stderr
    (account,) = [path.name for path in accounts.glob("*/*/*") if path.is_dir()]
    conf = sandbox.config_dir / "renewal" / f"{cert_name}.conf"
    conf.write_text(re.sub(r"^account = .*$", f"account = {account}", conf.read_text(),
                           flags=re.MULTILINE))


def test_wrong_token_fails_with_one_clear_line_and_no_change(sandbox: Sandbox) -> None:
    before = sandbox.dumps()
    wrong = "wrong-token-8c1e4f0a"
    result = sandbox.issue(["mail.example.com"], cert_name="wrong",
                           credentials=sandbox.credentials(wrong, "wrong.ini"))
    assert result.returncode != 0
    assert "The API token is invalid or has expired" in result.stderr
    assert "Traceback" not in result.stderr
    assert sandbox.dumps() == before
    seen = sandbox.text_seen_by_user(result)
    assert wrong not in seen and TOKEN not in seen


def test_nameserver_that_never_serves_fails_clearly_and_cleans_up(sandbox: Sandbox) -> None:
    before = sandbox.dumps()
    with DnsStub(sandbox.store.view(3600.0)) as stuck:
        result = sandbox.issue(["mail.example.com"], cert_name="stuck", propagation_seconds=3,
                               nameservers=f"127.0.0.1:{sandbox.ns1.port},127.0.0.1:{stuck.port}")
    assert result.returncode != 0
    assert f"127.0.0.1:{stuck.port} for _acme-challenge.mail.example.com" in result.stderr
    assert sandbox.dumps() == before
    assert TOKEN not in sandbox.text_seen_by_user(result)


def test_killed_run_leftovers_are_removed_by_the_next_run(sandbox: Sandbox) -> None:
    zones = account_zones()
    zones["example.com"].append({"name": "_acme-challenge.mail", "type": "TXT", "ttl": 300,
                                 "records": [{"content": "another-client"}]})
    sandbox.store.reset(zones)
    before = sandbox.dumps()
    with DnsStub(sandbox.store.view(3600.0)) as stuck:
        args = sandbox.certonly_args(["mail.example.com"], cert_name="killed",
                                     propagation_seconds=300,
                                     nameservers=f"127.0.0.1:{stuck.port}")
        assert sandbox.kill_after_first_write(args), "certbot never added its value"
    assert len(sandbox.store.txt("example.com", "_acme-challenge.mail")) == 2
    result = sandbox.issue(["mail.example.com"], cert_name="killed")
    assert_issued(sandbox, result, "killed", ["mail.example.com"])
    assert sandbox.store.txt("example.com", "_acme-challenge.mail") == ["another-client"]
    assert sandbox.dumps() == before


@pytest.fixture(scope="module")
def slow_dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox whose slower nameserver, the one Pebble asks, serves writes 8 s late."""
    with Sandbox(tmp_path_factory.mktemp("slow-dns"), delays=(0.0, 8.0)) as running:
        yield running


@pytest.mark.parametrize("names", [["mail.example.com"], ["example.com", "*.example.com"]])
def test_failed_run_under_read_lag_then_a_normal_run_leave_every_zone_unchanged(
    slow_dns: Sandbox, names: list[str]
) -> None:
    slow_dns.reset()
    shutil.rmtree(slow_dns.config_dir / "accounts", ignore_errors=True)
    journal = slow_dns.root / "certbot" / "work" / "dns-hostinger-pending.json"
    before = slow_dns.dumps()
    slow_dns.store.read_lag = 4.0  # the API's GET shows each write 4 s late
    cert_name = "lag-" + names[-1].replace("*", "wildcard")
    failed = slow_dns.issue(names, cert_name=cert_name, propagation_seconds=0,
                            extra=["--dns-hostinger-propagation-check", "off"])
    assert failed.returncode != 0  # Pebble asked before the nameserver served the value
    assert any(call.startswith("PUT ") for call in slow_dns.api.calls_summary())
    assert slow_dns.leftover_values(before) == []  # cleanup read again until it showed
    assert not journal.exists()
    result = slow_dns.issue(names, cert_name=cert_name)
    assert_issued(slow_dns, result, cert_name, names)
    assert slow_dns.dumps() == before
    assert not journal.exists()


@pytest.mark.parametrize("applied", [False, True], ids=["refused", "applied-then-429"])
def test_long_retry_after_fails_within_seconds_and_the_next_run_heals(sandbox: Sandbox,
                                                                      applied: bool) -> None:
    before = sandbox.dumps()
    sandbox.api.inject(Fault(method="PUT", path="example.com", status=429, times=100,
                             body=json.dumps({"message": "Too Many Attempts."}),
                             headers={"Retry-After": "3600"}, apply_first=applied))
    cert_name = f"rate-limited-{'applied' if applied else 'refused'}"  # a new lineage each
    started = time.monotonic()
    result = sandbox.issue(["mail.example.com"], cert_name=cert_name)
    assert time.monotonic() - started < 60  # a safety net; the count below is the check
    assert result.returncode != 0
    calls = sandbox.api.calls_to("example.com")
    assert len(calls) <= 2 and [call.status for call in calls].count(429) == 1
    assert calls[-1].status == 429  # nothing after the 429, cleanup included
    assert ("Hostinger rate-limited the API token while adding TXT records for zone "
            "example.com and asked to wait 60 min 0 s (until ") in result.stderr
    assert "Traceback" not in result.stderr
    assert TOKEN not in sandbox.text_seen_by_user(result)
    sandbox.api.faults.clear()
    healed = sandbox.issue(["mail.example.com"], cert_name=cert_name)
    assert_issued(sandbox, healed, cert_name, ["mail.example.com"])
    assert sandbox.dumps() == before
    journal = sandbox.root / "certbot" / "work" / "dns-hostinger-pending.json"
    if not applied:
        # the refused value was never in the zone, but after a 429 the plugin cannot know:
        # it stays listed (and is waited for) until a read shows it or 30 days pass
        assert [e["value"] for e in json.loads(journal.read_text())] != []
        journal.unlink()  # the sandbox is shared by the next tests
    assert not journal.exists()


def test_foreign_value_survives_byte_for_byte_under_an_escaping_api(sandbox: Sandbox) -> None:
    zones = account_zones()
    zones["example.com"].append({"name": "_acme-challenge.mail", "type": "TXT", "ttl": 300,
                                 "records": [{"content": "someone-elses-value"}]})
    sandbox.store.reset(zones)
    sandbox.store.quoting = "escape"  # a quoted value sent back would grow quotes
    before = sandbox.dumps()
    result = sandbox.issue(["mail.example.com"], cert_name="escaping")
    assert_issued(sandbox, result, "escaping", ["mail.example.com"])
    assert any(call.method == "PUT" and call.body.get("overwrite") is True
               for call in sandbox.api.calls)  # the write-back happened
    assert sandbox.dumps() == before


def test_make_demo_issues_and_deploys() -> None:
    result = subprocess.run([sys.executable, "-m", "tools.demo"], cwd=REPO, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("certificate: /") and last.endswith("/fullchain.pem")
    info = certificate_info(Path(last.removeprefix("certificate: ")))
    assert info.names == ["mail.example.com", "smtp.news.example.com"]
    assert "only our TXT values came and went: yes" in result.stdout
    assert "Installed the certificate for mail.example.com, smtp.news.example.com" in \
        result.stdout
    if os.geteuid() == 0:  # real Postfix and Dovecot: the custom host name served over TLS
        assert "smtp.news.example.com (news.example.com's custom host name) over SMTP with " \
            "STARTTLS" in result.stdout
        assert "ANOTHER certificate" not in result.stdout
        assert result.stdout.count(": the new certificate (sha256 ") == 2
    assert TOKEN not in result.stdout + result.stderr
