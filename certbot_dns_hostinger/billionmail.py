"""``billionmail-deploy``: install a certbot certificate into BillionMail, reload, verify.

Certbot runs this as a deploy hook (``RENEWED_LINEAGE`` in the environment) after each
issuance or renewal; ``--lineage DIR`` runs it by hand. One run:

1. find the BillionMail install and its containers (by compose labels);
2. load the lineage and check it: parses, key matches, valid now, covers its names;
3. plan the files: ``ssl/mail.<d>/`` pairs, Postfix SNI map lines, Dovecot ``local_name``
   blocks, and the default ``ssl/cert.pem`` + ``ssl/key.pem`` when the certificate
   covers ``BILLIONMAIL_HOSTNAME``; nothing is written when nothing differs;
4. write atomically, keeping the previous bytes in memory;
5. ``postmap -F`` + ``postfix reload``, ``doveconf -n`` + ``doveadm reload``, and a core
   restart per ``--restart-core``;
6. TLS handshakes on 127.0.0.1 to every port in ``.env``, comparing fingerprints; on a
   failed reload or a mismatch the previous files come back and services reload again.

Standalone: it imports neither certbot nor the rest of this package.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

PROG = "billionmail-deploy"
PWD_FILE = Path("/opt/PWD-Billion-Mail.txt")
DEFAULT_DIR = Path("/opt/BillionMail")
CONTAINER_SSL = "/etc/ssl/mail"
MAP_FILE = "conf/postfix/conf/vmail_ssl.map"
MAP_IN_CONTAINER = "hash:/etc/postfix/conf/vmail_ssl.map"
DOVECOT_SSL_FILE = "conf/dovecot/conf.d/10-ssl.conf"
STATE_FILE = "ssl/.billionmail-deploy.json"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
SERVICE_LABEL = "com.docker.compose.service"
SERVICES = {"core": "core-billionmail", "postfix": "postfix-billionmail",
            "dovecot": "dovecot-billionmail"}
CERT_MODE = 0o644
KEY_MODE = 0o600
COMMAND_TIMEOUT = 180.0
HANDSHAKE_TIMEOUT = 5.0
VERIFY_SECONDS = 30.0
DEFAULT_WARN_DAYS = 14

# (.env key, protocol, label); "tls" is TLS from the first byte.
PORTS = (
    ("SMTP_PORT", "smtp", "SMTP"), ("SUBMISSION_PORT", "smtp", "submission"),
    ("SMTPS_PORT", "tls", "SMTPS"), ("IMAP_PORT", "imap", "IMAP"),
    ("IMAPS_PORT", "tls", "IMAPS"), ("POP_PORT", "pop3", "POP3"),
    ("POPS_PORT", "tls", "POP3S"), ("HTTPS_PORT", "tls", "panel"),
)
PANEL_KEY = "HTTPS_PORT"


class DeployError(Exception):
    """A failure explained in one line; the hook exits non-zero with it."""


# -- the certificate ------------------------------------------------------------------

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
        return any(_name_matches(pattern, name) for pattern in self.names)


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
    aware: datetime.datetime | None = getattr(cert, "not_valid_before_utc", None)
    if aware is not None:
        return aware
    return cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)


def _name_matches(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def load_certificate(fullchain_path: Path, key_path: Path) -> Certificate:
    """Read a certificate and key pair; check it parses and the key belongs to it."""
    fullchain, key = _read(fullchain_path), _read(key_path)
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


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise DeployError(f"cannot read {path}: {error.strerror or error}") from None


# -- the install ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Install:
    """A BillionMail install directory and its ``.env`` settings."""

    root: Path
    env: Mapping[str, str]

    @property
    def hostname(self) -> str:
        return self.env.get("BILLIONMAIL_HOSTNAME", "").strip().lower().rstrip(".")


def find_install_dir(explicit: str | None, docker: Docker | None, *,
                     pwd_file: Path = PWD_FILE, default: Path = DEFAULT_DIR) -> Path:
    """The install dir: option, core container label, installer's note, default."""
    if explicit:
        return Path(explicit)
    if docker is not None:
        try:
            labelled = docker.containers(SERVICES["core"])
        except DeployError:  # no daemon: the installer's note or the default may still do
            labelled = []
        for container in labelled:
            if container.working_dir:
                return Path(container.working_dir)
    try:
        noted = pwd_file.read_text(encoding="utf-8").strip()
    except OSError:
        noted = ""
    return Path(noted) if noted else default


def open_install(root: Path) -> Install:
    """Check ``root`` really is BillionMail and read its ``.env``."""
    compose = root / "docker-compose.yml"
    try:
        compose_text = compose.read_text(encoding="utf-8", errors="replace")
    except OSError:
        raise DeployError(f"{root} is not a BillionMail install: no readable "
                          f"docker-compose.yml (give --billionmail-dir)") from None
    missing = [part for part in (".env", "ssl", "conf/postfix/conf", "conf/dovecot/conf.d")
               if not (root / part).exists()]
    if SERVICES["core"] not in compose_text or missing:
        what = f"missing {', '.join(missing)}" if missing else \
            f"docker-compose.yml has no {SERVICES['core']} service"
        raise DeployError(f"{root} is not a BillionMail install ({what}); "
                          f"give --billionmail-dir")
    return Install(root, read_env(root / ".env"))


def read_env(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a compose ``.env`` file (quotes and comments removed)."""
    values: dict[str, str] = {}
    for raw in _read(path).decode("utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        values[key.strip().removeprefix("export ").strip()] = value
    return values


# -- docker ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Container:
    id: str
    name: str
    working_dir: str


class Docker:
    """The docker CLI, used only for ``ps``, ``exec`` and ``restart``."""

    def __init__(self, executable: str) -> None:
        self.executable = executable

    @classmethod
    def find(cls, option: str | None) -> Docker | None:
        found = shutil.which(option or "docker")
        if found is None and option:
            raise DeployError(f"--docker {option}: no such executable")
        return cls(found) if found else None

    def containers(self, service: str) -> list[Container]:
        fmt = ('{{.ID}}\t{{.Names}}\t{{.Label "' + WORKING_DIR_LABEL + '"}}')
        output = self.run(["ps", "--filter", f"label={SERVICE_LABEL}={service}",
                           "--format", fmt], what=f"list the {service} containers")
        found = []
        for line in output.splitlines():
            fields = [*line.split("\t"), "", ""][:3]
            if fields[0]:
                found.append(Container(*fields))
        return found

    def run(self, args: Sequence[str], *, what: str) -> str:
        try:
            done = subprocess.run([self.executable, *args], capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DeployError(f"could not {what}: {error}") from None
        if done.returncode != 0:
            detail = _last_line(done.stderr) or _last_line(done.stdout) or "no output"
            raise DeployError(f"could not {what}: `docker {' '.join(args)}` exited with "
                              f"{done.returncode}: {detail}")
        return done.stdout


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def pick_container(docker: Docker, service: str, root: Path) -> Container:
    """The one container of ``service`` for this install (compose labels, not names)."""
    found = docker.containers(service)
    if len(found) > 1:
        mine = [c for c in found if c.working_dir and _same_dir(c.working_dir, root)]
        found = mine or found
    if not found:
        raise DeployError(f"no running container with label {SERVICE_LABEL}={service}; "
                          f"is BillionMail up (docker compose ps in {root})?")
    if len(found) > 1:
        names = ", ".join(c.name for c in found)
        raise DeployError(f"several {service} containers ({names}) and none has "
                          f"{WORKING_DIR_LABEL}={root}")
    return found[0]


def _same_dir(a: str, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


# -- the plan -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FileWrite:
    """One file's wanted content and mode, relative to the install dir."""

    path: str
    data: bytes
    mode: int


@dataclasses.dataclass
class Plan:
    """What a run will change; empty lists mean nothing to do."""

    sni_names: list[str]
    default: bool
    unmatched: list[str]
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


def make_plan(install: Install, cert: Certificate, lineage: Path) -> Plan:
    """Compare what the certificate calls for with what is on disk."""
    sni = sorted({name for name in cert.names if name.startswith("mail.")
                  and "*" not in name})
    default = bool(install.hostname) and cert.covers(install.hostname)
    unmatched = [name for name in cert.names
                 if name not in sni and not (default and _name_matches(name, install.hostname))]
    wanted: list[FileWrite] = []
    for name in sni:
        for folder in _sni_folders(install.root, name):
            wanted += [FileWrite(f"ssl/{folder}/fullchain.pem", cert.fullchain, CERT_MODE),
                       FileWrite(f"ssl/{folder}/privkey.pem", cert.key, KEY_MODE)]
    if default:
        wanted += [FileWrite("ssl/cert.pem", cert.fullchain, CERT_MODE),
                   FileWrite("ssl/key.pem", cert.key, KEY_MODE)]
    if sni:
        wanted.append(_text_write(install.root, MAP_FILE, lambda text: _map_with(text, sni)))
        wanted.append(_text_write(install.root, DOVECOT_SSL_FILE,
                                  lambda text: _dovecot_with(text, sni)))
    if sni or default:
        wanted.append(_state_write(install.root, cert, lineage, sni, default))
    writes = [w for w in wanted if _current(install.root / w.path) != w.data]
    chmods = [w for w in wanted if w not in writes and _mode(install.root / w.path) != w.mode]
    return Plan(sni, default, unmatched, writes, chmods)


def _sni_folders(root: Path, name: str) -> list[str]:
    """``mail.<d>`` always; the older ``<d>`` folder too when the tree still has it."""
    folders = [name]
    older = name.removeprefix("mail.")
    if (root / "ssl" / older / "fullchain.pem").is_file():
        folders.append(older)
    return folders


def _text_write(root: Path, relative: str, edit: Callable[[str], str]) -> FileWrite:
    current = _current(root / relative)
    text = current.decode("utf-8") if current is not None else ""
    mode = _mode(root / relative)
    return FileWrite(relative, edit(text).encode("utf-8"), CERT_MODE if mode is None else mode)


def _state_write(root: Path, cert: Certificate, lineage: Path, sni: list[str],
                 default: bool) -> FileWrite:
    """Record which lineage each target came from, for ``--status``."""
    state = _load_state(root)
    entry = {"lineage": str(lineage), "sha256": cert.fingerprint}
    for name in sni:
        state[name] = entry
    if default:
        state["default"] = entry
    data = (json.dumps(state, indent=2, sort_keys=True) + "\n").encode()
    return FileWrite(STATE_FILE, data, KEY_MODE)


def _load_state(root: Path) -> dict[str, dict[str, str]]:
    try:
        loaded = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _current(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise DeployError(f"cannot read {path}: {error.strerror or error}") from None


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None


def map_line(name: str) -> str:
    """BillionMail's Postfix SNI map line: key file first, container paths."""
    folder = f"{CONTAINER_SSL}/{name}"
    return f"{name} {folder}/privkey.pem {folder}/fullchain.pem"


def _map_with(text: str, names: Iterable[str]) -> str:
    lines = text.splitlines()
    for name in names:
        wanted = map_line(name)
        at = [i for i, line in enumerate(lines) if line.split()[:1] == [name]]
        if at:
            lines[at[0]] = wanted
            lines = [line for i, line in enumerate(lines) if i not in at[1:]]
        else:
            lines.append(wanted)
    return "".join(f"{line}\n" for line in lines)


def dovecot_block(name: str) -> str:
    """BillionMail's marked ``local_name`` block for one name."""
    folder = f"{CONTAINER_SSL}/{name}"
    return (f"#DOMAIN_SSL_BEGIN_{name}\n"
            f"local_name {name} {{\n"
            f"    ssl_cert = <{folder}/fullchain.pem\n"
            f"    ssl_key = <{folder}/privkey.pem\n"
            f"}}\n"
            f"#DOMAIN_SSL_END_{name}\n")


def _dovecot_with(text: str, names: Iterable[str]) -> str:
    for name in names:
        marked = re.compile(rf"^#DOMAIN_SSL_BEGIN_{re.escape(name)}[ \t]*\n.*?"
                            rf"^#DOMAIN_SSL_END_{re.escape(name)}[ \t]*(?:\n|\Z)",
                            re.MULTILINE | re.DOTALL)
        blocks = list(marked.finditer(text))
        outside = marked.sub("", text)
        if re.search(rf"^\s*local_name\s+{re.escape(name)}\s*\{{", outside, re.MULTILINE):
            raise DeployError(f"{DOVECOT_SSL_FILE} has a local_name {name} block outside "
                              f"BillionMail's #DOMAIN_SSL markers; remove it and run again")
        if blocks:
            first = blocks[0]
            rest = marked.sub("", text[first.end():])
            text = text[:first.start()] + dovecot_block(name) + rest
        else:
            if text and not text.endswith("\n"):
                text += "\n"
            text += dovecot_block(name)
    return text


# -- writing --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Saved:
    """A file as it was before this run (``None``: it did not exist)."""

    path: Path
    data: bytes | None
    mode: int | None


def apply_writes(root: Path, writes: Sequence[FileWrite]) -> list[Saved]:
    """Write every file atomically; returns what to restore on failure."""
    saved: list[Saved] = []
    try:
        for write in writes:
            path = root / write.path
            saved.append(Saved(path, _current(path), _mode(path)))
            atomic_write(path, write.data, write.mode)
    except OSError as error:
        restore(saved)
        raise DeployError(f"cannot write {error.filename}: {error.strerror}; "
                          f"restored the previous files") from None
    return saved


def atomic_write(path: Path, data: bytes, mode: int) -> None:
    """Temp file in the same directory, fsync, chmod, rename; keeps the owner."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    owner = path.stat() if path.exists() else None
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), mode)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if owner is not None and os.geteuid() == 0:
            os.chown(temp, owner.st_uid, owner.st_gid)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def restore(saved: Iterable[Saved]) -> None:
    """Put every saved file back as it was (removing the ones that were new)."""
    for item in reversed(list(saved)):
        if item.data is None:
            item.path.unlink(missing_ok=True)
        else:
            atomic_write(item.path, item.data, item.mode if item.mode is not None else KEY_MODE)


# -- reloading ------------------------------------------------------------------------

@dataclasses.dataclass
class Services:
    """The install's containers and the docker CLI that drives them."""

    docker: Docker
    postfix: Container
    dovecot: Container
    core: Container

    @classmethod
    def find(cls, docker: Docker, root: Path) -> Services:
        return cls(docker, pick_container(docker, SERVICES["postfix"], root),
                   pick_container(docker, SERVICES["dovecot"], root),
                   pick_container(docker, SERVICES["core"], root))

    def reload_mail(self, root: Path) -> None:
        """Recompile the SNI map, reload Postfix, check and reload Dovecot."""
        self._exec(self.postfix, ["postmap", "-F", MAP_IN_CONTAINER])
        compiled = root / f"{MAP_FILE}.db"
        if compiled.exists():
            compiled.chmod(KEY_MODE)
        self._exec(self.postfix, ["postfix", "reload"])
        self._exec(self.dovecot, ["doveconf", "-n"])
        self._exec(self.dovecot, ["doveadm", "reload"])

    def restart_core(self) -> None:
        self.docker.run(["restart", self.core.id], what=f"restart {self.core.name}")

    def _exec(self, container: Container, command: list[str]) -> None:
        self.docker.run(["exec", container.id, *command],
                        what=f"run `{' '.join(command)}` in {container.name}")


def commands_for(services: Services | None, restart: bool) -> list[str]:
    """The reload commands, for ``--dry-run``."""
    def name(key: str) -> str:
        if services is None:
            return f"<{SERVICES[key]}>"
        return str(getattr(services, key).name)
    lines = [f"docker exec {name('postfix')} postmap -F {MAP_IN_CONTAINER}",
             f"docker exec {name('postfix')} postfix reload",
             f"docker exec {name('dovecot')} doveconf -n",
             f"docker exec {name('dovecot')} doveadm reload"]
    if restart:
        lines.append(f"docker restart {name('core')}")
    return lines


# -- verifying ------------------------------------------------------------------------

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


# -- deploy ---------------------------------------------------------------------------

def deploy(args: argparse.Namespace) -> int:
    """The deploy hook: plan, write, reload, verify, roll back on failure."""
    lineage = _lineage(args)
    cert = load_certificate(lineage / "fullchain.pem", lineage / "privkey.pem")
    check_validity(cert, _now())
    docker = Docker.find(args.docker)
    install = open_install(find_install_dir(args.billionmail_dir, docker))
    plan = make_plan(install, cert, lineage)
    for name in plan.unmatched:
        print(f"{name}: not a mail.<domain> name nor BILLIONMAIL_HOSTNAME "
              f"({install.hostname or 'unset'}); not installed")
    if not plan.sni_names and not plan.default:
        print(f"Nothing on this certificate ({', '.join(cert.names)}) fits BillionMail "
              f"in {install.root}; nothing changed.")
        return 0
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
    saved = apply_writes(install.root, plan.writes)
    try:
        _reload(services, install, restart)
        problems = [] if args.no_verify else verify(
            probes_for(install, plan, cert, panel=restart), seconds=args.verify_timeout)
    except DeployError as error:
        problems = [str(error)]
    if problems:
        undone = _roll_back(services, install, saved, restart)
        raise DeployError(f"the new certificate ({cert.fingerprint[:16]}) was not installed: "
                          f"{'; '.join(problems)}; {undone}")
    checked = "" if args.no_verify else ", verified by TLS handshakes"
    print(f"Installed the certificate for {_targets(plan)} into {install.root} "
          f"({len(plan.writes)} files){checked}.")
    return 0


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


def _now() -> datetime.datetime:
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


def _reload(services: Services, install: Install, restart: bool) -> None:
    services.reload_mail(install.root)
    if restart:
        services.restart_core()


def _roll_back(services: Services, install: Install, saved: list[Saved], restart: bool) -> str:
    """Restore the previous files and reload; says what was done, for the error line."""
    restore(saved)
    try:
        _reload(services, install, restart)
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


# -- status ---------------------------------------------------------------------------

def status(args: argparse.Namespace) -> int:
    """List installed certificates; non-zero when one is near expiry or not certbot's latest."""
    docker = Docker.find(args.docker)
    install = open_install(find_install_dir(args.billionmail_dir, docker))
    state = _load_state(install.root)
    now = _now()
    problems = 0
    for label, path in _installed(install.root):
        line, bad = _status_line(path, state.get(label), now, args.warn_days)
        print(line.replace(str(install.root) + os.sep, ""))
        problems += bad
    return 1 if problems else 0


def _installed(root: Path) -> list[tuple[str, Path]]:
    found = [("default", root / "ssl" / "cert.pem")] if (root / "ssl/cert.pem").exists() else []
    for chain in sorted((root / "ssl").glob("*/fullchain.pem")):
        found.append((chain.parent.name, chain))
    return found


def _status_line(path: Path, recorded: Mapping[str, str] | None, now: datetime.datetime,
                 warn_days: int) -> tuple[str, bool]:
    where = path
    try:
        leaf = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as error:
        return f"PROBLEM {where}: unreadable certificate ({error})", True
    days = (not_after(leaf) - now).total_seconds() / 86400
    head = (f"{where}: {', '.join(dns_names(leaf))}; expires {not_after(leaf):%Y-%m-%d} "
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


# -- command line ---------------------------------------------------------------------

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


if __name__ == "__main__":
    sys.exit(main())
