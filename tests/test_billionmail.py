"""billionmail-deploy against a BillionMail tree with real Postfix and Dovecot."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from certbot_dns_hostinger.billionmail.database import QUERY, DatabaseUnreadable, parse_rows
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
from certbot_dns_hostinger.billionmail.services import POSTMAP
from sandbox.billionmail_host import CORE_HOST, BillionMailHost
from sandbox.ca import ThrowawayCA, fingerprint, write_lineage
from sandbox.postgres import Postgres, server_binaries

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
    """The docker calls that change something (everything but ``ps`` and reading the DB)."""
    return [call for call in host.calls() if call[0] != "ps" and "psql" not in call]


def without_db(snapshot: dict[str, tuple[bytes, int]]) -> dict[str, tuple[bytes, int]]:
    return {path: item for path, item in snapshot.items() if not path.endswith(".db")}


@root
def test_first_install_serves_each_domain_by_sni_on_every_port(host: BillionMailHost) -> None:
    default_before = host.served("IMAPS_PORT")
    path, new = lineage(host, ["mail.news.example.com", "mail.other.org", "www.other.org"])
    result = host.deploy(lineage=path)
    assert result.returncode == 0, result.stderr
    assert "www.other.org: not a BillionMail host name" in result.stdout
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
        f"\n{map_line(CORE_HOST)}\n"
        "mail.news.example.com /etc/ssl/mail/mail.news.example.com/privkey.pem "
        "/etc/ssl/mail/mail.news.example.com/fullchain.pem\n"
        "mail.other.org /etc/ssl/mail/mail.other.org/privkey.pem "
        "/etc/ssl/mail/mail.other.org/fullchain.pem")
    assert (host.tree / f"{MAP_FILE}.db").stat().st_mode & 0o777 == 0o600
    dovecot = (host.tree / DOVECOT_SSL_FILE).read_text()
    assert dovecot.startswith("ssl = yes\n")
    assert dovecot.count("\n\n#DOMAIN_SSL_BEGIN_mail.other.org\nlocal_name mail.other.org {\n"
                         "    ssl_cert = < /etc/ssl/mail/mail.other.org/fullchain.pem\n"
                         "    ssl_key = < /etc/ssl/mail/mail.other.org/privkey.pem\n}\n"
                         "#DOMAIN_SSL_END_mail.other.org\n") == 1
    assert host.served("IMAPS_PORT", CORE_HOST) != new  # core's own entry left alone
    assert (host.tree / "ssl" / CORE_HOST / "privkey.pem").stat().st_mode & 0o777 == 0o755
    assert execs(host) == [
        ["exec", "c0de0002", *POSTMAP],
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
    assert "example.com: not a BillionMail host name" in result.stdout


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


def test_dry_run_changes_nothing(tree: BillionMailHost) -> None:
    before = tree.snapshot()
    path, _ = lineage(tree, ["mail.example.com"])
    result = tree.deploy("--dry-run", lineage=path)
    assert result.returncode == 0, result.stderr
    assert "would write ssl/mail.example.com/privkey.pem (mode 600)" in result.stdout
    assert "would write ssl/cert.pem (mode 644)" in result.stdout
    assert "would run docker restart billionmail-core-billionmail-1" in result.stdout
    assert tree.snapshot() == before
    assert execs(tree) == []


@pytest.mark.parametrize("problem", ["mismatched key", "expired", "not yet valid"])
def test_bad_certificate_is_refused_with_nothing_changed(tree: BillionMailHost,
                                                         problem: str) -> None:
    before = tree.snapshot()
    if problem == "mismatched key":
        path, _ = lineage(tree, ["mail.example.com"])
        _, other_key = tree.ca.issue(["mail.example.com"])
        (path / "privkey.pem").write_bytes(other_key)
        expected = "does not belong to the certificate"
    elif problem == "expired":
        path, _ = lineage(tree, ["mail.example.com"], days=30, age=40)
        expected = "expired on"
    else:
        path, _ = lineage(tree, ["mail.example.com"], age=-2)
        expected = "is not valid before"
    result = tree.deploy(lineage=path)
    assert result.returncode == 1
    assert result.stderr.startswith("billionmail-deploy: error: ")
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert tree.snapshot() == before
    assert tree.calls() == []


def test_failed_reload_rolls_back(tree: BillionMailHost) -> None:
    path, _ = lineage(tree, ["mail.news.example.com"])
    assert tree.deploy("--no-verify", lineage=path).returncode == 0
    before = tree.snapshot()
    assert "ssl/mail.news.example.com/" in before  # the snapshot lists directories too
    path, _ = lineage(tree, ["mail.news.example.com", "mail.other.org"])  # a new folder too
    tree.fault("dovecot-billionmail", "doveadm reload", "fail")
    tree.reset_calls()
    result = tree.deploy("--no-verify", lineage=path)
    assert result.returncode == 1
    assert "doveadm reload" in result.stderr and "restored the previous" in result.stderr
    assert tree.snapshot() == before
    assert not (tree.tree / "ssl/mail.other.org").exists()  # created by the run: removed
    reloads = [call for call in execs(tree) if call[2:] == ["doveadm", "reload"]]
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


def test_status_flags_a_certificate_about_to_expire(tree: BillionMailHost) -> None:
    path, _ = lineage(tree, ["mail.news.example.com"], days=10)
    assert tree.deploy("--no-verify", lineage=path).returncode == 0
    result = tree.deploy("--status")
    assert result.returncode == 1
    assert "PROBLEM ssl/mail.news.example.com/fullchain.pem: mail.news.example.com" in \
        result.stdout
    assert "expires within 14 days" in result.stdout
    assert "ok      ssl/cert.pem: mail.example.com" in result.stdout
    assert tree.deploy("--status", "--warn-days", "5").returncode == 0


def test_status_flags_a_certificate_certbot_has_since_renewed(tree: BillionMailHost) -> None:
    path, _ = lineage(tree, ["mail.news.example.com"])
    assert tree.deploy("--no-verify", lineage=path).returncode == 0
    assert tree.deploy("--status").returncode == 0
    lineage(tree, ["mail.news.example.com"])  # certbot renewed; the hook did not run
    result = tree.deploy("--status")
    assert result.returncode == 1
    assert "not the certificate certbot last issued" in result.stdout


def older_layout(host: BillionMailHost, folder: str = "news.example.com",
                 names: Sequence[str] = ("mail.news.example.com",)) -> Path:
    """An ``ssl/<domain>/`` folder as releases before 2025-08 wrote it; the map points there."""
    old_folder = host.tree / "ssl" / folder
    old_folder.mkdir()
    stale, stale_key = host.ca.issue(list(names))
    (old_folder / "fullchain.pem").write_bytes(stale)
    (old_folder / "privkey.pem").write_bytes(stale_key)
    (old_folder / "privkey.pem").chmod(0o755)  # as BillionMail's set_ssl leaves it
    (host.tree / MAP_FILE).write_text(
        f"{names[0]} /etc/ssl/mail/{folder}/privkey.pem /etc/ssl/mail/{folder}/fullchain.pem\n")
    return old_folder


def test_older_layout_is_kept_current_and_the_map_moves_to_the_new_one(
        tree: BillionMailHost) -> None:
    old_folder = older_layout(tree)
    result, path = run(tree, ["mail.news.example.com"])
    assert result.returncode == 0, result.stderr
    assert (old_folder / "fullchain.pem").read_bytes() == (path / "fullchain.pem").read_bytes()
    assert (old_folder / "privkey.pem").read_bytes() == (path / "privkey.pem").read_bytes()
    assert (old_folder / "privkey.pem").stat().st_mode & 0o777 == 0o600
    assert (tree.tree / MAP_FILE).read_text() == (
        map_line("mail.news.example.com") + "\n")


@root
def test_older_layout_tree_serves_the_new_certificate(host: BillionMailHost) -> None:
    older_layout(host)
    path, new = lineage(host, ["mail.news.example.com"])
    result = host.deploy(lineage=path)
    assert result.returncode == 0, result.stderr
    assert host.served("SMTP_PORT", "mail.news.example.com") == new
    assert host.served("IMAPS_PORT", "mail.news.example.com") == new


@pytest.mark.parametrize("case", ["another active host", "another inactive host",
                                  "another certificate"])
def test_older_layout_folder_of_someone_else_is_never_written(
        tree: BillionMailHost, case: str) -> None:
    if case == "another certificate":  # ssl/news.example.com/ holds no smtp.news... cert
        tree.set_domains([("news.example.com", "smtp.news.example.com", 1)])
        names = ("www.news.example.com",)
    else:  # example.com's mail host name is news.example.com: ssl/news.example.com/ is its
        tree.set_domains([("news.example.com", "smtp.news.example.com", 1),
                          ("example.com", "news.example.com", int(case == "another active host"))])
        names = ("news.example.com", "smtp.news.example.com")  # it even covers the host
    older_layout(tree, "news.example.com", names)
    before = {k: v for k, v in tree.snapshot().items() if k.startswith("ssl/news.example.com/")}
    result, path = run(tree, ["smtp.news.example.com"])
    assert result.returncode == 0, result.stderr
    chain = tree.tree / "ssl/smtp.news.example.com/fullchain.pem"
    assert chain.read_bytes() == (path / "fullchain.pem").read_bytes()
    after = {k: v for k, v in tree.snapshot().items() if k.startswith("ssl/news.example.com/")}
    assert after == before and len(before) == 3


@root
def test_install_dir_found_by_compose_label_under_another_project_name(
        tmp_path: Path, ca: ThrowawayCA) -> None:
    with BillionMailHost(tmp_path, ca, project="coolify-b1llion") as host:
        path, new = lineage(host, ["mail.news.example.com"])
        result = host.deploy(lineage=path, with_dir=False)
        assert result.returncode == 0, result.stderr
        assert str(host.tree) in result.stdout
        assert host.served("POP_PORT", "mail.news.example.com") == new


def test_missing_lineage_and_foreign_dir_are_one_line_errors(tree: BillionMailHost,
                                                            tmp_path: Path) -> None:
    result = tree.deploy(env={"RENEWED_LINEAGE": ""})
    assert result.returncode == 1
    assert "run as certbot's --deploy-hook" in result.stderr
    path, _ = lineage(tree, ["mail.example.com"])
    foreign = tmp_path / "not-billionmail"
    foreign.mkdir()
    result = tree.deploy("--billionmail-dir", str(foreign), lineage=path)
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



# -- BillionMail's formats, byte for byte (no root) -------------------------------------

CORE_MAP = f"\n{map_line('mail.ex.com.au')}"  # as core leaves it: empty first line, no final \n


def test_map_keeps_cores_shape_and_other_lines() -> None:
    added = map_with(CORE_MAP, ["mail.ex.com"])
    assert added == f"{CORE_MAP}\n{map_line('mail.ex.com')}"
    assert map_with(added, ["mail.ex.com"]) == added
    assert map_with("", ["a.ex.com"]) == f"\n{map_line('a.ex.com')}"  # core's first line
    stale = f"{CORE_MAP}\nmail.ex.com old old\nmail.ex.com older older"
    assert map_with(stale, ["mail.ex.com"]) == f"{CORE_MAP}\n{map_line('mail.ex.com')}"
    with_newline = f"{map_line('b.ex.com')}\n"
    assert map_with(with_newline, ["a.ex.com"]) == f"{with_newline}{map_line('a.ex.com')}\n"
    spaced = f"mail.ex.com\t{map_line('mail.ex.com').split(' ', 1)[1]}  "
    assert map_with(spaced, ["mail.ex.com"]) == spaced  # same meaning: not rewritten


def test_dovecot_blocks_are_cores_and_others_are_kept_exactly() -> None:
    assert dovecot_block("smtp.ex.org") == (
        "\n#DOMAIN_SSL_BEGIN_smtp.ex.org\nlocal_name smtp.ex.org {\n"
        "    ssl_cert = < /etc/ssl/mail/smtp.ex.org/fullchain.pem\n"
        "    ssl_key = < /etc/ssl/mail/smtp.ex.org/privkey.pem\n}\n"
        "#DOMAIN_SSL_END_smtp.ex.org\n")
    others = "ssl = yes\n" + dovecot_block("mail.ex.com.au")
    added = dovecot_with(others, ["mail.ex.com"])
    assert added == others + dovecot_block("mail.ex.com")
    assert dovecot_with(added, ["mail.ex.com"]) == added
    stale = dovecot_block("mail.ex.com").replace("fullchain", "old")
    edited = dovecot_with(others + stale + stale, ["mail.ex.com"])
    assert edited == others + dovecot_block("mail.ex.com")
    with pytest.raises(DeployError, match="outside BillionMail's"):
        dovecot_with("local_name mail.ex.com {\n}\n", ["mail.ex.com"])


def test_dovecot_blocks_moved_or_respaced_count_as_the_same() -> None:
    ours = dovecot_block("mail.ex.com")
    moved = ours.strip("\n") + "\nssl = yes\n"  # block first, no empty lines around it
    assert dovecot_with(moved, ["mail.ex.com"]) == moved
    old_hook = ours.replace("= < ", "= <")  # this hook's earlier format
    assert dovecot_with(old_hook, ["mail.ex.com"]) == old_hook
    other_path = ours.replace("/mail.ex.com/fullchain", "/ex.com/fullchain")
    assert dovecot_with(other_path, ["mail.ex.com"]) == ours


# -- the database (no root) -----------------------------------------------------------

PSQL_SHAPES = [[], ["-A"], ["-t"], ["-A", "-t", "-F", "|"]]


def fake_psql(host: BillionMailHost, *args: str, shape: Sequence[str] = (),
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The stand-in docker answering ``exec <pgsql> psql ...`` (``shape``: psql's options)."""
    return subprocess.run([str(host.docker), "exec", "-i", *args, "c0de0004", "psql", "-U",
                           "billionmail", "-d", "billionmail", *shape, "-c", QUERY],
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture
def tree(tmp_path: Path, ca: ThrowawayCA) -> Iterator[BillionMailHost]:
    """A BillionMail tree, database and stand-in docker, without real services."""
    with BillionMailHost(tmp_path, ca, services=False) as made:
        yield made


@pytest.mark.parametrize("shape", PSQL_SHAPES)
def test_psql_output_parses_in_every_shape(tree: BillionMailHost, shape: list[str]) -> None:
    tree.set_domains([("ex.com", "", 1), ("ex.org", "smtp.ex.org", 0)])
    done = fake_psql(tree, "-e", "PGPASSWORD", shape=shape,
                     env={"PGPASSWORD": tree.db_password})
    assert done.returncode == 0, done.stderr
    assert parse_rows(done.stdout) == [["ex.com", "", "1"], ["ex.org", "smtp.ex.org", "0"]]
    assert ("(2 rows)" in done.stdout) == ("-t" not in shape)
    with pytest.raises(DatabaseUnreadable, match="unexpected line"):
        parse_rows("ERROR: something else entirely\n")


REAL_POSTGRES = pytest.mark.skipif(
    os.geteuid() != 0 or server_binaries() is None or not shutil.which("psql"),
    reason="needs root, PostgreSQL's server and psql (make test installs them)")


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A real PostgreSQL with BillionMail's domain table, for what psql really prints."""
    with Postgres("billionmail", "s3cret-db-pass", "billionmail") as server:
        server.insert([("ex.com", "", 1), ("ex.org", "smtp.ex.org", 0),
                       ("news.example.com", "smtp.news.example.com", 1)])
        yield server


@pytest.mark.root
@REAL_POSTGRES
@pytest.mark.parametrize("shape", PSQL_SHAPES)
def test_stand_in_psql_prints_what_real_psql_prints(postgres: Postgres, tree: BillionMailHost,
                                                    shape: list[str]) -> None:
    rows = [("ex.com", "", 1), ("ex.org", "smtp.ex.org", 0),
            ("news.example.com", "smtp.news.example.com", 1)]
    real = postgres.psql([*shape, "-c", QUERY])
    assert real.returncode == 0, real.stderr
    tree.set_domains(rows)
    stand_in = fake_psql(tree, "-e", "PGPASSWORD", shape=shape,
                         env={"PGPASSWORD": tree.db_password})
    assert stand_in.returncode == 0, stand_in.stderr
    assert stand_in.stdout == real.stdout
    assert parse_rows(real.stdout) == [[d, a, str(active)] for d, a, active in rows]


@pytest.mark.root
@REAL_POSTGRES
def test_real_psql_takes_the_password_from_the_environment_only(postgres: Postgres) -> None:
    assert postgres.psql(["-A", "-t", "-c", "SELECT 1"]).stdout == "1\n"
    refused = postgres.psql(["-A", "-t", "-c", "SELECT 1"], password="wrong")
    assert refused.returncode == 2
    assert 'password authentication failed for user "billionmail"' in refused.stderr


def test_stand_in_psql_wants_the_password_from_the_environment(tree: BillionMailHost) -> None:
    on_argv = fake_psql(tree, "-e", f"PGPASSWORD={tree.db_password}")
    assert on_argv.returncode != 0 and "command line" in on_argv.stderr
    missing = fake_psql(tree, "-e", "PGPASSWORD", env={"PGPASSWORD": "wrong"})
    assert "password authentication failed" in missing.stderr
    tree.database("down")
    down = fake_psql(tree, "-e", "PGPASSWORD", env={"PGPASSWORD": tree.db_password})
    assert down.returncode == 2 and "Is the server running" in down.stderr


# -- which hosts get the certificate (no root: files and docker calls) --------------------

def run(tree: BillionMailHost, names: list[str], *args: str,
        ) -> tuple[subprocess.CompletedProcess[str], Path]:
    path, _ = lineage(tree, names)
    return tree.deploy("--no-verify", *args, lineage=path), path


def reloads(tree: BillionMailHost) -> list[list[str]]:
    return [call for call in execs(tree) if call[0] in ("exec", "restart")]


def test_custom_host_name_from_the_database(tree: BillionMailHost) -> None:
    core_before = {k: v for k, v in tree.snapshot().items() if CORE_HOST in k}
    result, path = run(tree, ["smtp.example.org"])
    assert result.returncode == 0, result.stderr
    assert "Installed the certificate for smtp.example.org" in result.stdout
    folder = tree.tree / "ssl" / "smtp.example.org"
    assert (folder / "fullchain.pem").read_bytes() == (path / "fullchain.pem").read_bytes()
    assert (folder / "privkey.pem").stat().st_mode & 0o777 == 0o600
    assert not (tree.tree / "ssl" / "mail.example.org").exists()
    assert (tree.tree / MAP_FILE).read_text() == (
        f"\n{map_line(CORE_HOST)}\n{map_line('smtp.example.org')}")
    assert (tree.tree / DOVECOT_SSL_FILE).read_text().endswith(dovecot_block("smtp.example.org"))
    assert {k: v for k, v in tree.snapshot().items() if CORE_HOST in k} == core_before
    assert ["exec", "c0de0002", "postfix", "reload"] in reloads(tree)


def test_wildcard_installs_every_host_it_covers_and_no_other(tree: BillionMailHost) -> None:
    tree.set_domains([("example.org", "smtp.example.org", 1), ("b.example.org", "", 1),
                      ("other.org", "", 1), ("shop.net", "mx.example.org", 1)])
    result, path = run(tree, ["*.example.org"])
    assert result.returncode == 0, result.stderr
    assert "Installed the certificate for mx.example.org, smtp.example.org into" in result.stdout
    assert "not installed" not in result.stdout
    for host in ("mx.example.org", "smtp.example.org"):
        chain = tree.tree / "ssl" / host / "fullchain.pem"
        assert chain.read_bytes() == (path / "fullchain.pem").read_bytes(), host
        assert map_line(host) in (tree.tree / MAP_FILE).read_text().split("\n"), host
        assert dovecot_block(host) in (tree.tree / DOVECOT_SSL_FILE).read_text(), host
    assert not (tree.tree / "ssl/mail.b.example.org").exists()  # two labels: not covered
    assert not (tree.tree / "ssl/mail.other.org").exists()


def test_inactive_domain_is_not_installed_and_said_so(tree: BillionMailHost) -> None:
    tree.set_domains([("old.example.org", "", 0), ("example.org", "smtp.example.org", 1)])
    result, _ = run(tree, ["mail.old.example.org", "smtp.example.org"])
    assert result.returncode == 0, result.stderr
    assert ("mail.old.example.org: the domain old.example.org is not active in BillionMail; "
            "not installed") in result.stdout
    assert "not a BillionMail host name" not in result.stdout
    assert not (tree.tree / "ssl/mail.old.example.org").exists()
    assert "mail.old.example.org" not in (tree.tree / MAP_FILE).read_text()


@pytest.mark.parametrize(("condition", "reason"), [
    ("down", "psql in billionmail-pgsql-billionmail-1 exited with 2: psql: error: connection"),
    ("no-psql", 'exec: "psql": executable file not found'),
    ("gone", "no running container with label com.docker.compose.service=pgsql-billionmail"),
])
def test_database_unreadable_falls_back_to_the_names_on_disk(
        tree: BillionMailHost, condition: str, reason: str) -> None:
    assert run(tree, ["smtp.example.org"])[0].returncode == 0
    tree.database(condition)
    result, path = run(tree, ["smtp.example.org", "mail.fresh.org", "www.fresh.org"])
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if "could not read" in line]
    assert len(notes) == 1 and reason in notes[0], result.stdout
    assert notes[0].startswith("note: could not read BillionMail's database (")
    for host in ("smtp.example.org", "mail.fresh.org"):  # on disk; the certificate's mail.*
        chain = tree.tree / "ssl" / host / "fullchain.pem"
        assert chain.read_bytes() == (path / "fullchain.pem").read_bytes(), host
    assert not (tree.tree / "ssl/www.fresh.org").exists()
    assert tree.db_password not in result.stdout + result.stderr


def test_certificate_that_fits_nothing_fails_and_changes_nothing(tree: BillionMailHost) -> None:
    before = tree.snapshot()
    result, _ = run(tree, ["www.unrelated.org", "unrelated.org"])
    assert result.returncode == 1
    assert result.stdout == "", result.stdout  # the error line names everything
    assert result.stderr.count("\n") == 1, result.stderr
    assert ("the certificate for www.unrelated.org, unrelated.org fits none of BillionMail's "
            "host names (mail.example.com, mail.example.net, mail.news.example.com, "
            "mail.other.org, smtp.example.org) nor BILLIONMAIL_HOSTNAME (mail.example.com)"
            ) in result.stderr
    assert tree.snapshot() == before
    assert reloads(tree) == []


@pytest.mark.parametrize("core_action", ["moves blocks", "rewrites block"])
def test_after_core_edits_10_ssl_conf_a_second_run_changes_nothing(
        tree: BillionMailHost, core_action: str) -> None:
    path, _ = lineage(tree, ["smtp.example.org", "mail.other.org"])
    assert tree.deploy("--no-verify", lineage=path).returncode == 0
    ours = (tree.tree / DOVECOT_SSL_FILE).read_bytes()
    if core_action == "moves blocks":
        tree.core_moves_blocks()
    else:
        tree.core_rewrites_block("smtp.example.org")
    assert (tree.tree / DOVECOT_SSL_FILE).read_bytes() != ours  # core really changed it
    before = tree.snapshot()
    tree.reset_calls()
    result = tree.deploy("--no-verify", lineage=path)
    assert result.returncode == 0, result.stderr
    assert "already has this certificate" in result.stdout
    assert tree.snapshot() == before
    assert reloads(tree) == []


def test_missing_dh_pem_is_refused_before_writing(tree: BillionMailHost) -> None:
    (tree.tree / "ssl/dh.pem").unlink()
    before = tree.snapshot()
    result, _ = run(tree, ["smtp.example.org"])
    assert result.returncode == 1
    assert f"{tree.tree}/ssl/dh.pem is missing" in result.stderr
    assert result.stderr.count("\n") == 1
    assert tree.snapshot() == before
    assert reloads(tree) == []


def test_database_password_never_on_a_command_line_nor_in_output(
        tree: BillionMailHost) -> None:
    result, _ = run(tree, ["smtp.example.org"])
    assert result.returncode == 0, result.stderr
    psql = [call for call in tree.calls() if "psql" in call]
    assert len(psql) == 1 and psql[0][:5] == ["exec", "-i", "-e", "PGPASSWORD", "c0de0004"]
    assert not [call for call in tree.calls() if tree.db_password in " ".join(call)]
    assert tree.db_password not in result.stdout + result.stderr
    assert "could not read" not in result.stdout  # the stand-in accepted the password


# -- real Postfix and Dovecot serve a custom host name (root) ---------------------------

@root
def test_custom_host_name_is_served_by_sni_next_to_cores_entry(host: BillionMailHost) -> None:
    core_served = fingerprint((host.tree / "ssl" / CORE_HOST / "fullchain.pem").read_bytes())
    # Real Dovecot and Postfix read core's block (``ssl_cert = < ...``) and map line.
    assert host.served("IMAPS_PORT", CORE_HOST) == core_served
    assert host.served("SMTPS_PORT", CORE_HOST) == core_served
    path, new = lineage(host, ["smtp.example.org"])
    result = host.deploy(lineage=path)
    assert result.returncode == 0, result.stderr
    assert "verified by TLS handshakes" in result.stdout
    for port in (*MAIL_PORTS, "HTTPS_PORT"):
        assert host.served(port, "smtp.example.org") == new, port
    assert host.served("IMAPS_PORT", CORE_HOST) == core_served
    assert host.served("SMTP_PORT", CORE_HOST) == core_served


# -- what the review found (no root unless marked) ----------------------------------------

def test_no_mail_port_in_env_is_said_not_verified(tree: BillionMailHost) -> None:
    env = tree.tree / ".env"
    env.write_text("".join(line for line in env.read_text().splitlines(keepends=True)
                           if "_PORT=" not in line))
    path, _ = lineage(tree, ["smtp.example.org"])
    result = tree.deploy(lineage=path)  # verification asked for, nothing to check
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"Installed the certificate for smtp.example.org into {tree.tree} (5 files); "
        f"not verified: no mail port in .env.")
    assert "verified by TLS handshakes" not in result.stdout


def test_bytes_that_are_not_utf8_in_cores_files_are_kept_exactly(tree: BillionMailHost) -> None:
    for relative in (MAP_FILE, DOVECOT_SSL_FILE):
        path = tree.tree / relative
        path.write_bytes(b"# caf\xe9 \xff written by hand\n" + path.read_bytes())
    before = {relative: (tree.tree / relative).read_bytes()
              for relative in (MAP_FILE, DOVECOT_SSL_FILE)}
    result, _ = run(tree, ["smtp.example.org"])
    assert result.returncode == 0, result.stderr
    assert (tree.tree / MAP_FILE).read_bytes() == (
        before[MAP_FILE] + f"\n{map_line('smtp.example.org')}".encode())
    assert (tree.tree / DOVECOT_SSL_FILE).read_bytes() == (
        before[DOVECOT_SSL_FILE] + dovecot_block("smtp.example.org").encode())


@root
def test_compiled_map_is_created_0600_inside_the_container(host: BillionMailHost) -> None:
    path, _ = lineage(host, ["mail.news.example.com"])
    assert host.deploy(lineage=path).returncode == 0
    postmap = [call for call in execs(host) if "postmap" in " ".join(call)]
    assert len(postmap) == 1
    compiled = host.tree / f"{MAP_FILE}.db"
    compiled.unlink()  # its first creation, by the hook's own command, without its chmod
    done = subprocess.run([str(host.docker), *postmap[0]], capture_output=True, text=True,
                          timeout=60, check=False, umask=0o022)
    assert done.returncode == 0, done.stderr
    assert compiled.stat().st_mode & 0o777 == 0o600


# -- every message is documented ----------------------------------------------------------

PACKAGE = Path(__file__).resolve().parent.parent / "certbot_dns_hostinger" / "billionmail"
PAGE = PACKAGE.parent.parent / "docs" / "troubleshooting.rst"


def message_templates() -> list[tuple[str, str]]:
    """(module, regex) of every DeployError, database reason and printed line of the hook.

    A value in the message (``{...}``) matches any text, e.g. ``<dir>`` on the page.
    """
    found = []
    for module in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            called = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if called not in ("DeployError", "DatabaseUnreadable", "print"):
                continue
            parts = node.args[0].values if isinstance(node.args[0], ast.JoinedStr) else \
                [node.args[0]]
            if not all(isinstance(p, (ast.Constant, ast.FormattedValue)) for p in parts):
                continue  # a line built elsewhere (--status prints its lines whole)
            texts = [p.value if isinstance(p, ast.Constant) else
                     "billionmail-deploy" if getattr(p.value, "id", "") == "PROG" else None
                     for p in parts]
            if texts and isinstance(texts[0], str):
                texts[0] = texts[0].lstrip()  # the dry run's indented lines
            if any(texts):
                found.append((module.name, "".join(".+" if text is None else re.escape(text)
                                                   for text in texts)))
    return found


def test_every_message_of_the_hook_is_in_the_troubleshooting_page() -> None:
    lines = [line.strip() for line in PAGE.read_text().splitlines()]
    templates = message_templates()
    assert len(templates) > 40  # the walk really found them
    missing = [(module, regex) for module, regex in templates
               if not any(re.fullmatch(f"(billionmail-deploy: error: )?{regex}", line)
                          for line in lines)]
    assert missing == []
