"""The ``billionmail-deploy`` command line: options, and one-line errors with exit 1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from certbot_dns_hostinger.billionmail.deploy import deploy
from certbot_dns_hostinger.billionmail.errors import DeployError
from certbot_dns_hostinger.billionmail.status import DEFAULT_WARN_DAYS, status
from certbot_dns_hostinger.billionmail.verify import VERIFY_SECONDS

PROG = "billionmail-deploy"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Install a certbot certificate into BillionMail, reload "
        "Postfix and Dovecot, and check with TLS handshakes that it is served.")
    parser.add_argument("--lineage", metavar="DIR",
                        help="certbot lineage to install (default: $RENEWED_LINEAGE)")
    parser.add_argument("--billionmail-dir", metavar="DIR",
                        help="BillionMail install dir (default: from the core container's "
                        "compose label, /opt/PWD-Billion-Mail.txt, or /opt/BillionMail)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--restart-core", choices=("auto", "always", "never"), default="auto",
                        help="restart the panel container: auto (when a certificate it "
                        "serves changed), always or never (default: auto)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the TLS handshakes after reloading")
    parser.add_argument("--verify-timeout", type=float, default=VERIFY_SECONDS, metavar="SECONDS",
                        help=f"how long reloaded services may take to serve the new "
                        f"certificate (default: {VERIFY_SECONDS:g})")
    parser.add_argument("--docker", metavar="PATH", help="docker CLI (default: docker on PATH)")
    parser.add_argument("--status", action="store_true",
                        help="list installed certificates; exit 1 when one expires soon or "
                        "is not the one certbot last issued")
    parser.add_argument("--warn-days", type=int, default=DEFAULT_WARN_DAYS, metavar="N",
                        help=f"--status: days before expiry that count as a problem "
                        f"(default: {DEFAULT_WARN_DAYS})")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Console script entry point; every failure is one line on stderr and exit 1."""
    args = parse_args(argv)
    try:
        return status(args) if args.status else deploy(args)
    except DeployError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
    except OSError as error:
        print(f"{PROG}: error: {error.filename or ''} {error.strerror or error}".strip(),
              file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
    return 1

