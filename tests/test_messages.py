"""Every user-facing message template of the plugin is in docs/troubleshooting.rst.

Messages are read from the source (errors raised for the user, WARNING/INFO log
records, certbot notifications); each literal piece between placeholders must appear in
the page, white space normalised. Debug records are for developers and not checked.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "certbot_dns_hostinger"
PAGE = ROOT / "docs" / "troubleshooting.rst"
USER_ERRORS = {"PluginError", "HostingerError", "TokenRejectedError", "RateLimitedError",
               "LookupFailed", "DiscoveryError", "PropagationError", "JournalError"}
USER_LOGS = {"warning", "info", "error", "notify"}
PLACEHOLDER = re.compile(r"%(?:\.\d+)?[-#0 +]*\d*(?:\.\d+)?[sdrfx]")
ALLOWED: set[str] = set()
"""Pieces allowed to be missing from the page (none so far)."""


def _pieces(node: ast.expr) -> list[str]:
    """The literal text between the placeholders of a message argument."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return PLACEHOLDER.split(node.value)
    if isinstance(node, ast.JoinedStr):
        return [part.value for part in node.values
                if isinstance(part, ast.Constant) and isinstance(part.value, str)]
    return []


def _templates(path: Path) -> list[tuple[int, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in USER_ERRORS or (name in USER_LOGS and isinstance(func, ast.Attribute)):
            found.append((node.lineno, _pieces(node.args[0])))
    return found


def _normal(text: str) -> str:
    return " ".join(text.split())


def test_every_message_template_is_in_the_troubleshooting_page() -> None:
    lines = [_normal(line) for line in PAGE.read_text().splitlines()]
    missing = []
    for path in sorted(PACKAGE.glob("*.py")):  # not billionmail/: it has its own page
        for line, pieces in _templates(path):
            wanted = [piece for piece in map(_normal, pieces)
                      if sum(char.isalpha() for char in piece) >= 3]
            if not wanted or " ".join(wanted) in ALLOWED:
                continue
            # the pieces in order on one line of the page; anything may stand in between
            pattern = re.compile(".*?".join(map(re.escape, wanted)))
            if not any(pattern.search(text) for text in lines):
                missing.append(f"{path.name}:{line}: {' ... '.join(wanted)}")
    assert len(missing) < 50, "the extraction finds no messages"
    assert missing == [], "\n".join(missing)


def test_messages_are_found_at_all() -> None:
    count = sum(len(_templates(path)) for path in PACKAGE.glob("*.py"))
    assert count > 30
