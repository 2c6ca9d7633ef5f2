"""``--status``: every installed certificate, its expiry, and whether it is certbot's latest."""

from __future__ import annotations

import argparse
import datetime
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certbot_dns_hostinger.billionmail.certificates import dns_names, not_after
from certbot_dns_hostinger.billionmail.deploy import now
from certbot_dns_hostinger.billionmail.docker import Docker
from certbot_dns_hostinger.billionmail.install import find_install_dir, open_install
from certbot_dns_hostinger.billionmail.state import load_state

DEFAULT_WARN_DAYS = 14


def status(args: argparse.Namespace) -> int:
    """List installed certificates; non-zero when one is near expiry or not certbot's latest."""
    docker = Docker.find(args.docker)
    install = open_install(find_install_dir(args.billionmail_dir, docker))
    state = load_state(install.root)
    when = now()
    problems = 0
    for label, path in _installed(install.root):
        line, bad = _status_line(path, state.get(label), when, args.warn_days)
        print(line.replace(str(install.root) + os.sep, ""))
        problems += bad
    return 1 if problems else 0


def _installed(root: Path) -> list[tuple[str, Path]]:
    found = [("default", root / "ssl" / "cert.pem")] if (root / "ssl/cert.pem").exists() else []
    for chain in sorted((root / "ssl").glob("*/fullchain.pem")):
        found.append((chain.parent.name, chain))
    return found


def _status_line(path: Path, recorded: Mapping[str, str] | None, when: datetime.datetime,
                 warn_days: int) -> tuple[str, bool]:
    try:
        leaf = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as error:
        return f"PROBLEM {path}: unreadable certificate ({error})", True
    days = (not_after(leaf) - when).total_seconds() / 86400
    head = (f"{path}: {', '.join(dns_names(leaf))}; expires {not_after(leaf):%Y-%m-%d} "
            f"({int(days)} days left)")
    issues = []
    if days < warn_days:
        issues.append(f"expires within {warn_days} days")
    if recorded:
        issues += _lineage_drift(leaf, recorded)
    return (f"PROBLEM {head}; {'; '.join(issues)}", True) if issues else (f"ok      {head}",
                                                                         False)


def _lineage_drift(leaf: x509.Certificate, recorded: Mapping[str, str]) -> list[str]:
    served = leaf.fingerprint(hashes.SHA256()).hex()
    latest_path = Path(recorded.get("lineage", "")) / "fullchain.pem"
    try:
        latest = x509.load_pem_x509_certificate(latest_path.read_bytes())
    except (OSError, ValueError):
        return [f"certbot's lineage {latest_path.parent} is gone"]
    if latest.fingerprint(hashes.SHA256()).hex() == served:
        return []
    if served != recorded.get("sha256"):
        return ["replaced by someone else since billionmail-deploy installed it"]
    return [f"not the certificate certbot last issued in {latest_path.parent} "
            f"(run billionmail-deploy --lineage {latest_path.parent})"]
