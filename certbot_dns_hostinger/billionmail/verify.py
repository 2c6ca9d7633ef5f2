"""Proving the new certificate is served: TLS handshakes (with STARTTLS) on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from typing import BinaryIO

from cryptography import x509

from certbot_dns_hostinger.billionmail.certificates import Certificate, dns_names, not_after
from certbot_dns_hostinger.billionmail.install import Install
from certbot_dns_hostinger.billionmail.plan import Plan

HANDSHAKE_TIMEOUT = 5.0
VERIFY_SECONDS = 30.0

# (.env key, protocol, label); "tls" is TLS from the first byte.
PORTS = (
    ("SMTP_PORT", "smtp", "SMTP"), ("SUBMISSION_PORT", "smtp", "submission"),
    ("SMTPS_PORT", "tls", "SMTPS"), ("IMAP_PORT", "imap", "IMAP"),
    ("IMAPS_PORT", "tls", "IMAPS"), ("POP_PORT", "pop3", "POP3"),
    ("POPS_PORT", "tls", "POP3S"), ("HTTPS_PORT", "tls", "panel"),
)
PANEL_KEY = "HTTPS_PORT"


@dataclasses.dataclass(frozen=True)
class Probe:
    """One handshake: which port, how, with which SNI, expecting which certificate."""

    label: str
    port: int
    protocol: str
    sni: str | None
    expected: str

    def describe(self) -> str:
        sni = f"SNI {self.sni}" if self.sni else "no SNI"
        return f"127.0.0.1:{self.port} ({self.label}, {sni})"


def probes_for(install: Install, plan: Plan, cert: Certificate, *, panel: bool) -> list[Probe]:
    """Every handshake that must now show the new certificate."""
    ports = _ports(install.env, panel=panel)
    probes = [Probe(label, port, protocol, name, cert.fingerprint)
              for name in plan.sni_names for (label, port, protocol) in ports]
    if plan.default:
        probes += [Probe(label, port, protocol, None, cert.fingerprint)
                   for (label, port, protocol) in ports]
    return probes


def _ports(env: Mapping[str, str], *, panel: bool) -> list[tuple[str, int, str]]:
    ports = []
    for key, protocol, label in PORTS:
        if key == PANEL_KEY and not panel:
            continue
        value = env.get(key, "").strip()
        if value.isdigit() and 0 < int(value) < 65536:
            ports.append((label, int(value), protocol))
    return ports


def served_certificate(port: int, protocol: str, sni: str | None, *,
                       host: str = "127.0.0.1", timeout: float = HANDSHAKE_TIMEOUT) -> bytes:
    """DER of the certificate the server presents (STARTTLS first when needed)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw:
        raw.settimeout(timeout)
        if protocol != "tls":
            _starttls(raw, protocol)
        with context.wrap_socket(raw, server_hostname=sni) as tls:
            der = tls.getpeercert(binary_form=True)
    if not der:
        raise OSError("no certificate presented")
    return der


def _starttls(sock: socket.socket, protocol: str) -> None:
    reader = sock.makefile("rb")
    try:
        if protocol == "smtp":
            _expect(reader, b"220")
            sock.sendall(b"EHLO billionmail-deploy.invalid\r\n")
            _expect(reader, b"250")
            sock.sendall(b"STARTTLS\r\n")
            _expect(reader, b"220")
        elif protocol == "imap":
            _expect(reader, b"* OK")
            sock.sendall(b"a1 STARTTLS\r\n")
            _expect(reader, b"a1 OK")
        else:
            _expect(reader, b"+OK")
            sock.sendall(b"STLS\r\n")
            _expect(reader, b"+OK")
    finally:
        reader.close()


def _expect(reader: BinaryIO, prefix: bytes) -> None:
    """Read lines until the final one (SMTP continuations, IMAP untagged) and check it."""
    while True:
        line: bytes = reader.readline(4096)
        if not line:
            raise OSError("connection closed before STARTTLS")
        if line.startswith(prefix) and not line[len(prefix):].startswith(b"-"):
            return
        if prefix == b"250" and line.startswith(b"250-"):
            continue
        if prefix.startswith(b"a1") and line.startswith(b"* "):
            continue
        raise OSError(f"unexpected reply {line.strip()[:80]!r}")


def describe_der(der: bytes) -> str:
    """Subject, names, expiry and fingerprint of a served certificate, for messages."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return f"an unparsable certificate (sha256 {hashlib.sha256(der).hexdigest()[:16]})"
    names = ", ".join(dns_names(cert)) or cert.subject.rfc4514_string()
    return (f"a certificate for {names} expiring {not_after(cert):%Y-%m-%d} "
            f"(sha256 {hashlib.sha256(der).hexdigest()[:16]})")


def verify(probes: Sequence[Probe], *, seconds: float = VERIFY_SECONDS) -> list[str]:
    """Handshake until every probe shows the new certificate; returns the problems left.

    A port that does not answer is skipped with a note, as long as every name was seen
    on at least one port; a port that answers with another certificate is a problem.
    """
    deadline = time.monotonic() + seconds
    while True:
        problems, unreachable, confirmed = _verify_once(probes)
        targets = {p.sni for p in probes}
        unproven = targets - confirmed
        if not problems and not unproven:
            for note in unreachable:
                print(f"note: {note}; not checked")
            return []
        if time.monotonic() >= deadline:
            return problems + [f"{what} was not reachable" for what in unreachable
                               if not problems]
        time.sleep(0.5)


def _verify_once(probes: Sequence[Probe]) -> tuple[list[str], list[str], set[str | None]]:
    problems: list[str] = []
    unreachable: list[str] = []
    confirmed: set[str | None] = set()
    for probe in probes:
        try:
            der = served_certificate(probe.port, probe.protocol, probe.sni)
        except (OSError, ssl.SSLError) as error:
            unreachable.append(f"{probe.describe()}: {error}")
            continue
        if hashlib.sha256(der).hexdigest() == probe.expected:
            confirmed.add(probe.sni)
        else:
            problems.append(f"{probe.describe()} served {describe_der(der)}")
    return problems, unreachable, confirmed
