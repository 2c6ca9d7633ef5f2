"""One deploy run: check, plan, write, reload, verify, and roll back on failure."""

from __future__ import annotations

import argparse
import datetime
import os
from collections.abc import Iterable
from pathlib import Path

from certbot_dns_hostinger.billionmail.certificates import (
    Certificate,
    check_validity,
    load_certificate,
)
from certbot_dns_hostinger.billionmail.docker import Docker
from certbot_dns_hostinger.billionmail.errors import DeployError
from certbot_dns_hostinger.billionmail.files import FileWrite, Saved, apply_writes, restore
from certbot_dns_hostinger.billionmail.hosts import known_hosts
from certbot_dns_hostinger.billionmail.install import Install, find_install_dir, open_install
from certbot_dns_hostinger.billionmail.plan import Plan, make_plan
from certbot_dns_hostinger.billionmail.services import Services, commands_for
from certbot_dns_hostinger.billionmail.verify import Probe, probes_for, verify


def deploy(args: argparse.Namespace) -> int:
    """The deploy hook: plan, write, reload, verify, roll back on failure."""
    lineage = _lineage(args)
    cert = load_certificate(lineage / "fullchain.pem", lineage / "privkey.pem")
    check_validity(cert, now())
    docker = Docker.find(args.docker)
    install = open_install(find_install_dir(args.billionmail_dir, docker))
    hosts = known_hosts(install, docker, cert)
    plan = make_plan(install, cert, lineage, hosts)
    if not plan.sni_names and not plan.default:
        raise DeployError(f"the certificate for {', '.join(cert.names)} fits none of "
                          f"BillionMail's host names ({', '.join(sorted(hosts.active)) or 'none'})"
                          f" nor BILLIONMAIL_HOSTNAME ({install.hostname or 'unset'}) in "
                          f"{install.root}; nothing was written or reloaded")
    _report_left_out(install, plan)  # only when something is installed: else the error says it
    _check_dh(install)
    restart = _wants_restart(args.restart_core, plan)
    if args.dry_run:
        return _print_plan(install, plan, docker, restart)
    if docker is None:
        raise DeployError("the docker CLI is not on PATH; give --docker PATH")
    services = Services.find(docker, install.root)
    _tighten(install.root, plan.chmods)
    if not plan.serving_changes:
        apply_writes(install.root, plan.writes)
        return _already_installed(args, services, install, plan, cert)
    probes = [] if args.no_verify else probes_for(install, plan, cert, panel=restart)
    saved = apply_writes(install.root, plan.writes)
    try:
        services.reload(install.root, restart)
        problems = verify(probes, seconds=args.verify_timeout) if probes else []
    except DeployError as error:
        problems = [str(error)]
    if problems:
        undone = _roll_back(services, install, saved, restart)
        raise DeployError(f"the new certificate ({cert.fingerprint[:16]}) was not installed: "
                          f"{'; '.join(problems)}; {undone}")
    print(f"Installed the certificate for {_targets(plan)} into {install.root} "
          f"({len(plan.writes)} files){_checked(args, probes)}.")
    return 0


def _checked(args: argparse.Namespace, probes: list[Probe]) -> str:
    """How the result line says the new certificate was (or was not) checked."""
    if args.no_verify:
        return ""
    if not probes:  # nothing was checked: never claim it was
        return "; not verified: no mail port in .env"
    return ", verified by TLS handshakes"


def _report_left_out(install: Install, plan: Plan) -> None:
    for host, domain in sorted(plan.inactive.items()):
        print(f"{host}: the domain {domain} is not active in BillionMail; not installed")
    for name in plan.unmatched:
        print(f"{name}: not a BillionMail host name nor BILLIONMAIL_HOSTNAME "
              f"({install.hostname or 'unset'}); not installed")


def _check_dh(install: Install) -> None:
    """Dovecot's stock config loads ssl/dh.pem; without it Dovecot would not start."""
    if not (install.root / "ssl" / "dh.pem").is_file():
        raise DeployError(f"{install.root}/ssl/dh.pem is missing, and Dovecot (ssl_dh) would "
                          f"not start without it; nothing was written: create it with "
                          f"`openssl dhparam -out {install.root}/ssl/dh.pem 2048` and run again")


def _already_installed(args: argparse.Namespace, services: Services, install: Install,
                       plan: Plan, cert: Certificate) -> int:
    """Nothing to write; still heal a run that died between writing and reloading."""
    probes = [] if args.no_verify else probes_for(install, plan, cert, panel=False)
    if probes and verify(probes, seconds=0):
        print("The files are current but not served yet (an earlier run was interrupted?); "
              "reloading.")
        services.reload_mail(install.root)
        problems = verify(probes, seconds=args.verify_timeout)
        if problems:
            raise DeployError(f"the installed certificate ({cert.fingerprint[:16]}) is not "
                              f"served after reloading: {'; '.join(problems)}")
        print(f"Reloaded; {_targets(plan)} now served in {install.root}.")
        return 0
    print(f"BillionMail in {install.root} already has this certificate "
          f"({_targets(plan)}); nothing changed.")
    return 0


def _lineage(args: argparse.Namespace) -> Path:
    value = args.lineage or os.environ.get("RENEWED_LINEAGE", "")
    if not value:
        raise DeployError("no certificate given: run as certbot's --deploy-hook (which sets "
                          "RENEWED_LINEAGE) or pass --lineage /etc/letsencrypt/live/NAME")
    return Path(value)


def now() -> datetime.datetime:
    """The current time, aware UTC."""
    return datetime.datetime.now(datetime.timezone.utc)


def _wants_restart(policy: str, plan: Plan) -> bool:
    if policy == "always":
        return True
    return policy == "auto" and plan.panel_changes


def _targets(plan: Plan) -> str:
    names = list(plan.sni_names)
    if plan.default:
        names.append("the default certificate")
    return ", ".join(names)


def _tighten(root: Path, chmods: Iterable[FileWrite]) -> None:
    for item in chmods:
        (root / item.path).chmod(item.mode)
        print(f"Set mode {item.mode:o} on {item.path}")


def _roll_back(services: Services, install: Install, saved: list[Saved], restart: bool) -> str:
    """Restore the previous files and reload; says what was done, for the error line."""
    restore(saved)
    try:
        services.reload(install.root, restart)
    except DeployError as error:
        return (f"restored the previous files, but reloading them failed too ({error}); "
                f"check the services by hand")
    return "restored the previous files and reloaded"


def _print_plan(install: Install, plan: Plan, docker: Docker | None, restart: bool) -> int:
    print(f"Dry run for {install.root}: {_targets(plan)}")
    for write in plan.writes:
        print(f"  would write {write.path} (mode {write.mode:o})")
    for item in plan.chmods:
        print(f"  would set mode {item.mode:o} on {item.path}")
    if not plan.writes:
        print("  nothing to write; nothing would be reloaded")
        return 0
    services = Services.find(docker, install.root) if docker is not None else None
    for line in commands_for(services, restart):
        print(f"  would run {line}")
    return 0
