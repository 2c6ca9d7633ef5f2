"""Reloading what serves the certificates: Postfix, Dovecot and the panel (core)."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

from certbot_dns_hostinger.billionmail.docker import SERVICES, Container, Docker, pick_container
from certbot_dns_hostinger.billionmail.files import KEY_MODE
from certbot_dns_hostinger.billionmail.formats import MAP_FILE, MAP_IN_CONTAINER

_DB = MAP_IN_CONTAINER.removeprefix("hash:") + ".db"
# postmap -F copies the keys into the .db. It creates a new .db 0644 whatever the umask
# (postmap sets umask 022 itself) but rewrites an existing one in place, keeping its mode.
# So a missing (or empty) .db is first made by plain postmap (paths only, no key), then
# set to 0600, and only then filled with the keys.
POSTMAP = ["sh", "-c", f"set -e; [ -s {_DB} ] || postmap {MAP_IN_CONTAINER}; "
           f"chmod 600 {_DB}; postmap -F {MAP_IN_CONTAINER}"]


@dataclasses.dataclass
class Services:
    """The install's containers and the docker CLI that drives them."""

    docker: Docker
    postfix: Container
    dovecot: Container
    core: Container

    @classmethod
    def find(cls, docker: Docker, root: Path) -> Services:
        return cls(docker, pick_container(docker, SERVICES["postfix"], root),
                   pick_container(docker, SERVICES["dovecot"], root),
                   pick_container(docker, SERVICES["core"], root))

    def reload_mail(self, root: Path) -> None:
        """Recompile the SNI map, reload Postfix, check and reload Dovecot."""
        self._exec(self.postfix, POSTMAP)
        compiled = root / f"{MAP_FILE}.db"
        if compiled.exists():
            compiled.chmod(KEY_MODE)
        self._exec(self.postfix, ["postfix", "reload"])
        self._exec(self.dovecot, ["doveconf", "-n"])
        self._exec(self.dovecot, ["doveadm", "reload"])

    def restart_core(self) -> None:
        self.docker.run(["restart", self.core.id], what=f"restart {self.core.name}")

    def reload(self, root: Path, restart: bool) -> None:
        """Reload the mail services, then restart the panel when asked."""
        self.reload_mail(root)
        if restart:
            self.restart_core()

    def _exec(self, container: Container, command: list[str]) -> None:
        self.docker.run(["exec", container.id, *command],
                        what=f"run `{' '.join(command)}` in {container.name}")


def commands_for(services: Services | None, restart: bool) -> list[str]:
    """The reload commands, for ``--dry-run``."""
    def name(key: str) -> str:
        if services is None:
            return f"<{SERVICES[key]}>"
        return str(getattr(services, key).name)
    lines = [f"docker exec {name('postfix')} {shlex.join(POSTMAP)}",
             f"docker exec {name('postfix')} postfix reload",
             f"docker exec {name('dovecot')} doveconf -n",
             f"docker exec {name('dovecot')} doveadm reload"]
    if restart:
        lines.append(f"docker restart {name('core')}")
    return lines
