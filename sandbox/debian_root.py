"""Minimal Debian root file systems (mmdebstrap) and commands run inside them.

A root for a suite (``bookworm``, ``trixie``) holds ``--variant=apt`` plus the packages
asked for. It is made once from the Debian mirror that this machine's apt already uses
and kept as a tarball in the cache (:mod:`sandbox.cache`): written under a temporary
name and renamed when complete, so a half-written root is never used. Each user
extracts a fresh copy. Commands run through ``sandbox/chroot_exec.py`` in a private
mount namespace with the host's /tmp bound in, so the sandbox's paths are the same
inside and nothing stays mounted when they end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from sandbox.cache import cache_dir, key, locked

HERE = Path(__file__).resolve().parent
CHROOT_EXEC = HERE / "chroot_exec.py"
VARIANT = "apt"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
BUILD_TIMEOUT = 900.0
EXTRACT_TIMEOUT = 300.0
RUN_TIMEOUT = 600.0


def host_mirror() -> str:
    """The URI from which this machine's apt gets its own Debian release."""
    codename = _os_release().get("VERSION_CODENAME", "")
    for uri, suites in _apt_sources():
        if codename in suites:
            return uri
    raise RuntimeError(f"no apt source for {codename or 'this release'} in "
                       f"{', '.join(map(str, APT_SOURCES))}")


def _os_release() -> dict[str, str]:
    lines = Path("/etc/os-release").read_text().splitlines()
    return {name: value.strip('"') for name, _, value in (line.partition("=") for line in lines)}


def _apt_sources() -> Iterator[tuple[str, list[str]]]:
    """(URI, suites) of every enabled ``deb`` source, one-line and deb822 formats."""
    files: list[Path] = []
    for place in APT_SOURCES:
        if place.is_dir():
            files += sorted(p for p in place.iterdir() if p.suffix in (".list", ".sources"))
        elif place.is_file():
            files.append(place)
    for path in files:
        text = path.read_text()
        if path.suffix == ".sources":
            yield from _deb822_sources(text)
        else:
            yield from _one_line_sources(text)


def _one_line_sources(text: str) -> Iterator[tuple[str, list[str]]]:
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()  # drop [options]
        if len(words) >= 3 and words[0] == "deb":
            yield words[1], [words[2]]


def _deb822_sources(text: str) -> Iterator[tuple[str, list[str]]]:
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            for uri in fields.get("uris", "").split():
                yield uri, fields.get("suites", "").split()


def cached_root(suite: str, packages: Sequence[str], *, mirror: str | None = None) -> Path:
    """The cached root tarball of ``suite`` with ``packages``, made when missing."""
    mirror = mirror or host_mirror()
    folder = cache_dir("roots")
    name = f"{suite}-{key(suite, mirror, VARIANT, sorted(packages))}"
    tarball = folder / f"{name}.tar"
    with locked(folder, suite):
        if not tarball.exists():
            partial = folder / f"{name}.partial.tar"  # mmdebstrap picks the format by suffix
            partial.unlink(missing_ok=True)
            result = subprocess.run(
                ["mmdebstrap", f"--variant={VARIANT}", f"--include={','.join(packages)}",
                 suite, str(partial), mirror],
                capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False,
                env={**os.environ, "PATH": HOST_PATH})
            if result.returncode != 0:
                partial.unlink(missing_ok=True)
                raise RuntimeError(f"mmdebstrap {suite} failed:\n{result.stderr[-4000:]}")
            partial.rename(tarball)
            for stale in folder.glob(f"{suite}-*.tar"):
                if stale != tarball:
                    stale.unlink()
    return tarball


class DebianRoot:
    """An extracted root: ``root.run([...])``, or ``[*root.command(), prog]`` for others."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def extract(cls, tarball: Path, path: Path) -> DebianRoot:
        path.mkdir(parents=True)
        subprocess.run(["tar", "--numeric-owner", "-xpf", str(tarball), "-C", str(path)],
                       check=True, capture_output=True, timeout=EXTRACT_TIMEOUT)
        return cls(path)

    def command(self) -> list[str]:
        """Prefix that runs the rest of a command line inside this root."""
        return ["unshare", "--mount", "--propagation", "private", sys.executable,
                str(CHROOT_EXEC), str(self.path)]

    def run(self, args: Sequence[str], *, env: Mapping[str, str] | None = None,
            timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.command(), *args], capture_output=True, text=True,
                              env={**os.environ, **(env or {})}, timeout=timeout, check=False)

    def remove(self) -> None:
        """Delete the root; refuses while anything is mounted inside it."""
        inside = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text()
                  .splitlines() if line.split()[4].startswith(f"{self.path}/")]
        if inside:
            raise RuntimeError(f"still mounted in {self.path}: {inside}")
        shutil.rmtree(self.path)

    def file(self, path: str) -> Path:
        """Where the root's absolute ``path`` is on the host."""
        return self.path / path.lstrip("/")


def stand_in_docker(docker: Path, state_file: Path, *, python: str = "/usr/bin/python3") -> Path:
    """A copy of the stand-in ``docker`` (standard library only) on the root's own Python.

    ``docker`` and ``state_file`` are those of a :class:`sandbox.billionmail_host.BillionMailHost`
    started with ``services=False``; the copy sits beside ``docker`` (under /tmp, so the root
    sees it at the same path) and records its calls in the same log.
    """
    for stand_in in HERE.glob("fake_*.py"):  # fake_docker.py and the scripts it imports
        shutil.copyfile(stand_in, docker.parent / stand_in.name)
    script = docker.parent / "fake_docker.py"
    wrapper = docker.parent / "docker-in-root"
    wrapper.write_text(f"#!/bin/sh\nexec {python} {script} {state_file} \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper
