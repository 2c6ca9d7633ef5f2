"""billionmail-deploy against a BillionMail tree with real Postfix and Dovecot."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from certbot_dns_hostinger.billionmail.errors import DeployError
from certbot_dns_hostinger.billionmail.formats import (
    DOVECOT_SSL_FILE,
    MAP_FILE,
    dovecot_block,
    dovecot_with,
    map_line,
    map_with,
)
from certbot_dns_hostinger.billionmail.install import find_install_dir
from sandbox.billionmail_host import BillionMailHost
from sandbox.ca import ThrowawayCA, fingerprint, write_lineage

REAL_SERVICES = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("postfix")
    or not shutil.which("dovecot"),
    reason="needs root, unshare, postfix and dovecot (make test installs them)")
TestFunction = TypeVar("TestFunction", bound=Callable[..., None])


def root(test: TestFunction) -> TestFunction:
    """Marks a test that runs real Postfix and Dovecot (root, ``-m root``)."""
    marked: TestFunction = pytest.mark.root(REAL_SERVICES(test))
    return marked

MAIL_PORTS = ("SMTP_PORT", "SUBMISSION_PORT", "SMTPS_PORT", "IMAP_PORT", "IMAPS_PORT",
              "POP_PORT", "POPS_PORT")


@pytest.fixture(scope="module")
def ca() -> ThrowawayCA:
    return ThrowawayCA()


@pytest.fixture
def host(tmp_path: Path, ca: ThrowawayCA) -> Iterator[BillionMailHost]:
    with BillionMailHost(tmp_path, ca) as running:
        yield running


def lineage(host: BillionMailHost, names: list[str], *, days: float = 90, age: float = 0,
            cert_name: str | None = None) -> tuple[Path, str]:
    chain, key = host.ca.issue(names, days=days, age=age)
    path = write_lineage(host.base / "live" / (cert_name or names[0]), chain, key)
    return path, fingerprint(chain)


def execs(host: BillionMailHost) -> list[list[str]]:
    """The docker calls that change something (everything but ``ps``)."""
    return [call for call in host.calls() if call[0] != "ps"]


def without_db(snapshot: dict[str, tuple[bytes, int]]) -> dict[str, tuple[bytes, int]]:
    return {path: item for path, item in snapshot.items() if not path.endswith(".db")}


@root
def test_first_install_serves_each_domain_by_sni_on_every_port(host: BillionMailHost) -> None:
    default_before = host.served("IMAPS_PORT")
    path, new = lineage(host, ["mail.news.example.com", "mail.other.org", "www.other.org"])
    result = host.deploy(lineage=path)
    assert result.returncode == 0, result.stderr
    assert "www.other.org: not a mail.<domain> name" in result.stdout
    for name in ("mail.news.example.com", "mail.other.org"):
        for port in (*MAIL_PORTS, "HTTPS_PORT"):
            assert host.served(port, name) == new, (port, name)
        folder = host.tree / "ssl" / name
        assert (folder / "fullchain.pem").read_bytes() == (path / "fullchain.pem").read_bytes()
        assert (folder / "privkey.pem").stat().st_mode & 0o777 == 0o600
        assert (folder / "fullchain.pem").stat().st_mode & 0o777 == 0o644
    assert host.served("IMAPS_PORT") == default_before
    assert not (host.tree / "ssl" / "www.other.org").exists()
    assert (host.tree / MAP_FILE).read_text() == (
        "mail.news.example.com /etc/ssl/mail/mail.news.example.com/privkey.pem "
        "/etc/ssl/mail/mail.news.example.com/fullchain.pem\n"
        "mail.other.org /etc/ssl/mail/mail.other.org/privkey.pem "
        "/etc/ssl/mail/mail.other.org/fullchain.pem\n")
    assert (host.tree / f"{MAP_FILE}.db").stat().st_mode & 0o777 == 0o600
    dovecot = (host.tree / DOVECOT_SSL_FILE).read_text()
    assert dovecot.startswith("ssl = yes\n")
    assert dovecot.count("#DOMAIN_SSL_BEGIN_mail.other.org\nlocal_name mail.other.org {\n"
                         "    ssl_cert = </etc/ssl/mail/mail.other.org/fullchain.pem\n"
                         "    ssl_key = </etc/ssl/mail/mail.other.org/privkey.pem\n}\n"
                         "#DOMAIN_SSL_END_mail.other.org\n") == 1
    assert execs(host) == [
        ["exec", "c0de0002", "postmap", "-F", "hash:/etc/postfix/conf/vmail_ssl.map"],
        ["exec", "c0de0002", "postfix", "reload"],
        ["exec", "c0de0003", "doveconf", "-n"],
        ["exec", "c0de0003", "doveadm", "reload"],
        ["restart", "c0de0001"]]


@root
def test_hostname_certificate_becomes_the_default(host: BillionMailHost) -> None:
    path, new = lineage(host, ["mail.example.com", "example.com"])
    result = host.deploy(lineage=path)
    assert result.returncode == 0, result.stderr
    assert "the default certificate" in result.stdout
    for port in (*MAIL_PORTS, "HTTPS_PORT"):
        assert host.served(port) == new, port
        assert host.served(port, "mail.example.com") == new, port
    assert (host.tree / "ssl/cert.pem").read_bytes() == (path / "fullchain.pem").read_bytes()
    assert (host.tree / "ssl/key.pem").stat().st_mode & 0o777 == 0o600
    assert "example.com: not a mail.<domain> name" in result.stdout


@root
def test_renewal_of_the_same_lineage_replaces_the_served_certificate(
        host: BillionMailHost) -> None:
    path, first = lineage(host, ["mail.news.example.com"])
    assert host.deploy(lineage=path).returncode == 0
    path, renewed = lineage(host, ["mail.news.example.com"])
    host.reset_calls()
    result = host.deploy(lineage=path)
    assert result.returncode == 0, result.stderr
    assert renewed != first
    assert host.served("SMTP_PORT", "mail.news.example.com") == renewed
    assert host.served("IMAP_PORT", "mail.news.example.com") == renewed
    assert ["exec", "c0de0002", "postfix", "reload"] in execs(host)


@root
def test_second_run_changes_nothing_and_restarts_nothing(host: BillionMailHost) -> None:
    path, _ = lineage(host, ["mail.example.com", "mail.news.example.com"])
    assert host.deploy(lineage=path).returncode == 0
    before = host.snapshot()
    host.reset_calls()
    result = host.deploy(lineage=path)
    assert result.returncode == 0, result.stderr
    assert "nothing changed" in result.stdout
    assert host.snapshot() == before
    assert execs(host) == []


@root
def test_dry_run_changes_nothing(host: BillionMailHost) -> None:
    before = host.snapshot()
    path, _ = lineage(host, ["mail.example.com"])
    result = host.deploy("--dry-run", lineage=path)
    assert result.returncode == 0, result.stderr
    assert "would write ssl/mail.example.com/privkey.pem (mode 600)" in result.stdout
    assert "would write ssl/cert.pem (mode 644)" in result.stdout
    assert "would run docker restart billionmail-core-billionmail-1" in result.stdout
    assert host.snapshot() == before
    assert execs(host) == []


@root
@pytest.mark.parametrize("problem", ["mismatched key", "expired", "not yet valid"])
def test_bad_certificate_is_refused_with_nothing_changed(host: BillionMailHost,
                                                         problem: str) -> None:
    before = host.snapshot()
    if problem == "mismatched key":
        path, _ = lineage(host, ["mail.example.com"])
        _, other_key = host.ca.issue(["mail.example.com"])
        (path / "privkey.pem").write_bytes(other_key)
        expected = "does not belong to the certificate"
    elif problem == "expired":
        path, _ = lineage(host, ["mail.example.com"], days=30, age=40)
        expected = "expired on"
    else:
        path, _ = lineage(host, ["mail.example.com"], age=-2)
        expected = "is not valid before"
    result = host.deploy(lineage=path)
    assert result.returncode == 1
    assert result.stderr.startswith("billionmail-deploy: error: ")
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert host.snapshot() == before
    assert host.calls() == []


@root
def test_failed_reload_rolls_back(host: BillionMailHost) -> None:
    path, _ = lineage(host, ["mail.news.example.com"])
    assert host.deploy(lineage=path).returncode == 0
    before, served_before = host.snapshot(), host.served("IMAPS_PORT", "mail.news.example.com")
    path, _ = lineage(host, ["mail.news.example.com"])
    host.fault("dovecot-billionmail", "doveadm reload", "fail")
    host.reset_calls()
    result = host.deploy(lineage=path)
    assert result.returncode == 1
    assert "doveadm reload" in result.stderr and "restored the previous" in result.stderr
    assert without_db(host.snapshot()) == without_db(before)
    assert host.served("IMAPS_PORT", "mail.news.example.com") == served_before
    assert host.served("SMTPS_PORT", "mail.news.example.com") == served_before
    reloads = [call for call in execs(host) if call[2:] == ["doveadm", "reload"]]
    assert len(reloads) == 2  # the failed one, then the one after restoring


@root
def test_certificate_not_served_after_reload_rolls_back(host: BillionMailHost) -> None:
    path, old = lineage(host, ["mail.news.example.com"])
    assert host.deploy(lineage=path).returncode == 0
    before = host.snapshot()
    path, new = lineage(host, ["mail.news.example.com"])
    host.fault("dovecot-billionmail", "doveadm reload", "noop")
    result = host.deploy("--verify-timeout", "3", lineage=path)
    assert result.returncode == 1
    assert ("(IMAPS, SNI mail.news.example.com) served a certificate for "
            "mail.news.example.com") in result.stderr
    assert f"sha256 {old[:16]}" in result.stderr and new[:16] in result.stderr
    assert without_db(host.snapshot()) == without_db(before)
    assert host.served("SMTP_PORT", "mail.news.example.com") == old


@root
def test_status_flags_a_certificate_about_to_expire(host: BillionMailHost) -> None:
    path, _ = lineage(host, ["mail.news.example.com"], days=10)
    assert host.deploy(lineage=path).returncode == 0
    result = host.deploy("--status")
    assert result.returncode == 1
    assert "PROBLEM ssl/mail.news.example.com/fullchain.pem: mail.news.example.com" in \
        result.stdout
    assert "expires within 14 days" in result.stdout
    assert "ok      ssl/cert.pem: mail.example.com" in result.stdout
    assert host.deploy("--status", "--warn-days", "5").returncode == 0


@root
def test_status_flags_a_certificate_certbot_has_since_renewed(host: BillionMailHost) -> None:
    path, _ = lineage(host, ["mail.news.example.com"])
    assert host.deploy(lineage=path).returncode == 0
    assert host.deploy("--status").returncode == 0
    lineage(host, ["mail.news.example.com"])  # certbot renewed; the hook did not run
    result = host.deploy("--status")
    assert result.returncode == 1
    assert "not the certificate certbot last issued" in result.stdout


@root
def test_older_layout_is_kept_current_and_the_map_moves_to_the_new_one(
        host: BillionMailHost) -> None:
    old_folder = host.tree / "ssl" / "news.example.com"
    old_folder.mkdir()
    stale, stale_key = host.ca.issue(["mail.news.example.com"])
    (old_folder / "fullchain.pem").write_bytes(stale)
    (old_folder / "privkey.pem").write_bytes(stale_key)
    (old_folder / "privkey.pem").chmod(0o755)  # as BillionMail's set_ssl leaves it
    (host.tree / MAP_FILE).write_text(
        "mail.news.example.com /etc/ssl/mail/news.example.com/privkey.pem "
        "/etc/ssl/mail/news.example.com/fullchain.pem\n")
    path, new = lineage(host, ["mail.news.example.com"])
    result = host.deploy(lineage=path)
    assert result.returncode == 0, result.stderr
    assert (old_folder / "fullchain.pem").read_bytes() == (path / "fullchain.pem").read_bytes()
    assert (old_folder / "privkey.pem").stat().st_mode & 0o777 == 0o600
    assert (host.tree / MAP_FILE).read_text() == (
        map_line("mail.news.example.com") + "\n")
    assert host.served("SMTP_PORT", "mail.news.example.com") == new


@root
def test_install_dir_found_by_compose_label_under_another_project_name(
        tmp_path: Path, ca: ThrowawayCA) -> None:
    with BillionMailHost(tmp_path, ca, project="coolify-b1llion") as host:
        path, new = lineage(host, ["mail.news.example.com"])
        result = host.deploy(lineage=path, with_dir=False)
        assert result.returncode == 0, result.stderr
        assert str(host.tree) in result.stdout
        assert host.served("POP_PORT", "mail.news.example.com") == new


@root
def test_missing_lineage_and_foreign_dir_are_one_line_errors(host: BillionMailHost,
                                                            tmp_path: Path) -> None:
    result = host.deploy(env={"RENEWED_LINEAGE": ""})
    assert result.returncode == 1
    assert "run as certbot's --deploy-hook" in result.stderr
    path, _ = lineage(host, ["mail.example.com"])
    foreign = tmp_path / "not-billionmail"
    foreign.mkdir()
    result = host.deploy("--billionmail-dir", str(foreign), lineage=path)
    assert result.returncode == 1
    assert f"{foreign} is not a BillionMail install" in result.stderr
    assert list(foreign.iterdir()) == []


def test_install_dir_detection_order(tmp_path: Path) -> None:
    note = tmp_path / "PWD-Billion-Mail.txt"
    default = tmp_path / "default"
    assert find_install_dir(None, None, pwd_file=note, default=default) == default
    note.write_text("/srv/billionmail\n")
    assert find_install_dir(None, None, pwd_file=note, default=default) == \
        Path("/srv/billionmail")
    assert find_install_dir("/x", None, pwd_file=note, default=default) == Path("/x")


def test_edits_match_names_exactly_and_keep_other_entries() -> None:
    others = ("#DOMAIN_SSL_BEGIN_mail.ex.com.au\nlocal_name mail.ex.com.au {\n"
              "    ssl_cert = </x\n    ssl_key = </y\n}\n#DOMAIN_SSL_END_mail.ex.com.au\n")
    stale = dovecot_block("mail.ex.com").replace("fullchain", "old")
    edited = dovecot_with("ssl = yes\n" + others + stale + stale, ["mail.ex.com"])
    assert edited == "ssl = yes\n" + others + dovecot_block("mail.ex.com")
    assert dovecot_with(edited, ["mail.ex.com"]) == edited
    mapped = map_with("mail.ex.com.au a b\nmail.ex.com old old\n", ["mail.ex.com"])
    assert mapped == f"mail.ex.com.au a b\n{map_line('mail.ex.com')}\n"
    with pytest.raises(DeployError, match="outside BillionMail's"):
        dovecot_with("local_name mail.ex.com {\n}\n", ["mail.ex.com"])
