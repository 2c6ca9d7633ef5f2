"""``make demo``: the whole job end to end in a local sandbox, no Hostinger account.

Starts Pebble (a real ACME server), the HTTPS stand-in of Hostinger's DNS API and two
loopback nameservers that lag 1 s and 3 s behind it, then runs the real
``certbot certonly --authenticator dns-hostinger`` for ``mail.example.com`` and
``smtp.news.example.com`` with ``--deploy-hook billionmail-deploy`` pointed at a
sandbox BillionMail install. In that install's database the domain ``news.example.com``
has the custom mail host name ``smtp.news.example.com`` (BillionMail's ``a_record``),
so that is the name the hook installs it under. As root, the install has real Postfix
and Dovecot (in private mount namespaces): the hook proves with TLS handshakes that they
serve the new certificate, and the demo shows ``smtp.news.example.com`` served over TLS;
otherwise it gets the files only. Everything lives in ``sandbox-run/demo``; the last
line names the certificate.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sandbox.billionmail_host import CORE_HOST, BillionMailHost
from sandbox.ca import ThrowawayCA, certificate_info, fingerprint
from sandbox.hostinger_api import rrsets_of
from sandbox.stack import Sandbox

REPO = Path(__file__).resolve().parent.parent
RUN_DIR = REPO / "sandbox-run" / "demo"
NAMES = ["mail.example.com", "smtp.news.example.com"]
CUSTOM_HOST = "smtp.news.example.com"
DOMAINS = [  # the sandbox BillionMail's domain table: (domain, a_record, active)
    ("example.com", "", 1), ("news.example.com", CUSTOM_HOST, 1), ("example.net", CORE_HOST, 1),
]
ZONE = "example.com"
CERT_NAME = "mail.example.com"


def main() -> int:
    started = time.monotonic()
    if RUN_DIR.exists():
        shutil.rmtree(RUN_DIR)
    RUN_DIR.mkdir(parents=True)
    real_services = os.geteuid() == 0 and shutil.which("unshare") is not None
    with Sandbox(RUN_DIR / "sandbox", delays=(1.0, 3.0)) as sandbox, \
            BillionMailHost(RUN_DIR / "billionmail", ThrowawayCA(),
                            services=real_services, domains=DOMAINS) as mail:
        section(f"Zone {ZONE} at the Hostinger API stand-in, before")
        show_zone(sandbox.store.rrsets(ZONE))
        before = sandbox.dumps()
        hook = deploy_hook(mail, real_services)
        section("certbot certonly --authenticator dns-hostinger "
                + " ".join(f"-d {name}" for name in NAMES))
        print(f"(Pebble at {sandbox.directory_url}; nameservers {sandbox.nameservers}, "
              f"lagging {sandbox.delays[0]:g} s and {sandbox.delays[1]:g} s)")
        result = sandbox.issue(NAMES, cert_name=CERT_NAME, extra=["--deploy-hook", hook])
        print(indent(result.stdout + result.stderr))
        if result.returncode != 0:
            print(f"certbot failed (exit {result.returncode}); logs in {sandbox.logs_dir}")
            return 1
        section(f"Zone {ZONE} while the CA validated (challenge values added)")
        show_zone(busiest_state(sandbox.store.history()))
        section(f"Zone {ZONE} after")
        show_zone(sandbox.store.rrsets(ZONE))
        unchanged = sandbox.dumps() == before and not sandbox.leftover_values(before)
        print(f"  only our TXT values came and went: {'yes' if unchanged else 'NO'}")
        print(f"  API calls: {', '.join(sandbox.api.calls_summary())}")
        fullchain = sandbox.lineage(CERT_NAME) / "fullchain.pem"
        show_certificate(fullchain)
        show_billionmail(mail, real_services, fullchain)
    print(f"\nDone in {time.monotonic() - started:.0f} s.")
    print(f"certificate: {fullchain.absolute()}")
    return 0


def deploy_hook(mail: BillionMailHost, real_services: bool) -> str:
    """The hook command certbot saves and runs: the installed console script."""
    script = Path(sys.executable).parent / "billionmail-deploy"
    args = [str(script), "--billionmail-dir", str(mail.tree), "--docker", str(mail.docker)]
    if not real_services:
        args += ["--no-verify", "--restart-core", "never"]
    return shlex.join(args)


def busiest_state(states: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The zone as it was when it held the most challenge values."""
    def challenges(rrsets: list[dict[str, Any]]) -> int:
        return sum(len(r["records"]) for r in rrsets if r["name"].startswith("_acme-challenge"))
    zones = [rrsets_of(state.get(ZONE, {})) for state in states]
    return max(zones, key=challenges)


def show_zone(rrsets: list[dict[str, Any]]) -> None:
    for rrset in sorted(rrsets, key=lambda r: (r["name"], r["type"])):
        for record in rrset["records"]:
            marker = "+" if rrset["name"].startswith("_acme-challenge") else " "
            print(f" {marker} {rrset['name']:<28} {rrset['ttl']:>6} {rrset['type']:<6} "
                  f"{record['content']}")


def show_certificate(fullchain: Path) -> None:
    info = certificate_info(fullchain)
    section("The certificate (issued by Pebble, a test CA)")
    print(f"  path:    {fullchain.absolute()}")
    print(f"  names:   {', '.join(info.names)}")
    print(f"  expires: {info.not_after:%Y-%m-%d %H:%M} UTC")


def show_billionmail(mail: BillionMailHost, real_services: bool, fullchain: Path) -> None:
    section(f"Deployed into the sandbox BillionMail at {mail.tree}")
    print("  its domain table (domain, a_record, active), read by the hook with psql:")
    for domain, a_record, active in DOMAINS:
        print(f"    {domain:<18} {a_record or '(empty: mail.<domain>)':<24} {active}")
    for path in sorted((mail.tree / "ssl").rglob("*.pem")):
        mode = path.stat().st_mode & 0o777
        print(f"  {path.relative_to(mail.tree)}  (mode {mode:o})")
    print("  conf/postfix/conf/vmail_ssl.map:")
    print(indent((mail.tree / "conf/postfix/conf/vmail_ssl.map").read_text(), "    "))
    dovecot = (mail.tree / "conf/dovecot/conf.d/10-ssl.conf").read_text()
    print("  conf/dovecot/conf.d/10-ssl.conf, from the first DOMAIN_SSL block:")
    print(indent(dovecot[dovecot.index("#DOMAIN_SSL_BEGIN_"):], "    "))
    print("  docker calls made by the hook: "
          + "; ".join(" ".join(call) for call in mail.calls() if call[0] != "ps"))
    if not real_services:
        print("  (not root: no real Postfix/Dovecot were started, the hook ran with "
              "--no-verify)")
        return
    print(f"  real Postfix and Dovecot now serve the new certificate for {', '.join(NAMES)} "
          f"(checked by the hook with TLS handshakes, SMTP/IMAP/POP3 with STARTTLS)")
    expected = fingerprint(fullchain.read_bytes())
    for key, label in (("SMTP_PORT", "SMTP with STARTTLS"), ("IMAPS_PORT", "IMAPS")):
        served = mail.served(key, CUSTOM_HOST)
        verdict = "the new certificate" if served == expected else "ANOTHER certificate"
        print(f"  {CUSTOM_HOST} (news.example.com's custom host name) over {label} on "
              f"127.0.0.1:{mail.ports[key]}: {verdict} (sha256 {served[:16]})")


def section(title: str) -> None:
    print(f"\n== {title}")


def indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.strip().splitlines())


if __name__ == "__main__":
    sys.exit(main())
