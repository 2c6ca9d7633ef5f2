"""A real, throwaway PostgreSQL server holding BillionMail's ``domain`` table.

It keeps ``sandbox/fake_psql.py`` honest: the tests ask the real ``psql`` and the
stand-in the same question and compare the bytes. The server listens on a Unix socket
only (no TCP), in a directory of its own, runs as the ``postgres`` user (so it needs
root to start) and checks passwords (SCRAM), so ``PGPASSWORD`` is exercised for real.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from sandbox.processes import stop_process

READY_TIMEOUT = 60.0
SERVER_USER = "postgres"
SCHEMA = ("CREATE TABLE domain (domain varchar(255) PRIMARY KEY, "
          "a_record varchar(255) NOT NULL DEFAULT '', active smallint NOT NULL DEFAULT 1, "
          "create_time integer NOT NULL DEFAULT 0)")


def server_binaries() -> Path | None:
    """The directory of Debian's PostgreSQL server programs, newest first, if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), reverse=True)
    return Path(found[0]).parent if found else None


class Postgres:
    """``with Postgres(user, password, database) as db: db.psql([...])``."""

    def __init__(self, user: str, password: str, database: str) -> None:
        binaries = server_binaries()
        if binaries is None:
            raise RuntimeError("PostgreSQL's server is not installed (make test installs it)")
        self.binaries = binaries
        self.user, self.password, self.database = user, password, database
        self.root = Path(tempfile.mkdtemp(prefix="bm-postgres-"))  # outside 0700 pytest dirs
        self.socket_dir = self.root / "socket"
        self._server: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Postgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        owner = pwd.getpwnam(SERVER_USER)
        self.root.chmod(0o755)
        self.socket_dir.mkdir()
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        for path in (self.root, self.socket_dir, password_file):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        data = self.root / "data"
        self._as_server_user([str(self.binaries / "initdb"), "-D", str(data), "-U", self.user,
                              "--auth=scram-sha-256", f"--pwfile={password_file}",
                              "--no-locale", "-E", "UTF8"])
        password_file.unlink()
        self._server = subprocess.Popen(
            ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--clear-groups",
             str(self.binaries / "postgres"), "-D", str(data), "-k", str(self.socket_dir),
             "-c", "listen_addresses=", "-c", "unix_socket_permissions=0777"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self._wait_until_ready()
        self.psql(["-d", "postgres", "-c", f"CREATE DATABASE {self.database}"], check=True)
        self.psql(["-c", SCHEMA], check=True)

    def stop(self) -> None:
        if self._server is not None:
            stop_process(self._server)
            self._server = None
        shutil.rmtree(self.root, ignore_errors=True)

    def insert(self, rows: Sequence[tuple[str, str, int]]) -> None:
        """Rows of (domain, a_record, active), quoted by psql itself (``:'name'``)."""
        for domain, a_record, active in rows:
            self.psql(["-v", f"domain={domain}", "-v", f"a_record={a_record}",
                       "-v", f"active={int(active)}", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                      check=True, stdin="INSERT INTO domain (domain, a_record, active) "
                                        "VALUES (:'domain', :'a_record', :active);\n")

    def psql(self, args: Sequence[str], *, password: str | None = None, check: bool = False,
             stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """The real ``psql -X -h <socket dir> -U <user> [-d <database>] ARGS``.

        The password reaches psql through ``PGPASSWORD`` in its environment only.
        """
        database = [] if "-d" in args else ["-d", self.database]
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["PGPASSWORD"] = self.password if password is None else password
        return subprocess.run(["psql", "-X", "-h", str(self.socket_dir), "-U", self.user,
                               *database, *args], env=env, capture_output=True, text=True,
                              input=stdin, timeout=60, check=check)

    def _as_server_user(self, command: list[str]) -> None:
        owner = pwd.getpwnam(SERVER_USER)
        subprocess.run(["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}",
                        "--clear-groups", *command], check=True, capture_output=True,
                       timeout=120, cwd=self.root)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._server is not None and self._server.poll() is not None:
                raise RuntimeError("postgres exited during start")
            if self.psql(["-d", "postgres", "-c", "SELECT 1"]).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres did not start in time")
