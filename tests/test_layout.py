"""The tree's own rules: module sizes, which module may import what, and the sandbox apart.

See docs/design.rst ("Modules") and docs/working-on-the-code.rst.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "certbot_dns_hostinger"
MAX_MODULE_LINES = 300
# Modules of the package that must not know certbot (nor the glue that uses them).
CERTBOT_FREE = ("hostinger", "hostinger_http", "hostinger_records", "hostinger_wait",
                "propagation", "journal", "cleanup", "billionmail", "discovery", "dns_lookup")
# DNS modules: neither the Hostinger client nor discovery (arrows: discovery -> DNS).
DNS_ONLY = ("dns_lookup", "propagation")


def _modules(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*.py") if "__pycache__" not in path.parts)


def _imports(path: Path) -> set[str]:
    """Every module name a file imports (absolute names; relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _starts(names: set[str], prefix: str) -> set[str]:
    return {name for name in names if name == prefix or name.startswith(prefix + ".")}


def _package_module(name: str) -> list[Path]:
    """The file, or every file of the subpackage, that a short module name stands for."""
    single = PACKAGE / f"{name}.py"
    return [single] if single.exists() else _modules(PACKAGE / name)


def test_no_package_module_is_longer_than_300_lines() -> None:
    lengths = {path.relative_to(REPO).as_posix(): len(path.read_text().splitlines())
               for path in _modules(PACKAGE)}
    assert {name: n for name, n in lengths.items() if n > MAX_MODULE_LINES} == {}


@pytest.mark.parametrize("name", CERTBOT_FREE)
def test_client_dns_journal_and_hook_modules_know_nothing_of_certbot(name: str) -> None:
    files = _package_module(name)
    assert files, f"no module {name} in the package"
    for path in files:
        imported = _imports(path)
        assert not _starts(imported, "certbot"), (path, _starts(imported, "certbot"))
        assert not _starts(imported, "acme"), path
        assert not _starts(imported, "certbot_dns_hostinger.dns_hostinger"), path


@pytest.mark.parametrize("name", DNS_ONLY)
def test_dns_modules_import_neither_the_client_nor_discovery(name: str) -> None:
    imported = _imports(PACKAGE / f"{name}.py")
    for other in ("hostinger", "hostinger_http", "hostinger_records", "discovery", "journal"):
        assert not _starts(imported, f"certbot_dns_hostinger.{other}"), (name, other)


def test_the_deploy_hook_imports_nothing_else_of_the_package() -> None:
    for path in _package_module("billionmail"):
        ours = _starts(_imports(path), "certbot_dns_hostinger")
        outside = {name for name in ours
                   if not name.startswith("certbot_dns_hostinger.billionmail")
                   and name not in ("certbot_dns_hostinger", "certbot_dns_hostinger.__version__")}
        assert not outside, (path, outside)


def test_nothing_shipped_imports_the_sandbox_tests_or_tools() -> None:
    for path in _modules(PACKAGE):
        imported = _imports(path)
        for other in ("sandbox", "tests", "tools", "pytest"):
            assert not _starts(imported, other), (path, other)


def test_sandbox_and_tools_import_neither_pytest_nor_tests_nor_certbot_internals() -> None:
    files = _modules(REPO / "sandbox") + _modules(REPO / "tools")
    assert len(files) >= 8
    for path in files:
        imported = _imports(path)
        for forbidden in ("pytest", "tests", "certbot._internal"):
            assert not _starts(imported, forbidden), (path, forbidden)


def test_tests_directory_holds_only_conftest_and_test_modules() -> None:
    stray = [path.name for path in (REPO / "tests").glob("*.py")
             if path.name != "conftest.py" and not path.name.startswith("test_")]
    assert stray == []


def test_demo_bench_and_soak_load_without_pytest_or_tests() -> None:
    probe = ("import sys, tools.demo, tools.bench, tools.soak; "
             "bad = sorted(m for m in sys.modules if m == 'pytest' or m.startswith('_pytest') "
             "or m == 'tests' or m.startswith('tests.')); print(bad)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
