"""The Debian package: built as ``make deb`` builds it, installed with apt beside the
distribution's certbot in Debian 12 and Debian 13, and its files run by certbot 2.9.

Slow and root only (marked ``debian``). The module builds the ``.deb`` once, and takes a
minimal root of each release (``mmdebstrap --variant=apt`` with certbot and the
package's dependencies, from the mirror this machine's apt uses) and a certbot 2.9
environment (from PyPI) from the cache in /var/cache/certbot-dns-hostinger, making them
when missing; they are made at the same time. Every test extracts a fresh root. Certbot
runs inside it (``sandbox/chroot_exec.py``) against the sandbox on the host.
"""

from __future__ import annotations

import configparser
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import certbot_dns_hostinger
from sandbox.accounts import TOKEN
from sandbox.billionmail_host import BillionMailHost
from sandbox.ca import ThrowawayCA, certificate_info
from sandbox.certbot_venv import UBUNTU_2404, cached_venv, find_python
from sandbox.debian_root import DebianRoot, cached_root, stand_in_docker
from sandbox.stack import Sandbox

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "python3-certbot-dns-hostinger"
DIST_PACKAGES = "/usr/lib/python3/dist-packages"
SUITES = {"bookworm": "certbot 2.1.", "trixie": "certbot 4.0."}
TOOLS = ("mmdebstrap", "dpkg-buildpackage", "lintian", "unshare")
BUILD_TIMEOUT = 900

SLOW_MARKS = (
    pytest.mark.debian,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chroot, mmdebstrap as root)"),
    pytest.mark.skipif(not all(shutil.which(tool, path="/usr/sbin:/usr/bin") for tool in TOOLS),
                       reason="mmdebstrap or Debian's build tools missing (make test installs "
                              "them)"),
)


def slow(test: object) -> object:
    """The marks of the tests that build, install and run the package."""
    for mark in SLOW_MARKS:
        test = mark(test)
    return test


# -- the version and the dependencies: fast, no build ----------------------------------


def binary_depends() -> dict[str, str]:
    """Depends of the binary package in debian/control: name -> version floor ('' if none)."""
    control = (REPO / "debian/control").read_text().split("\n\n")
    (stanza,) = [part for part in control if f"Package: {PACKAGE}" in part]
    depends = re.search(r"^Depends:(.*?)(?=^\S|\Z)", stanza, re.S | re.M)
    assert depends is not None
    floors = {}
    for item in depends.group(1).replace("\n", " ").split(","):
        match = re.fullmatch(r"\s*([a-z0-9.+-]+)\s*(?:\(>= ([^)]+)\))?\s*", item)
        if match:
            floors[match.group(1)] = match.group(2) or ""
    return floors


def test_debian_changelog_is_at_the_package_version() -> None:
    first = (REPO / "debian/changelog").read_text().splitlines()[0]
    match = re.match(r"certbot-dns-hostinger \((?P<upstream>[^()]+)-(?P<revision>\d+)\) ", first)
    assert match, first
    assert match.group("upstream") == certbot_dns_hostinger.__version__, (
        "debian/changelog's newest entry must be the version in certbot_dns_hostinger/"
        "__init__.py")


def test_debian_depends_are_debian_packages_with_setup_cfg_floors() -> None:
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    requires = {}
    for line in setup["options"]["install_requires"].split():
        name, _, floor = line.partition(">=")
        requires[f"python3-{name}"] = floor
    depends = binary_depends()
    assert set(depends) == {*requires, "python3-cryptography"}
    for package, floor in requires.items():
        assert depends[package] == floor, package


# -- the build and the cached material --------------------------------------------------


@dataclass
class Prepared:
    deb: Future[Path]
    roots: dict[str, Future[Path]]
    certbot_29: Future[Path]


def build_deb(out: Path) -> Path:
    result = subprocess.run(["sh", str(REPO / "tools/build-deb.sh"), str(out)],
                            capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    (deb,) = out.glob("*.deb")
    return deb


def ubuntu_python() -> str:
    """Ubuntu 24.04's Python (3.12) when this machine has it, else the running one."""
    return find_python("3.12") or sys.executable


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prepared]:
    root_packages = ["certbot", *(name for name in binary_depends() if name != "python3:any")]
    with ThreadPoolExecutor(max_workers=4) as pool:
        yield Prepared(
            deb=pool.submit(build_deb, tmp_path_factory.mktemp("deb")),
            roots={suite: pool.submit(cached_root, suite, root_packages) for suite in SUITES},
            certbot_29=pool.submit(cached_venv, "certbot-2.9.0", UBUNTU_2404, ubuntu_python()),
        )


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sandbox"), delays=(0.0, 0.5)) as running:
        yield running


@pytest.fixture
def fresh(sandbox: Sandbox) -> Sandbox:
    """Zones reset and an empty certbot configuration (no account, no lineage), so that
    ``certbot renew`` renews this test's certificate only."""
    sandbox.reset()
    shutil.rmtree(sandbox.config_dir, ignore_errors=True)
    return sandbox


@pytest.fixture
def scratch() -> Iterator[list[DebianRoot]]:
    """Roots a test extracts, deleted after it (each takes a few hundred megabytes)."""
    roots: list[DebianRoot] = []
    yield roots
    for root in roots:
        root.remove()


def installed_root(prepared: Prepared, suite: str, scratch: list[DebianRoot],
                   path: Path) -> DebianRoot:
    """A fresh root of ``suite`` with the package installed by apt from the file."""
    root = DebianRoot.extract(prepared.roots[suite].result(), path)
    scratch.append(root)
    deb = prepared.deb.result()
    installed = ok(root.run(["apt-get", "install", "-y", str(deb)]))
    # Every dependency is in the root already: apt adds this one package and fetches nothing.
    assert "0 upgraded, 1 newly installed, 0 to remove" in installed, installed
    version = root.run(["certbot", "--version"])
    assert (version.stdout + version.stderr).startswith(SUITES[suite]), version
    return root


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result.stdout


# -- the package -----------------------------------------------------------------------



def deb_member(deb: Path, name: str) -> str:
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                          check=True, timeout=60).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        member = archive.extractfile(f"./{name}")
        assert member is not None, name
        return member.read().decode()


@slow
def test_deb_holds_the_package_its_metadata_the_hook_and_nothing_else(prepared: Prepared) -> None:
    deb = prepared.deb.result()
    fields = {name: subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True,
                                   text=True, check=True).stdout.strip()
              for name in ("Package", "Version", "Architecture", "Depends", "Recommends")}
    assert fields["Package"] == PACKAGE and fields["Architecture"] == "all"
    assert fields["Recommends"] == "certbot"  # /usr/bin/certbot and certbot.timer
    assert fields["Version"] == f"{certbot_dns_hostinger.__version__}-1"
    assert deb.name == f"{PACKAGE}_{fields['Version']}_all.deb"
    assert {item.split()[0] for item in fields["Depends"].split(", ")} == {
        "python3-acme", "python3-certbot", "python3-cryptography", "python3-dnspython",
        "python3-requests", "python3:any"}
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    files = {line.split()[-1].removeprefix("./") for line in listing if not line.startswith("d")}
    source = REPO / "certbot_dns_hostinger"
    modules = {f"usr/lib/python3/dist-packages/{path.relative_to(REPO)}"
               for path in source.rglob("*") if path.is_file()
               and "__pycache__" not in path.parts and path.suffix != ".pyc"}
    dist_info = f"usr/lib/python3/dist-packages/certbot_dns_hostinger-" \
                f"{certbot_dns_hostinger.__version__}.dist-info/"
    rest = files - modules - {name for name in files if name.startswith(dist_info)}
    assert modules <= files
    assert {name for name in files if "/certbot_dns_hostinger/" in name} == modules
    assert rest == {"usr/bin/billionmail-deploy", "usr/share/man/man1/billionmail-deploy.1.gz",
                    f"usr/share/lintian/overrides/{PACKAGE}",
                    *(name for name in rest if name.startswith(f"usr/share/doc/{PACKAGE}/"))}
    assert {f"usr/share/doc/{PACKAGE}/copyright", dist_info + "entry_points.txt"} <= files
    entry_points = configparser.ConfigParser()
    entry_points.read_string(deb_member(deb, dist_info + "entry_points.txt"))
    assert entry_points["certbot.plugins"]["dns-hostinger"] == \
        "certbot_dns_hostinger.dns_hostinger:Authenticator"
    assert "billionmail-deploy" in entry_points["console_scripts"]


def assert_issued(sandbox: Sandbox, result: subprocess.CompletedProcess[str], cert_name: str,
                  names: list[str], before: dict[str, str]) -> None:
    """Issued for ``names`` by the plugin's own writes, zones as before, no token shown."""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    info = certificate_info(sandbox.lineage(cert_name) / "fullchain.pem")
    assert info.names == sorted(names)
    calls = sandbox.api.calls_summary()
    assert any(call.startswith("PUT ") for call in calls), calls
    assert sandbox.dumps() == before
    assert TOKEN not in sandbox.text_seen_by_user(result)


def renewal_command(root: DebianRoot) -> list[str]:
    """The command of the release's certbot.service, which certbot.timer starts."""
    for unit in ("/usr/lib/systemd/system/certbot.service", "/lib/systemd/system/certbot.service"):
        if root.file(unit).is_file():
            match = re.search(r"^ExecStart=(.+)$", root.file(unit).read_text(), re.M)
            assert match, unit
            return match.group(1).split()
    raise AssertionError("the certbot package ships no certbot.service")


@slow
@pytest.mark.parametrize("suite", SUITES)
def test_release_certbot_issues_renews_and_runs_the_hook(suite: str, prepared: Prepared,
                                                         fresh: Sandbox, tmp_path: Path,
                                                         scratch: list[DebianRoot]) -> None:
    root = installed_root(prepared, suite, scratch, tmp_path / "root")
    plugins = ok(root.run(["certbot", "plugins"]))
    assert "* dns-hostinger" in plugins
    assert "certbot_dns_hostinger.dns_hostinger:Authenticator" in plugins
    assert "usage: billionmail-deploy" in ok(root.run(["billionmail-deploy", "--help"]))
    with BillionMailHost(tmp_path / "bm", ThrowawayCA(), services=False) as mail:
        docker = stand_in_docker(mail.docker, mail.state_file)
        hook = f"billionmail-deploy --billionmail-dir {mail.tree} --docker {docker} --no-verify"
        names = ["mail.example.com", "example.com"]
        before = fresh.dumps()
        result = fresh.issue(names, cert_name=suite, extra=["--deploy-hook", hook],
                             command=[*root.command(), "/usr/bin/certbot"])
        assert_issued(fresh, result, suite, names, before)
        first = (fresh.lineage(suite) / "fullchain.pem").read_bytes()
        assert (mail.tree / "ssl/cert.pem").read_bytes() == first
        assert ["restart", "c0de0001"] in mail.calls()

        # What certbot.timer runs: the renewal configuration brings back the plugin,
        # its credentials and the deploy hook.
        mail.reset_calls()
        fresh.api.reset_calls()
        command = renewal_command(root)
        renewed = fresh.certbot([*command[1:], "--force-renewal"],
                                command=[*root.command(), command[0]])
        assert_issued(fresh, renewed, suite, names, before)
        second = (fresh.lineage(suite) / "fullchain.pem").read_bytes()
        assert second != first
        assert (mail.tree / "ssl/cert.pem").read_bytes() == second
        assert ["restart", "c0de0001"] in mail.calls()


@slow
@pytest.mark.parametrize("suite", SUITES)
def test_purge_leaves_none_of_the_package_files(suite: str, prepared: Prepared, tmp_path: Path,
                                                scratch: list[DebianRoot]) -> None:
    root = installed_root(prepared, suite, scratch, tmp_path / "root")
    ok(root.run(["certbot", "plugins"]))  # import everything once, as a real run would
    ok(root.run(["billionmail-deploy", "--help"]))
    listed = ok(root.run(["dpkg-query", "-L", PACKAGE])).splitlines()
    package_dir = root.file(f"{DIST_PACKAGES}/certbot_dns_hostinger")
    assert (package_dir / "__pycache__").is_dir()  # byte code exists, so its removal is tested
    ok(root.run(["apt-get", "purge", "-y", PACKAGE]))
    left = [path for path in listed if path != "/." and os.path.lexists(root.file(path))]
    assert not [path for path in left if not root.file(path).is_dir()]
    assert not package_dir.exists() and not list(root.file(DIST_PACKAGES).glob("certbot_dns*"))
    if left:  # directories other packages own too (/usr/bin, ...) may stay, no others
        owners = root.run(["dpkg-query", "-S", *left])
        assert owners.returncode == 0, owners.stderr
    status = root.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", PACKAGE])
    assert status.stdout.strip() in ("", "un"), status


@slow
def test_certbot_29_issues_with_the_package_files(prepared: Prepared, fresh: Sandbox,
                                                  tmp_path: Path) -> None:
    venv = prepared.certbot_29.result()
    payload = tmp_path / "payload"
    subprocess.run(["dpkg-deb", "-x", str(prepared.deb.result()), str(payload)], check=True,
                   timeout=60)
    env = {"PYTHONPATH": str(payload / DIST_PACKAGES.lstrip("/"))}
    certbot = str(venv / "bin" / "certbot")
    version = subprocess.run([certbot, "--version"], capture_output=True, text=True,
                             timeout=120, check=True)
    assert (version.stdout + version.stderr).strip() == "certbot 2.9.0"
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import certbot_dns_hostinger; "
                            "print(certbot_dns_hostinger.__file__)"], capture_output=True,
                           text=True, timeout=60, check=True, env={**os.environ, **env},
                           cwd=tmp_path)  # not the checkout, whose package would come first
    assert where.stdout.startswith(env["PYTHONPATH"])
    names = ["mail.example.com", "*.example.com"]
    before = fresh.dumps()
    result = fresh.issue(names, cert_name="certbot-29", command=[certbot], env=env)
    assert_issued(fresh, result, "certbot-29", names, before)
