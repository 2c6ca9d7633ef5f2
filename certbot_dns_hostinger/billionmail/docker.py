"""The docker CLI (``ps``, ``exec``, ``restart``) and finding containers by compose labels."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from certbot_dns_hostinger.billionmail.errors import DeployError

WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
SERVICE_LABEL = "com.docker.compose.service"
SERVICES = {"core": "core-billionmail", "postfix": "postfix-billionmail",
            "dovecot": "dovecot-billionmail", "pgsql": "pgsql-billionmail"}
COMMAND_TIMEOUT = 180.0


@dataclasses.dataclass(frozen=True)
class Container:
    id: str
    name: str
    working_dir: str


class Docker:
    """The docker CLI, used only for ``ps``, ``exec`` and ``restart``."""

    def __init__(self, executable: str) -> None:
        self.executable = executable

    @classmethod
    def find(cls, option: str | None) -> Docker | None:
        found = shutil.which(option or "docker")
        if found is None and option:
            raise DeployError(f"--docker {option}: no such executable")
        return cls(found) if found else None

    def containers(self, service: str) -> list[Container]:
        fmt = ('{{.ID}}\t{{.Names}}\t{{.Label "' + WORKING_DIR_LABEL + '"}}')
        output = self.run(["ps", "--filter", f"label={SERVICE_LABEL}={service}",
                           "--format", fmt], what=f"list the {service} containers")
        found = []
        for line in output.splitlines():
            fields = [*line.split("\t"), "", ""][:3]
            if fields[0]:
                found.append(Container(*fields))
        return found

    def run(self, args: Sequence[str], *, what: str) -> str:
        """Run ``docker ARGS``; a failure is a one-line error naming ``what``."""
        code, stdout, stderr = self.call(args, what=what)
        if code != 0:
            detail = last_line(stderr) or last_line(stdout) or "no output"
            raise DeployError(f"could not {what}: `docker {' '.join(args)}` exited with "
                              f"{code}: {detail}")
        return stdout

    def call(self, args: Sequence[str], *, what: str,
             env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of ``docker ARGS``; ``env``: the CLI's environment."""
        try:
            done = subprocess.run([self.executable, *args], capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT, check=False, stdin=subprocess.DEVNULL,
                                  env=None if env is None else dict(env))
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DeployError(f"could not {what}: {error}") from None
        return done.returncode, done.stdout, done.stderr


def last_line(text: str) -> str:
    """The last non-blank line of a command's output, for one-line messages."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def pick_container(docker: Docker, service: str, root: Path) -> Container:
    """The one container of ``service`` for this install (compose labels, not names)."""
    found = docker.containers(service)
    if len(found) > 1:
        mine = [c for c in found if c.working_dir and _same_dir(c.working_dir, root)]
        found = mine or found
    if not found:
        raise DeployError(f"no running container with label {SERVICE_LABEL}={service}; "
                          f"is BillionMail up (docker compose ps in {root})?")
    if len(found) > 1:
        names = ", ".join(c.name for c in found)
        raise DeployError(f"several {service} containers ({names}) and none has "
                          f"{WORKING_DIR_LABEL}={root}")
    return found[0]


def _same_dir(a: str, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)
