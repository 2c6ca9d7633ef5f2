"""Reading and writing the install's files: atomic replacement, and rollback from memory."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from certbot_dns_hostinger.billionmail.errors import DeployError

CERT_MODE = 0o644
KEY_MODE = 0o600


@dataclasses.dataclass(frozen=True)
class FileWrite:
    """One file's wanted content and mode, relative to the install dir."""

    path: str
    data: bytes
    mode: int


@dataclasses.dataclass(frozen=True)
class Saved:
    """A file as it was before this run (``None``: it did not exist).

    ``created``: the directories its write made, deepest first, removed on restore.
    """

    path: Path
    data: bytes | None
    mode: int | None
    created: tuple[Path, ...] = ()


def read_required(path: Path) -> bytes:
    """A file's bytes; a missing or unreadable file is a one-line error."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise DeployError(f"cannot read {path}: {error.strerror or error}") from None


def current(path: Path) -> bytes | None:
    """A file's bytes, ``None`` when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise DeployError(f"cannot read {path}: {error.strerror or error}") from None


def mode(path: Path) -> int | None:
    """A file's permission bits, ``None`` when it does not exist."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None


def apply_writes(root: Path, writes: Sequence[FileWrite]) -> list[Saved]:
    """Write every file atomically; returns what to restore on failure."""
    saved: list[Saved] = []
    try:
        for write in writes:
            path = root / write.path
            saved.append(Saved(path, current(path), mode(path), _missing_dirs(path.parent)))
            atomic_write(path, write.data, write.mode)
    except OSError as error:
        restore(saved)
        raise DeployError(f"cannot write {error.filename}: {error.strerror}; "
                          f"restored the previous files") from None
    return saved


def _missing_dirs(directory: Path) -> tuple[Path, ...]:
    """The directories a write into ``directory`` would create, deepest first."""
    missing = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    return tuple(missing)


def atomic_write(path: Path, data: bytes, file_mode: int) -> None:
    """Temp file in the same directory, fsync, chmod, rename; keeps the owner."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    owner = path.stat() if path.exists() else None
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), file_mode)
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
    """Put every saved file back as it was (removing the ones that were new, and the
    directories this run created for them when they are empty again)."""
    for item in reversed(list(saved)):
        if item.data is None:
            item.path.unlink(missing_ok=True)
        else:
            atomic_write(item.path, item.data, item.mode if item.mode is not None else KEY_MODE)
        for directory in item.created:
            try:
                directory.rmdir()
            except FileNotFoundError:
                continue
            except OSError:  # not empty (someone else's file): leave it and its parents
                break
