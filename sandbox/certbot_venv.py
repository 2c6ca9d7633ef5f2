"""Older certbot releases in their own virtual environments, kept in the cache.

:data:`UBUNTU_2404` is certbot 2.9 with the library versions of Ubuntu 24.04's packages
(python3-certbot 2.9.0, python3-josepy 1.14, python3-cryptography 41, python3-openssl
23.2, python3-requests 2.31, python3-urllib3 2.0, python3-dnspython 2.6, python3-setuptools
68; josepy below 2 also keeps the ``ComparableX509`` that acme 2.9 uses). An environment
is built from PyPI once; a ``.complete`` stamp written last tells a finished one from a
half-built one, which is thrown away and built again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from sandbox.cache import cache_dir, key, locked

UBUNTU_2404 = (
    "certbot==2.9.0", "acme==2.9.0", "josepy==1.14.0", "cryptography==41.0.7",
    "pyOpenSSL==23.2.0", "requests==2.31.0", "urllib3==2.0.7", "dnspython==2.6.1",
    "setuptools==68.1.2", "ConfigArgParse==1.7", "configobj==5.0.8", "parsedatetime==2.6",
    "pyRFC3339==1.1", "pytz==2024.1",
)
BUILD_TIMEOUT = 900.0
STAMP = ".complete"


def python_version(python: str) -> str | None:
    """``3.12.1`` for a working interpreter, None when ``python`` does not run."""
    try:
        result = subprocess.run([python, "-c", "import platform, venv, ensurepip; "
                                 "print(platform.python_version())"],
                                capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def find_python(minor: str) -> str | None:
    """An interpreter of Python ``minor`` (``3.12``): on PATH, else one pyenv installed."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{minor}"),
                  *map(str, sorted(pyenv.glob(f"versions/{minor}.*/bin/python{minor}")))]
    return next((found for found in candidates if found and python_version(found)), None)


def cached_venv(name: str, pins: Sequence[str], python: str) -> Path:
    """A virtual environment of ``python`` holding exactly ``pins`` (and their needs)."""
    version = python_version(python)
    if version is None:
        raise RuntimeError(f"{python} cannot make virtual environments")
    folder = cache_dir("venvs")
    path = folder / f"{name}-py{version}-{key(sorted(pins), version)}"
    with locked(folder, name):
        if not (path / STAMP).exists():
            shutil.rmtree(path, ignore_errors=True)
            _build(path, pins, python)
            (path / STAMP).write_text("\n".join(pins) + "\n")
    return path


def _build(path: Path, pins: Sequence[str], python: str) -> None:
    steps = ([python, "-m", "venv", str(path)],
             [str(path / "bin" / "python"), "-m", "pip", "install", "-q", *pins])
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                                check=False)
        if result.returncode != 0:
            shutil.rmtree(path, ignore_errors=True)
            raise RuntimeError(f"{' '.join(step[:4])} failed:\n{result.stderr[-4000:]}")
