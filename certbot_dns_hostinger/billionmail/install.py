"""The BillionMail install: finding its directory and reading its ``.env``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from certbot_dns_hostinger.billionmail.docker import SERVICES, Docker
from certbot_dns_hostinger.billionmail.errors import DeployError
from certbot_dns_hostinger.billionmail.files import read_required

PWD_FILE = Path("/opt/PWD-Billion-Mail.txt")
DEFAULT_DIR = Path("/opt/BillionMail")


@dataclasses.dataclass(frozen=True)
class Install:
    """A BillionMail install directory and its ``.env`` settings."""

    root: Path
    env: Mapping[str, str]

    @property
    def hostname(self) -> str:
        return self.env.get("BILLIONMAIL_HOSTNAME", "").strip().lower().rstrip(".")


def find_install_dir(explicit: str | None, docker: Docker | None, *,
                     pwd_file: Path = PWD_FILE, default: Path = DEFAULT_DIR) -> Path:
    """The install dir: option, core container label, installer's note, default."""
    if explicit:
        return Path(explicit)
    if docker is not None:
        try:
            labelled = docker.containers(SERVICES["core"])
        except DeployError:  # no daemon: the installer's note or the default may still do
            labelled = []
        for container in labelled:
            if container.working_dir:
                return Path(container.working_dir)
    try:
        noted = pwd_file.read_text(encoding="utf-8").strip()
    except OSError:
        noted = ""
    return Path(noted) if noted else default


def open_install(root: Path) -> Install:
    """Check ``root`` really is BillionMail and read its ``.env``."""
    compose = root / "docker-compose.yml"
    try:
        compose_text = compose.read_text(encoding="utf-8", errors="replace")
    except OSError:
        raise DeployError(f"{root} is not a BillionMail install: no readable "
                          f"docker-compose.yml (give --billionmail-dir)") from None
    missing = [part for part in (".env", "ssl", "conf/postfix/conf", "conf/dovecot/conf.d")
               if not (root / part).exists()]
    if SERVICES["core"] not in compose_text or missing:
        what = f"missing {', '.join(missing)}" if missing else \
            f"docker-compose.yml has no {SERVICES['core']} service"
        raise DeployError(f"{root} is not a BillionMail install ({what}); "
                          f"give --billionmail-dir")
    return Install(root, read_env(root / ".env"))


def read_env(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a compose ``.env`` file (quotes and comments removed)."""
    values: dict[str, str] = {}
    for raw in read_required(path).decode("utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        values[key.strip().removeprefix("export ").strip()] = value
    return values
