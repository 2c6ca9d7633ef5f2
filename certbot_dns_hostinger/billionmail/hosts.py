"""Which host names BillionMail serves: from its database, or else from its files."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from certbot_dns_hostinger.billionmail.certificates import Certificate
from certbot_dns_hostinger.billionmail.database import (
    HOST_NAME,
    DatabaseUnreadable,
    read_domains,
)
from certbot_dns_hostinger.billionmail.docker import Docker
from certbot_dns_hostinger.billionmail.files import current
from certbot_dns_hostinger.billionmail.formats import DOVECOT_SSL_FILE, MAP_FILE
from certbot_dns_hostinger.billionmail.install import Install

_MARKER = re.compile(r"^[ \t]*#DOMAIN_SSL_BEGIN_(\S+)[ \t]*$", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Hosts:
    """BillionMail's host names: active ones (with their domain when known), inactive ones."""

    active: dict[str, str]
    inactive: dict[str, str]

    @property
    def names(self) -> set[str]:
        """Every host name, active or not."""
        return {*self.active, *self.inactive}

    def older_folder(self, host: str) -> str:
        """The pre-2025-08 folder ``ssl/<domain>/`` of a host name."""
        return self.active.get(host) or host.removeprefix("mail.")


def known_hosts(install: Install, docker: Docker | None, cert: Certificate) -> Hosts:
    """The database's host names; on failure the ones on disk, saying why in one line."""
    try:
        domains = read_domains(docker, install)
    except DatabaseUnreadable as error:
        found = disk_hosts(install.root)
        guessed = {name: "" for name in cert.names
                   if name.startswith("mail.") and HOST_NAME.fullmatch(name)}
        active = {**guessed, **found}
        print(f"note: could not read BillionMail's database ({error}); using the host names "
              f"on disk ({', '.join(sorted(found)) or 'none'}) and the certificate's "
              f"mail.<domain> names")
        return Hosts(active, {})
    active = {row.host: row.domain for row in domains if row.active}
    inactive = {row.host: row.domain for row in domains
                if not row.active and row.host not in active}
    return Hosts(active, inactive)


def disk_hosts(root: Path) -> dict[str, str]:
    """Host names BillionMail has files for: SNI folders, map keys, Dovecot markers."""
    names = {chain.parent.name.lower() for chain in (root / "ssl").glob("*/fullchain.pem")}
    map_text = _text(root / MAP_FILE)
    names |= {line.split()[0].lower() for line in map_text.split("\n")
              if line.split() and not line.lstrip().startswith("#")}
    names |= {name.lower() for name in _MARKER.findall(_text(root / DOVECOT_SSL_FILE))}
    valid = {name for name in names if HOST_NAME.fullmatch(name)}
    # An older-layout folder ssl/<domain>/ next to the host name mail.<domain> is no host.
    return {name: "" for name in valid if f"mail.{name}" not in valid}


def _text(path: Path) -> str:
    data = current(path)
    return data.decode("utf-8", errors="replace") if data is not None else ""
