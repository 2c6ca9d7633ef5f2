"""The path every user runs: certbot with only the credentials option, DNS from the system.

``run(root)`` starts ``python -m sandbox.default_path ROOT`` in a private network and
mount namespace (``unshare -n -m``: loopback only, nothing can leave the machine). Inside,
the runner brings ``lo`` up, bind-mounts a ``resolv.conf`` naming the resolver stand-in
(``sandbox.stack.RESOLVER``) over ``/etc/resolv.conf``, starts a ``Sandbox(system_dns=True)``
(Pebble resolving through the same resolver, ``ns1``/``ns2.dns-parking.com`` on port 53
of their own addresses) and runs two issuances:

- ``issued``: the account's zones, delegated to Hostinger: must issue;
- ``refused``: the same, with public DNS delegating example.com elsewhere: must fail
  before any write.

It prints one JSON object with what each run did; the test asserts on it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from sandbox.accounts import TOKEN
from sandbox.ca import certificate_info
from sandbox.stack import RESOLVER, Sandbox

RUN_TIMEOUT = 900.0
"""Seconds the whole namespace run may take (Pebble start-up and two certbot runs)."""
CERTBOT_TIMEOUT = 300.0
NAMES = ["mail.example.com", "mail.example.co.uk"]
ELSEWHERE = ["ns1.elsewhere.example.net", "ns2.elsewhere.example.net"]


def run(root: Path) -> dict[str, Any]:
    """Run the scenarios in a fresh network and mount namespace; their JSON result."""
    root.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["unshare", "--net", "--mount", "--propagation", "private", sys.executable, "-m",
         "sandbox.default_path", str(root)],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if result.returncode != 0:
        raise RuntimeError(f"namespace run failed ({result.returncode}): "
                           f"{result.stdout[-2000:]} {result.stderr[-4000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main(root: Path) -> int:
    _private_network(root)
    with Sandbox(root / "sandbox", delays=(0.0, 1.0), system_dns=True) as sandbox:
        registered = sandbox.certbot(["register"])
        if registered.returncode != 0:
            raise RuntimeError(registered.stderr)
        report = {"resolv.conf": Path("/etc/resolv.conf").read_text(),
                  "issued": _scenario(sandbox, "issued")}
        sandbox.reset()
        shutil.rmtree(sandbox.config_dir / "accounts", ignore_errors=True)
        sandbox.delegations["example.com"] = ELSEWHERE
        report["refused"] = _scenario(sandbox, "refused")
    print(json.dumps(report))
    return 0


def _private_network(root: Path) -> None:
    """Loopback up; /etc/resolv.conf names the resolver stand-in (this namespace only)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=30)
    resolv = root / "resolv.conf"
    resolv.write_text(f"nameserver {RESOLVER}\noptions timeout:2 attempts:1\n")
    subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True,
                   timeout=30)


def _scenario(sandbox: Sandbox, cert_name: str) -> dict[str, Any]:
    before = sandbox.dumps()
    polled_before = _txt_queries(sandbox)
    args = sandbox.certonly_args(NAMES, cert_name=cert_name, propagation_seconds=None)
    result = sandbox.certbot(args, timeout=CERTBOT_TIMEOUT)
    fullchain = sandbox.lineage(cert_name) / "fullchain.pem"
    calls = sandbox.api.calls_summary()
    return {
        "args": [arg for arg in args if arg.startswith("--")],
        "returncode": result.returncode,
        "stdout": result.stdout[-3000:],
        "stderr": result.stderr[-3000:],
        "names": certificate_info(fullchain).names if fullchain.exists() else [],
        "calls": calls,
        "unchanged": sandbox.dumps() == before,
        "token_seen": TOKEN in sandbox.text_seen_by_user(result),
        "resolver_queries": len(sandbox.resolver.queries) if sandbox.resolver else 0,
        "polled": [after - start for start, after
                   in zip(polled_before, _txt_queries(sandbox), strict=True)],
    }


def _txt_queries(sandbox: Sandbox) -> list[int]:
    """TXT questions ns1 and ns2 have answered so far (the propagation check's polls)."""
    return [sum(1 for _, rtype in server.queries if rtype == "TXT")
            for server in (sandbox.ns1, sandbox.ns2)]


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
