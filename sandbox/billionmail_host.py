"""A BillionMail install for tests: its directory tree and real mail services.

Postfix and Dovecot run for real, each in a private mount namespace (``unshare -m``)
where the tree's ``ssl/`` appears at ``/etc/ssl/mail`` and its ``conf/`` directories
at ``/etc/postfix/conf`` and ``/etc/dovecot/conf.d``: the same view the containers
have, so the container paths in the SNI map and the Dovecot blocks are the real ones.
A stand-in ``docker`` (``sandbox/fake_docker.py``) finds them by compose labels and runs
``docker exec`` commands inside those namespaces; the panel is ``sandbox/panel.py``; the
database's ``domain`` table is answered by ``sandbox/fake_psql.py``. Everything listens
on 127.0.0.1 free ports and is stopped on exit. The services need root; the tree, the
stand-in ``docker`` and the database do not (``services=False``).

The tree is in BillionMail's real formats, as its core leaves it after installing a
certificate of its own for ``CORE_HOST``: a map that starts with an empty line and has no
final newline, core's Dovecot block (``ssl_cert = < ...``) and key files with mode 0755.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from types import TracebackType

from certbot_dns_hostinger.billionmail.formats import (
    DOVECOT_SSL_FILE,
    MAP_FILE,
    dovecot_block,
    map_line,
)
from certbot_dns_hostinger.billionmail.verify import PORTS, served_certificate
from sandbox.ca import ThrowawayCA
from sandbox.processes import free_port

HERE = Path(__file__).resolve().parent
READY_TIMEOUT = 60.0
PORT_KEYS = ("SMTP_PORT", "SUBMISSION_PORT", "SMTPS_PORT", "IMAP_PORT", "IMAPS_PORT",
             "POP_PORT", "POPS_PORT", "HTTPS_PORT")
BASE_DOVECOT_SSL = """\
ssl = yes
ssl_cert = </etc/ssl/mail/cert.pem
ssl_key = </etc/ssl/mail/key.pem
ssl_dh = </etc/ssl/mail/dh.pem
ssl_min_protocol = TLSv1.2
"""
COMPOSE = """\
services:
  core-billionmail:
    image: billionmail/core:4.9.0
    volumes: ["./ssl:/etc/ssl/mail"]
  postfix-billionmail:
    image: billionmail/postfix:1.6
    volumes: ["./ssl:/etc/ssl/mail", "./conf/postfix/conf:/etc/postfix/conf"]
  dovecot-billionmail:
    image: billionmail/dovecot:1.6
    volumes: ["./ssl:/etc/ssl/mail", "./conf/dovecot/conf.d:/etc/dovecot/conf.d"]
  pgsql-billionmail:
    image: postgres:17.4-alpine
"""
CORE_HOST = "mail.example.net"
"""A host name whose certificate BillionMail's core installed itself (self-signed)."""
DOMAINS = [  # BillionMail's domain table: (domain, a_record, active)
    ("example.com", "", 1), ("news.example.com", "", 1), ("other.org", "mail.other.org", 1),
    ("example.org", "smtp.example.org", 1), ("example.net", CORE_HOST, 1),
]
DB_NAME = "billionmail"
DB_USER = "billionmail"


class BillionMailHost:
    """A BillionMail tree plus running Postfix, Dovecot and panel; a context manager."""

    def __init__(self, base: Path, ca: ThrowawayCA, *, hostname: str = "mail.example.com",
                 project: str = "billionmail", services: bool = True,
                 domains: list[tuple[str, str, int]] | None = None) -> None:
        self.base = base
        self.domains = list(DOMAINS if domains is None else domains)
        self.db_password = f"pg-{secrets.token_hex(12)}"
        self.ca = ca
        self.hostname = hostname
        self.project = project
        self.services = services
        self.tree = base / "BillionMail"
        self.run = base / "run"
        self.ports = {key: free_port() for key in PORT_KEYS}
        self.docker = base / "bin" / "docker"
        self.state_file = self.run / "docker-state.json"
        self.log_file = self.run / "docker-calls.jsonl"
        self._started: list[tuple[str, Path]] = []  # (kind, pid file)
        self._outside: Path | None = None
        self._children: list[subprocess.Popen[bytes]] = []

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> BillionMailHost:
        try:
            self.build_tree()
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def build_tree(self) -> None:
        """The files of a fresh BillionMail install with its self-signed certificate."""
        ssl_dir = self.tree / "ssl"
        for folder in (ssl_dir, self.tree / "conf/postfix/conf", self.tree / "conf/dovecot/conf.d",
                       self.run):
            folder.mkdir(parents=True, exist_ok=True)
        (self.tree / "docker-compose.yml").write_text(COMPOSE)
        ports = "".join(f"{key}={port}\n" for key, port in self.ports.items())
        (self.tree / ".env").write_text(
            f"# BillionMail settings\nBILLIONMAIL_HOSTNAME={self.hostname}\nTZ=UTC\n"
            f"DBNAME={DB_NAME}\nDBUSER={DB_USER}\nDBPASS={self.db_password}\n{ports}")
        chain, key = self.ca.issue([self.hostname], days=3650)
        (ssl_dir / "cert.pem").write_bytes(chain)
        (ssl_dir / "key.pem").write_bytes(key)
        (ssl_dir / "key.pem").chmod(0o600)
        subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt",
                        "dh_param:ffdhe2048", "-out", str(ssl_dir / "dh.pem")],
                       check=True, capture_output=True, timeout=60)
        (self.tree / MAP_FILE).write_text("")
        (self.tree / DOVECOT_SSL_FILE).write_text(BASE_DOVECOT_SSL)
        self.core_installs(CORE_HOST)

    def core_installs(self, host: str) -> None:
        """What BillionMail's core does when it installs its own certificate for ``host``.

        Key files 0755; the map split on ``\\n``, the host's line dropped by prefix, its
        line appended, joined with ``\\n``; the Dovecot block replaced by core's greedy
        regex (with core's leading empty line and final newline) or appended.
        """
        chain, key = self.ca.issue([host], days=3650)
        folder = self.tree / "ssl" / host
        folder.mkdir(exist_ok=True)
        for name, data in (("fullchain.pem", chain), ("privkey.pem", key)):
            (folder / name).write_bytes(data)
            (folder / name).chmod(0o755)
        map_path = self.tree / MAP_FILE
        lines = [line for line in map_path.read_text().split("\n") if not line.startswith(host)]
        map_path.write_text("\n".join([*lines, map_line(host)]))
        self.core_rewrites_block(host)

    def core_rewrites_block(self, host: str) -> None:
        """Core's block update: ``#DOMAIN_SSL_BEGIN_<h>[\\s\\S]+#DOMAIN_SSL_END_<h>`` replaced."""
        path = self.tree / DOVECOT_SSL_FILE
        text = path.read_text()
        pattern = re.compile(rf"#DOMAIN_SSL_BEGIN_{re.escape(host)}[\s\S]+"
                             rf"#DOMAIN_SSL_END_{re.escape(host)}")
        if pattern.search(text):
            text = pattern.sub(lambda _: dovecot_block(host), text)
        else:
            text += dovecot_block(host)
        path.write_text(text)

    def core_moves_blocks(self) -> None:
        """Core's start (FixDovecotSSLConfig): every DOMAIN_SSL block moved to the end."""
        path = self.tree / DOVECOT_SSL_FILE
        lines, blocks, inside = [], ["\n"], False
        for row in path.read_text().splitlines(keepends=True):
            if row.strip().startswith("#DOMAIN_SSL_END_"):
                inside = False
                blocks.append(row)
            elif inside or row.strip().startswith("#DOMAIN_SSL_BEGIN_"):
                inside = True
                blocks.append(row)
            else:
                lines.append(row)
        while len(lines) > 1 and not lines[-1].strip():
            lines.pop()
        path.write_text("".join(lines + blocks))

    def start(self) -> None:
        if not self.services:
            self._write_docker()
            return
        self._start_postfix()
        self._start_dovecot()
        self._start_panel()
        self._write_docker()
        for port in self.ports.values():
            wait_for_port(port)

    def stop(self) -> None:
        for _kind, pid_file in reversed(self._started):
            _kill_group(pid_file)
        self._started.clear()
        for child in self._children:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            child.wait(timeout=10)
        self._children.clear()
        if self._outside is not None:
            shutil.rmtree(self._outside, ignore_errors=True)
            self._outside = None

    # -- services -----------------------------------------------------------------------

    def _namespace_script(self, etc_mounts: list[tuple[Path, str]], command: str) -> list[str]:
        etc_ssl = self.run / "etc-ssl"
        (etc_ssl / "mail").mkdir(parents=True, exist_ok=True)
        mounts = [(etc_ssl, "/etc/ssl"), (self.tree / "ssl", "/etc/ssl/mail"), *etc_mounts]
        lines = ["set -e"] + [f"mount --bind {shlex.quote(str(src))} {dst}"
                              for src, dst in mounts] + [f"exec {command}"]
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines)]

    def _start_postfix(self) -> None:
        etc = self.run / "etc-postfix"
        shutil.copytree("/etc/postfix", etc, dirs_exist_ok=True)
        (etc / "conf").mkdir(exist_ok=True)
        spool = self.run / "postfix-spool"
        spool.mkdir(exist_ok=True)
        # Postfix opens its data directory as the postfix user: it needs a path that user
        # can traverse, which pytest's 0700 temporary directories are not.
        self._outside = Path(tempfile.mkdtemp(prefix="billionmail-postfix-"))
        self._outside.chmod(0o711)
        data = self._outside / "data"
        data.mkdir()
        shutil.chown(data, "postfix")
        (etc / "main.cf").write_text(textwrap.dedent(f"""\
            compatibility_level = 3.6
            queue_directory = {spool}
            data_directory = {data}
            maillog_file_prefixes = {self.run}
            maillog_file = {self.run}/postfix.log
            inet_interfaces = 127.0.0.1
            inet_protocols = ipv4
            myhostname = {self.hostname}
            mydestination =
            smtpd_tls_chain_files = /etc/ssl/mail/key.pem, /etc/ssl/mail/cert.pem
            smtpd_tls_security_level = may
            tls_server_sni_maps = hash:/etc/postfix/conf/vmail_ssl.map
            """))
        master = (etc / "master.cf").read_text().splitlines()
        master = [line for line in master if not line.startswith("smtp      inet")]
        master += [f"127.0.0.1:{self.ports['SMTP_PORT']} inet n - n - - smtpd",
                   f"127.0.0.1:{self.ports['SUBMISSION_PORT']} inet n - n - - smtpd",
                   f"127.0.0.1:{self.ports['SMTPS_PORT']} inet n - n - - smtpd"
                   " -o smtpd_tls_wrappermode=yes"]
        (etc / "master.cf").write_text("\n".join(master) + "\n")
        script = self._namespace_script(
            [(etc, "/etc/postfix"), (self.tree / "conf/postfix/conf", "/etc/postfix/conf")],
            "sh -c 'postmap -F hash:/etc/postfix/conf/vmail_ssl.map && postfix start'")
        with (self.run / "postfix-start.log").open("wb") as log:
            subprocess.run(script, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=60)
        pid_file = spool / "pid" / "master.pid"
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "",
                 f"postfix did not start: {self.run}/postfix.log")
        self._started.append(("postfix", pid_file))

    def _start_dovecot(self) -> None:
        etc = self.run / "etc-dovecot"
        (etc / "conf.d").mkdir(parents=True, exist_ok=True)
        base_dir = self.run / "dovecot"
        (etc / "dovecot.conf").write_text(textwrap.dedent(f"""\
            protocols = imap pop3
            listen = 127.0.0.1
            base_dir = {base_dir}
            state_dir = {self.run}/dovecot-state
            instance_name = billionmail-test-{os.getpid()}-{self.ports['IMAP_PORT']}
            log_path = {self.run}/dovecot.log
            passdb {{
              driver = static
              args = nopassword=y
            }}
            userdb {{
              driver = static
              args = uid=nobody gid=nogroup home=/nonexistent
            }}
            service imap-login {{
              inet_listener imap {{
                port = {self.ports['IMAP_PORT']}
              }}
              inet_listener imaps {{
                port = {self.ports['IMAPS_PORT']}
                ssl = yes
              }}
            }}
            service pop3-login {{
              inet_listener pop3 {{
                port = {self.ports['POP_PORT']}
              }}
              inet_listener pop3s {{
                port = {self.ports['POPS_PORT']}
                ssl = yes
              }}
            }}
            !include conf.d/10-ssl.conf
            """))
        script = self._namespace_script(
            [(etc, "/etc/dovecot"), (self.tree / "conf/dovecot/conf.d", "/etc/dovecot/conf.d")],
            "dovecot -F")
        pid_file = self.run / "dovecot.pid"
        self._spawn(script, pid_file, self.run / "dovecot-start.log")
        self._started.append(("dovecot", pid_file))

    def _panel_command(self) -> list[str]:
        return [sys.executable, str(HERE / "panel.py"), str(self.tree / "ssl"),
                str(self.ports["HTTPS_PORT"])]

    def _start_panel(self) -> None:
        pid_file = self.run / "panel.pid"
        self._spawn(self._panel_command(), pid_file, self.run / "panel.log")
        self._started.append(("panel", pid_file))

    def _spawn(self, command: list[str], pid_file: Path, log: Path) -> None:
        with log.open("wb") as stream:
            process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self._children.append(process)
        pid_file.write_text(str(process.pid))

    # -- the docker stand-in ------------------------------------------------------------

    def _labels(self, service: str) -> dict[str, str]:
        return {"com.docker.compose.service": service,
                "com.docker.compose.project": self.project,
                "com.docker.compose.project.working_dir": str(self.tree)}

    def _write_docker(self) -> None:
        containers = [
            {"id": "c0de0001", "name": f"{self.project}-core-billionmail-1",
             "labels": self._labels("core-billionmail"), "pid_file": str(self.run / "panel.pid"),
             "restart": self._panel_command()},
            {"id": "c0de0002", "name": f"{self.project}-postfix-billionmail-1",
             "labels": self._labels("postfix-billionmail"),
             "pid_file": str(self.run / "postfix-spool/pid/master.pid")},
            {"id": "c0de0003", "name": f"{self.project}-dovecot-billionmail-1",
             "labels": self._labels("dovecot-billionmail"),
             "pid_file": str(self.run / "dovecot.pid")},
            {"id": "c0de0004", "name": f"{self.project}-pgsql-billionmail-1",
             "labels": self._labels("pgsql-billionmail")},
        ]
        if not self.services:
            for container in containers:
                container.pop("pid_file", None)
        database = {"name": DB_NAME, "user": DB_USER, "password": self.db_password,
                    "state": "up", "rows": [{"domain": d, "a_record": a, "active": active}
                                            for d, a, active in self.domains]}
        self.state_file.write_text(json.dumps({"log": str(self.log_file), "faults": {},
                                               "containers": containers,
                                               "database": database}))
        self.docker.parent.mkdir(parents=True, exist_ok=True)
        self.docker.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} "
                               f"{shlex.quote(str(HERE / 'fake_docker.py'))} "
                               f"{shlex.quote(str(self.state_file))} \"$@\"\n")
        self.docker.chmod(0o755)

    def fault(self, service: str, command: str, kind: str = "fail", times: int = 1) -> None:
        """Make ``docker exec <service> <command>`` fail or do nothing ``times`` times."""
        state = json.loads(self.state_file.read_text())
        state["faults"][f"{service} {command}"] = {"kind": kind, "times": times}
        self.state_file.write_text(json.dumps(state))

    def set_domains(self, domains: list[tuple[str, str, int]]) -> None:
        """Replace BillionMail's domain table: (domain, a_record, active) rows."""
        state = json.loads(self.state_file.read_text())
        state["database"]["rows"] = [{"domain": d, "a_record": a, "active": active}
                                     for d, a, active in domains]
        self.state_file.write_text(json.dumps(state))

    def database(self, condition: str) -> None:
        """``up``, ``down`` (psql cannot connect), ``no-psql``, or ``gone`` (no container)."""
        state = json.loads(self.state_file.read_text())
        state["database"]["state"] = condition
        state["containers"] = [c for c in state["containers"] if condition != "gone"
                               or c["labels"]["com.docker.compose.service"] != "pgsql-billionmail"]
        self.state_file.write_text(json.dumps(state))

    def calls(self) -> list[list[str]]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines()]

    def reset_calls(self) -> None:
        self.log_file.unlink(missing_ok=True)

    # -- observing ----------------------------------------------------------------------

    def served(self, key: str, sni: str | None = None) -> str:
        """SHA-256 of the certificate served on the port named ``key`` in ``.env``."""
        protocol = {p[0]: p[1] for p in PORTS}[key]
        der = served_certificate(self.ports[key], protocol, sni)
        return hashlib.sha256(der).hexdigest()

    def snapshot(self) -> dict[str, tuple[bytes, int]]:
        """Every file of the tree with its bytes and mode; directories as ``<path>/``."""
        found: dict[str, tuple[bytes, int]] = {}
        for path in sorted(self.tree.rglob("*")):
            relative, mode = str(path.relative_to(self.tree)), path.stat().st_mode & 0o777
            if path.is_dir():
                found[f"{relative}/"] = (b"", mode)
            elif path.is_file():
                found[relative] = (path.read_bytes(), mode)
        return found

    def deploy(self, *args: str, lineage: Path | None = None, env: dict[str, str] | None = None,
               with_dir: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the ``billionmail-deploy`` console script as certbot would."""
        full_env = {**os.environ, **(env or {})}
        if lineage is not None:
            full_env["RENEWED_LINEAGE"] = str(lineage)
        command = [sys.executable, "-c",
                   "import sys; from certbot_dns_hostinger.billionmail import main; "
                   "sys.exit(main())",
                   *(["--billionmail-dir", str(self.tree)] if with_dir else []),
                   "--docker", str(self.docker), *args]
        return subprocess.run(command, capture_output=True, text=True, env=full_env,
                              timeout=300, check=False, cwd=HERE.parent)


def wait_for(condition: object, message: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not callable(condition) or not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(message)
        time.sleep(0.1)


def wait_for_port(port: int, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.1)


def _kill_group(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if not _alive(pid):
            return


def _alive(pid: int) -> bool:
    """Running and not a zombie (an orphan's zombie may linger if nothing reaps it)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
