"""Packaging: the sdist and the wheel carry what they should, and certbot loads the wheel.

Slow (builds both distributions once for the whole module, then runs certbot; about
20 s). Everything works offline: ``python -m build --no-isolation`` uses the running
environment's setuptools and wheel, and the wheel is installed with ``--no-index``.

The build runs on a copy of the source tree without build leftovers, so what it checks
is what a fresh checkout produces, and no stale ``build/`` or ``*.egg-info`` of the
working tree can hide a gap in ``MANIFEST.in`` or ``setup.cfg``.
"""

from __future__ import annotations

import configparser
import email
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

import certbot_dns_hostinger

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.packaging
PACKAGE = "certbot_dns_hostinger"
PLUGIN_ENTRY_POINT = "certbot_dns_hostinger.dns_hostinger:Authenticator"
HOOK_ENTRY_POINT = "certbot_dns_hostinger.billionmail:main"
CORE_MODULES = ("__init__.py", "dns_hostinger.py", "discovery.py", "dns_lookup.py",
                "hostinger.py", "propagation.py", "journal.py", "billionmail/__init__.py",
                "billionmail/cli.py", "py.typed")
RUNTIME_REQUIREMENTS = {"certbot", "acme", "requests", "dnspython"}
# Never part of a distribution: version control, caches, build output, local venvs.
LEFTOVERS = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info",
                                   "__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache",
                                   ".pytest_cache", "_build", "sandbox-run")
BUILD_TIMEOUT = 300
RUN_TIMEOUT = 120


@dataclass(frozen=True)
class Built:
    source: Path
    sdist: Path
    wheel: Path


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    source = tmp_path_factory.mktemp("source") / "project"
    shutil.copytree(REPO, source, ignore=LEFTOVERS)
    # Built HTML docs lying around must not end up in the sdist.
    stray = source / "docs" / "_build" / "html"
    stray.mkdir(parents=True)
    (stray / "index.html").write_text("<p>built docs</p>\n")
    out = tmp_path_factory.mktemp("dist")
    result = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                   str(source)], cwd=source, timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    sdists, wheels = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(p.name for p in out.iterdir())
    return Built(source, sdists[0], wheels[0])


def _wheel_files(built: Built) -> dict[str, bytes]:
    with zipfile.ZipFile(built.wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _dist_info(files: dict[str, bytes]) -> str:
    folders = {name.split("/")[0] for name in files if name.split("/")[0].endswith(".dist-info")}
    assert len(folders) == 1, folders
    return folders.pop()


def _metadata(text: str) -> Message:
    return email.message_from_string(text)


def _requirement_names(metadata: Message) -> set[str]:
    names = set()
    for requirement in metadata.get_all("Requires-Dist") or []:
        if "extra ==" in requirement:
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert match, requirement
        names.add(match.group().lower().replace("_", "-"))
    return names


def _sdist_files(built: Built) -> set[str]:
    with tarfile.open(built.sdist) as archive:
        members = archive.getnames()
    roots = {name.split("/")[0] for name in members}
    assert len(roots) == 1, roots
    return {name.split("/", 1)[1] for name in members if "/" in name}


# -- the wheel ------------------------------------------------------------------------------


def test_wheel_holds_the_package_and_nothing_else(built: Built) -> None:
    files = _wheel_files(built)
    for module in CORE_MODULES:
        assert f"{PACKAGE}/{module}" in files, module
    for module in (built.source / PACKAGE).rglob("*.py"):
        name = module.relative_to(built.source).as_posix()
        assert name in files, name
    tops = {name.split("/")[0] for name in files}
    assert tops == {PACKAGE, _dist_info(files)}, tops
    assert not [name for name in files if name.endswith((".pyc", ".pyo"))]


def test_wheel_carries_the_apache_license(built: Built) -> None:
    files = _wheel_files(built)
    info = _dist_info(files)
    license_text = files.get(f"{info}/LICENSE") or files.get(f"{info}/licenses/LICENSE")
    assert license_text is not None, sorted(name for name in files if name.startswith(info))
    assert license_text == (REPO / "LICENSE").read_bytes()
    assert b"Apache License" in license_text and b"Version 2.0, January 2004" in license_text
    metadata = _metadata(files[f"{info}/METADATA"].decode())
    assert "Apache-2.0" in (metadata.get("License-Expression") or metadata.get("License") or "")


def test_wheel_entry_points_register_the_plugin_and_the_hook(built: Built) -> None:
    files = _wheel_files(built)
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.read_string(files[f"{_dist_info(files)}/entry_points.txt"].decode())
    assert dict(parser["certbot.plugins"]) == {"dns-hostinger": PLUGIN_ENTRY_POINT}
    assert dict(parser["console_scripts"]) == {"billionmail-deploy": HOOK_ENTRY_POINT}


def test_wheel_metadata_has_the_version_and_runtime_requirements(built: Built) -> None:
    files = _wheel_files(built)
    metadata = _metadata(files[f"{_dist_info(files)}/METADATA"].decode())
    assert metadata["Name"].lower().replace("_", "-") == "certbot-dns-hostinger"
    assert metadata["Version"] == certbot_dns_hostinger.__version__
    assert f"-{certbot_dns_hostinger.__version__}-" in built.wheel.name
    assert _requirement_names(metadata) >= RUNTIME_REQUIREMENTS
    assert metadata["Requires-Python"]


# -- the sdist ------------------------------------------------------------------------------


def test_sdist_holds_docs_tests_examples_and_license(built: Built) -> None:
    files = _sdist_files(built)
    required = {
        "LICENSE", "README.md", "CHANGELOG.md", "credentials.ini.example", "setup.cfg",
        "pyproject.toml", "contrib/systemd/certbot-renew.service",
        "contrib/systemd/certbot-renew.timer", f"{PACKAGE}/py.typed", "docs/conf.py",
    }
    required |= {path.relative_to(built.source).as_posix()
                 for pattern in ("docs/*.rst", "tests/*.py", "sandbox/*.py", f"{PACKAGE}/**/*.py")
                 for path in built.source.glob(pattern)}
    assert {"docs/index.rst", "tests/conftest.py", "sandbox/stack.py"} <= required
    assert not required - files, sorted(required - files)


def test_sdist_leaves_out_build_output_and_caches(built: Built) -> None:
    files = _sdist_files(built)
    assert not [name for name in files if name.startswith("docs/_build")]
    assert not [name for name in files if "__pycache__" in name or name.endswith(".pyc")]


def test_sdist_version_matches_the_package(built: Built) -> None:
    with tarfile.open(built.sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.count("/") == 1
                      and m.name.endswith("/PKG-INFO"))
        stream = archive.extractfile(member)
        assert stream is not None
        metadata = _metadata(stream.read().decode())
    assert metadata["Version"] == certbot_dns_hostinger.__version__


# -- installing the wheel --------------------------------------------------------------------


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel alone (no dependencies) installed into an empty directory."""
    target = tmp_path_factory.mktemp("target")
    result = _run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps",
                   "--disable-pip-version-check", "--target", str(target), str(built.wheel)],
                  cwd=target, timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return target


def _env_with(target: Path) -> dict[str, str]:
    """The test environment's Python, with the installed wheel first on the path.

    The checkout is installed in the same environment too (editable); putting the
    wheel's directory first makes Python import it and importlib.metadata see its
    distribution first, which the tests below verify rather than assume.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(target), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.pop("PYTHONSAFEPATH", None)
    return env


PROBE = r"""
import importlib.metadata, json, sys
from certbot.main import main
error = main(sys.argv[1:])
module = sys.modules.get("certbot_dns_hostinger.dns_hostinger")
dist = importlib.metadata.distribution("certbot-dns-hostinger")
print("PROBE " + json.dumps({
    "error": None if error is None else str(error),
    "module": getattr(module, "__file__", None),
    "dist": str(dist.locate_file("")),
    "version": dist.version,
}))
"""


def test_certbot_loads_the_plugin_from_the_installed_wheel(installed: Path,
                                                           tmp_path: Path) -> None:
    # Run from an empty directory: the checkout must not be importable via the cwd.
    dirs = ["--config-dir", str(tmp_path / "config"), "--work-dir", str(tmp_path / "work"),
            "--logs-dir", str(tmp_path / "logs")]
    result = _run([sys.executable, "-c", PROBE, "plugins", "--prepare", *dirs],
                  cwd=tmp_path, env=_env_with(installed))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    listing = " ".join(result.stdout.split())
    ours = listing.split("* dns-hostinger", 1)[1].split(" * ", 1)[0]
    assert PLUGIN_ENTRY_POINT in ours
    assert "Prep: True" in ours, ours
    assert "Duplicate plugin name" not in result.stdout + result.stderr
    probe_line = next(line for line in result.stdout.splitlines() if line.startswith("PROBE "))
    probe = json.loads(probe_line.removeprefix("PROBE "))
    assert probe["error"] is None
    root = installed.resolve()
    assert probe["module"] is not None, "certbot did not import the plugin module"
    assert Path(probe["module"]).resolve().is_relative_to(root), probe["module"]
    assert Path(probe["dist"]).resolve() == root, probe["dist"]
    assert probe["version"] == certbot_dns_hostinger.__version__


def test_installed_wheel_provides_the_deploy_hook_script(installed: Path,
                                                         tmp_path: Path) -> None:
    script = installed / "bin" / "billionmail-deploy"
    assert script.is_file()
    result = _run([str(script), "--help"], cwd=tmp_path, env=_env_with(installed))
    assert result.returncode == 0, result.stderr[-4000:]
    assert "usage: billionmail-deploy" in result.stdout
    assert (installed / PACKAGE / "py.typed").is_file()
