"""The certificate to install: loading a lineage, its checks, its names and dates."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from certbot_dns_hostinger.billionmail.errors import DeployError
from certbot_dns_hostinger.billionmail.files import read_required


@dataclasses.dataclass(frozen=True)
class Certificate:
    """A lineage's leaf, its chain bytes and its key bytes."""

    fullchain: bytes
    key: bytes
    leaf: x509.Certificate

    @property
    def names(self) -> list[str]:
        return dns_names(self.leaf)

    @property
    def fingerprint(self) -> str:
        return self.leaf.fingerprint(hashes.SHA256()).hex()

    def covers(self, name: str) -> bool:
        return any(name_matches(pattern, name) for pattern in self.names)


def dns_names(cert: x509.Certificate) -> list[str]:
    """The certificate's DNS names (subject alternative names), lower case."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return [str(attr.value).lower() for attr in common]
    return [name.lower() for name in san.get_values_for_type(x509.DNSName)]


def not_after(cert: x509.Certificate) -> datetime.datetime:
    """Expiry as an aware UTC datetime, on old and new ``cryptography`` alike."""
    aware: datetime.datetime | None = getattr(cert, "not_valid_after_utc", None)
    if aware is not None:
        return aware
    return cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def not_before(cert: x509.Certificate) -> datetime.datetime:
    """Start of validity as an aware UTC datetime, on old and new ``cryptography`` alike."""
    aware: datetime.datetime | None = getattr(cert, "not_valid_before_utc", None)
    if aware is not None:
        return aware
    return cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)


def name_matches(pattern: str, name: str) -> bool:
    """Whether a certificate name covers ``name``: exactly, or a wildcard for one label."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def load_certificate(fullchain_path: Path, key_path: Path) -> Certificate:
    """Read a certificate and key pair; check it parses and the key belongs to it."""
    fullchain, key = read_required(fullchain_path), read_required(key_path)
    try:
        leaf = x509.load_pem_x509_certificate(fullchain)
    except ValueError as error:
        raise DeployError(f"{fullchain_path} is not a PEM certificate: {error}") from None
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as error:
        raise DeployError(f"{key_path} is not an unencrypted PEM private key: {error}") from None
    if _spki(private.public_key()) != _spki(leaf.public_key()):
        raise DeployError(f"the private key {key_path} does not belong to the certificate "
                          f"{fullchain_path}")
    return Certificate(fullchain, key, leaf)


def _spki(public_key: object) -> bytes:
    encode = getattr(public_key, "public_bytes")  # noqa: B009 - every key type has it
    data: bytes = encode(serialization.Encoding.DER,
                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return data


def check_validity(cert: Certificate, now: datetime.datetime) -> None:
    """Refuse a certificate that is expired or not yet valid."""
    expiry, start = not_after(cert.leaf), not_before(cert.leaf)
    if expiry <= now:
        raise DeployError(f"the certificate for {', '.join(cert.names)} expired on "
                          f"{expiry:%Y-%m-%d %H:%M} UTC; refusing to install it")
    if start > now:
        raise DeployError(f"the certificate for {', '.join(cert.names)} is not valid before "
                          f"{start:%Y-%m-%d %H:%M} UTC; check this machine's clock")
