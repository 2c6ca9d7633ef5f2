"""A throwaway certificate authority for the sandbox, and certificate facts for reports.

One CA serves two uses: the TLS certificate of the loopback services (the API stand-in,
Pebble) and the leaf certificates that BillionMail tests install. Keys never leave the
sandbox's own directories.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certbot_dns_hostinger.billionmail.certificates import not_after

CA_DAYS = 400
LOOPBACK_NAMES = ("localhost", "127.0.0.1")


class ThrowawayCA:
    """A CA valid from 400 days ago to 400 days ahead, issuing leaves with any names."""

    def __init__(self, common_name: str = "sandbox throwaway CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
                     .public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=CA_DAYS))
                     .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
                     .sign(self.key, hashes.SHA256()))

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, names: list[str], *, days: float = 90, age: float = 0) -> tuple[bytes, bytes]:
        """(full chain PEM, key PEM) for ``names`` (DNS names or IP literals), ``age`` days old."""
        key = ec.generate_private_key(ec.SECP256R1())
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=age)
        leaf = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(self.name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(start - datetime.timedelta(minutes=5))
                .not_valid_after(start + datetime.timedelta(days=days))
                .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]),
                               False)
                .sign(self.key, hashes.SHA256()))
        return leaf.public_bytes(serialization.Encoding.PEM) + self.pem, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())

    def write_server_files(self, directory: Path) -> tuple[Path, Path, Path]:
        """The CA bundle and a 127.0.0.1/localhost server pair, written into ``directory``.

        :returns: (CA bundle, server certificate, server key) paths; the key is 0600.
        """
        directory.mkdir(parents=True, exist_ok=True)
        chain, key = self.issue(list(LOOPBACK_NAMES), days=2)
        bundle, cert_path, key_path = (directory / "ca.pem", directory / "server.pem",
                                       directory / "server.key")
        bundle.write_bytes(self.pem)
        cert_path.write_bytes(chain)
        key_path.touch(mode=0o600)
        key_path.chmod(0o600)
        key_path.write_bytes(key)
        return bundle, cert_path, key_path


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


@dataclass(frozen=True)
class CertificateInfo:
    names: list[str]
    not_after: datetime.datetime
    serial: int


def certificate_info(path: Path) -> CertificateInfo:
    """Names (SANs), expiry and serial of the first certificate in a PEM file."""
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return CertificateInfo(sorted(sans.get_values_for_type(x509.DNSName)), not_after(cert),
                           cert.serial_number)


def fingerprint(fullchain: bytes) -> str:
    """SHA-256 fingerprint (hex) of the first certificate in a PEM chain."""
    leaf = x509.load_pem_x509_certificate(fullchain)
    return leaf.fingerprint(hashes.SHA256()).hex()


def write_lineage(directory: Path, fullchain: bytes, key: bytes) -> Path:
    """A certbot-like lineage directory (``fullchain.pem``, ``privkey.pem`` 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fullchain.pem").write_bytes(fullchain)
    private = directory / "privkey.pem"
    private.touch(mode=0o600)
    private.chmod(0o600)
    private.write_bytes(key)
    return directory
