"""Pebble, the stand-in Hostinger API and two loopback nameservers, wired together.

Used by the issuance tests, ``make demo``, ``make bench`` and ``make soak``. Everything
binds 127.0.0.1 on free ports, lives under one directory and stops cleanly. With
``system_dns=True`` (only inside a private network namespace, see
``sandbox/default_path.py``) the two nameservers listen on port 53 of their own loopback
addresses as ``ns1``/``ns2.dns-parking.com``, a resolver stand-in on ``RESOLVER:53``
plays public DNS for Pebble and for certbot's ``/etc/resolv.conf``, and certbot runs
without ``--dns-hostinger-nameservers``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

from sandbox.accounts import TOKEN, account_zones
from sandbox.ca import ThrowawayCA
from sandbox.dns_server import DnsStub, delegated_view
from sandbox.hostinger_api import HostingerStub, ZoneStore
from sandbox.processes import free_port, kill_when, stop_process

PEBBLE = "/usr/bin/pebble"
READY_TIMEOUT = 60.0
CERTBOT_TIMEOUT = 600.0
DEFAULT_PROPAGATION_LIMIT = 120
RESOLVER = "127.0.0.53"
NS_ADDRESSES = ("127.0.0.11", "127.0.0.12")
"""Where ns1 and ns2.dns-parking.com listen (port 53) with ``system_dns=True``."""
PEBBLE_ENV = {
    "PEBBLE_VA_NOSLEEP": "1",  # validate at once instead of after a random pause
    "PEBBLE_WFE_NONCEREJECT": "0",  # no random badNonce errors
    "PEBBLE_AUTHZREUSE": "0",  # every order goes through DNS-01 again
    "PEBBLE_VA_ALWAYS_VALID": "0",
}


def venv_certbot() -> list[str]:
    """The certbot of the running interpreter's environment."""
    return [str(Path(sys.executable).parent / "certbot")]


class Sandbox:
    """``with Sandbox(root, delays=(1, 3)) as sandbox: sandbox.issue([...])``."""

    def __init__(self, root: Path, *, delays: tuple[float, float] = (0.0, 0.0),
                 zones: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
                 token: str = TOKEN, system_dns: bool = False) -> None:
        self.root = root
        self.delays = delays
        self.token = token
        self.zones = {name: list(rrsets) for name, rrsets in (zones or account_zones()).items()}
        self.store = ZoneStore(self.zones)
        self.ca_bundle, self._server_cert, self._server_key = ThrowawayCA().write_server_files(
            root / "ca")
        self.api = HostingerStub(self.store, [token], tls=(str(self._server_cert),
                                                           str(self._server_key)))
        self.system_dns = system_dns
        self.delegations: dict[str, list[str]] = {}
        """Zones public DNS delegates elsewhere: zone -> NS hosts (``system_dns`` only)."""
        self.resolver: DnsStub | None = None
        if system_dns:
            self.ns1, self.ns2 = (DnsStub(self.store.view(delay), host=address, port=53)
                                  for delay, address in zip(delays, NS_ADDRESSES, strict=True))
            parking = {"dns-parking.com": [
                {"name": f"ns{i}", "type": "A", "ttl": 300, "records": [{"content": address}]}
                for i, address in enumerate(NS_ADDRESSES, start=1)]}
            self.resolver = DnsStub(
                delegated_view(self.store.view(max(delays)), self.delegations, parking),
                host=RESOLVER, port=53, authoritative=False)
        else:
            self.ns1 = DnsStub(self.store.view(delays[0]))
            self.ns2 = DnsStub(self.store.view(delays[1]))
        self._pebble: subprocess.Popen[bytes] | None = None
        self.pebble_port = free_port()
        self.directory_url = f"https://127.0.0.1:{self.pebble_port}/dir"

    # -- life cycle ---------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        atexit.register(self.stop)
        self.api.start()
        self.ns1.start()
        self.ns2.start()
        if self.resolver is not None:
            self.resolver.start()
        self._start_pebble()

    def stop(self) -> None:
        atexit.unregister(self.stop)
        if self._pebble is not None:
            stop_process(self._pebble)
            self._pebble = None
        for server in (self.api, self.ns1, self.ns2, self.resolver):
            if server is None:
                continue
            with contextlib.suppress(OSError, RuntimeError):
                server.stop()

    def _start_pebble(self) -> None:
        config = {"pebble": {
            "listenAddress": f"127.0.0.1:{self.pebble_port}",
            "managementListenAddress": f"127.0.0.1:{free_port()}",
            "certificate": str(self._server_cert),
            "privateKey": str(self._server_key),
            "httpPort": free_port(),
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }}
        path = self.root / "pebble.json"
        path.write_text(json.dumps(config))
        slowest = self.ns1 if self.delays[0] > self.delays[1] else self.ns2
        dns_server = f"{RESOLVER}:53" if self.system_dns else f"127.0.0.1:{slowest.port}"
        log = (self.root / "pebble.log").open("wb")
        self._pebble = subprocess.Popen(
            [PEBBLE, "-config", str(path), "-dnsserver", dns_server],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **PEBBLE_ENV},
        )
        log.close()
        self._wait_for_pebble()

    def _wait_for_pebble(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._pebble is not None and self._pebble.poll() is not None:
                raise RuntimeError(f"pebble exited: {(self.root / 'pebble.log').read_text()}")
            try:
                if requests.get(self.directory_url, verify=str(self.ca_bundle),
                                timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("pebble did not start in time")

    # -- state --------------------------------------------------------------------------

    def reset(self) -> None:
        """Zones back to the start, no recorded calls, no pending faults."""
        self.store.reset(self.zones)
        self.api.reset_calls()
        self.api.faults.clear()

    def dumps(self) -> dict[str, str]:
        """Canonical bytes of every zone, to prove a run left them unchanged."""
        return {zone: self.store.dump(zone) for zone in self.store.latest()}

    def leftover_values(self, before: Mapping[str, str]) -> list[str]:
        """Challenge TXT values in the zones now that were not there in ``before``.

        ``before`` is an earlier :meth:`dumps`; the answer lists "name.zone=value".
        """
        after = self.dumps()
        return sorted(value for zone in sorted(set(before) | set(after))
                      for value in _challenge_values(zone, after.get(zone, "[]"))
                      - _challenge_values(zone, before.get(zone, "[]")))

    @property
    def nameservers(self) -> str | None:
        """``--dns-hostinger-nameservers`` for this sandbox; None with ``system_dns``."""
        if self.system_dns:
            return None
        return f"127.0.0.1:{self.ns1.port},127.0.0.1:{self.ns2.port}"

    @property
    def config_dir(self) -> Path:
        return self.root / "certbot" / "config"

    @property
    def logs_dir(self) -> Path:
        return self.root / "certbot" / "logs"

    def credentials(self, token: str | None = None, name: str = "hostinger.ini") -> Path:
        path = self.root / name
        path.write_text(f"# sandbox credentials\ndns_hostinger_api_token = {token or self.token}\n"
                        f"dns_hostinger_api_url = {self.api.url}\n")
        path.chmod(0o600)
        return path

    def lineage(self, cert_name: str) -> Path:
        return self.config_dir / "live" / cert_name

    # -- running certbot ----------------------------------------------------------------

    def certbot(self, args: Sequence[str], *, command: Sequence[str] | None = None,
                env: Mapping[str, str] | None = None,
                timeout: float = CERTBOT_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run certbot against Pebble with this sandbox's directories and CA."""
        return subprocess.run(
            [*(command or venv_certbot()), *args, *self.common_args()],
            capture_output=True, text=True, timeout=timeout, env=self.env(env), check=False,
        )

    def common_args(self) -> list[str]:
        return ["--config-dir", str(self.config_dir),
                "--work-dir", str(self.root / "certbot" / "work"),
                "--logs-dir", str(self.logs_dir),
                "--server", self.directory_url, "--non-interactive", "--agree-tos",
                "--register-unsafely-without-email"]

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for certbot: trust only the sandbox CA."""
        env = {**os.environ, "REQUESTS_CA_BUNDLE": str(self.ca_bundle),
               "CURL_CA_BUNDLE": str(self.ca_bundle)}
        env.update(extra or {})
        return env

    def certonly_args(self, domains: Sequence[str], *, cert_name: str,
                      credentials: Path | None = None,
                      propagation_seconds: int | None = DEFAULT_PROPAGATION_LIMIT,
                      nameservers: str | None = None, extra: Sequence[str] = ()) -> list[str]:
        args = ["certonly", "--authenticator", "dns-hostinger",
                "--dns-hostinger-credentials", str(credentials or self.credentials()),
                "--cert-name", cert_name, *extra]
        servers = nameservers or self.nameservers
        if servers:
            args += ["--dns-hostinger-nameservers", servers]
        if propagation_seconds is not None:
            args += ["--dns-hostinger-propagation-seconds", str(propagation_seconds)]
        for domain in domains:
            args += ["-d", domain]
        return args

    def issue(self, domains: Sequence[str], *, cert_name: str, credentials: Path | None = None,
              propagation_seconds: int | None = DEFAULT_PROPAGATION_LIMIT,
              nameservers: str | None = None,
              extra: Sequence[str] = (), command: Sequence[str] | None = None,
              env: Mapping[str, str] | None = None,
              timeout: float = CERTBOT_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """``certbot certonly --authenticator dns-hostinger`` for ``domains``."""
        args = self.certonly_args(domains, cert_name=cert_name, credentials=credentials,
                                  propagation_seconds=propagation_seconds,
                                  nameservers=nameservers, extra=extra)
        return self.certbot(args, command=command, env=env, timeout=timeout)

    def text_seen_by_user(self, result: subprocess.CompletedProcess[str]) -> str:
        """stdout, stderr and every certbot log file: where a secret must never appear."""
        logs = [path.read_text(errors="replace") for path in self.logs_dir.rglob("*")
                if path.is_file()]
        return "\n".join([result.stdout, result.stderr, *logs])

    def kill_after_first_write(self, args: Sequence[str], *,
                               command: Sequence[str] | None = None) -> bool:
        """Run certbot with ``args`` and SIGKILL it as soon as the zones change.

        :returns: True when it was killed after its first write, False when it ended (or
            the deadline passed) without writing.
        """
        before = self.dumps()
        return kill_when([*(command or venv_certbot()), *args, *self.common_args()],
                         self.env(), lambda: self.dumps() != before)


def _challenge_values(zone: str, dump: str) -> set[str]:
    return {f"{rrset['name']}.{zone}={record['content']}" for rrset in json.loads(dump)
            if rrset["type"] == "TXT" and rrset["name"].startswith("_acme-challenge")
            for record in rrset["records"]}

