"""The plan of one run: which targets the certificate fits and which files must change."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

from certbot_dns_hostinger.billionmail.certificates import Certificate, dns_names, name_matches
from certbot_dns_hostinger.billionmail.files import CERT_MODE, KEY_MODE, FileWrite, current, mode
from certbot_dns_hostinger.billionmail.formats import (
    DOVECOT_SSL_FILE,
    MAP_FILE,
    dovecot_with,
    map_with,
)
from certbot_dns_hostinger.billionmail.hosts import Hosts
from certbot_dns_hostinger.billionmail.install import Install
from certbot_dns_hostinger.billionmail.state import STATE_FILE, load_state, state_data


@dataclasses.dataclass
class Plan:
    """What a run will change; empty lists mean nothing to do."""

    sni_names: list[str]
    default: bool
    unmatched: list[str]
    inactive: dict[str, str]
    writes: list[FileWrite]
    chmods: list[FileWrite]

    @property
    def serving_changes(self) -> bool:
        """Whether a write touches what Postfix, Dovecot or the panel read."""
        return any(write.path != STATE_FILE for write in self.writes)

    @property
    def panel_changes(self) -> bool:
        return any(write.path.startswith("ssl/") and write.path != STATE_FILE
                   for write in self.writes)


def make_plan(install: Install, cert: Certificate, lineage: Path, hosts: Hosts) -> Plan:
    """Compare what the certificate calls for with what is on disk."""
    sni = sorted(host for host in hosts.active if cert.covers(host))
    default = bool(install.hostname) and cert.covers(install.hostname)
    inactive = {host: domain for host, domain in hosts.inactive.items()
                if cert.covers(host) and host not in sni}
    known = [*sni, *inactive, *([install.hostname] if default else [])]
    unmatched = [name for name in cert.names
                 if not any(name_matches(name, host) for host in known)]
    wanted: list[FileWrite] = []
    for name in sni:
        for folder in _sni_folders(install.root, name, hosts):
            wanted += [FileWrite(f"ssl/{folder}/fullchain.pem", cert.fullchain, CERT_MODE),
                       FileWrite(f"ssl/{folder}/privkey.pem", cert.key, KEY_MODE)]
    if default:
        wanted += [FileWrite("ssl/cert.pem", cert.fullchain, CERT_MODE),
                   FileWrite("ssl/key.pem", cert.key, KEY_MODE)]
    if sni:
        wanted.append(_text_write(install.root, MAP_FILE, lambda text: map_with(text, sni)))
        wanted.append(_text_write(install.root, DOVECOT_SSL_FILE,
                                  lambda text: dovecot_with(text, sni)))
    if sni or default:
        wanted.append(_state_write(install.root, cert, lineage, sni, default))
    writes = [w for w in wanted if current(install.root / w.path) != w.data]
    chmods = [w for w in wanted if w not in writes and mode(install.root / w.path) != w.mode]
    return Plan(sni, default, unmatched, inactive, writes, chmods)


def _sni_folders(root: Path, name: str, hosts: Hosts) -> list[str]:
    """``ssl/<host>/`` always; the older ``ssl/<domain>/`` too when the tree still has it.

    The older folder is written only when it is this host's: its name is no BillionMail
    host name (active or not; that folder serves another host) and the certificate in it
    names the host being installed.
    """
    folders = [name]
    older = hosts.older_folder(name)
    if older != name and older not in hosts.names and \
            _names_host(root / "ssl" / older / "fullchain.pem", name):
        folders.append(older)
    return folders


def _names_host(chain: Path, host: str) -> bool:
    """Whether the certificate in ``chain`` exists, parses and covers ``host``."""
    data = current(chain) if chain.is_file() else None
    if data is None:
        return False
    try:
        leaf = x509.load_pem_x509_certificate(data)
    except ValueError:
        return False
    return any(name_matches(pattern, host) for pattern in dns_names(leaf))


def _text_write(root: Path, relative: str, edit: Callable[[str], str]) -> FileWrite:
    """An edit of a text file; bytes that are not UTF-8 (others' comments) stay exact."""
    data = current(root / relative)
    text = data.decode("utf-8", errors="surrogateescape") if data is not None else ""
    old_mode = mode(root / relative)
    return FileWrite(relative, edit(text).encode("utf-8", errors="surrogateescape"),
                     CERT_MODE if old_mode is None else old_mode)


def _state_write(root: Path, cert: Certificate, lineage: Path, sni: list[str],
                 default: bool) -> FileWrite:
    """Record which lineage each target came from, for ``--status``."""
    state = load_state(root)
    entry = {"lineage": str(lineage), "sha256": cert.fingerprint}
    for name in sni:
        state[name] = entry
    if default:
        state["default"] = entry
    return FileWrite(STATE_FILE, state_data(state), KEY_MODE)
