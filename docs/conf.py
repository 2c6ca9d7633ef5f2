"""Sphinx configuration for the certbot-dns-hostinger documentation.

Built-in extensions and theme, plus MyST for the one Markdown page (performance.md,
whose figures the benchmark prints in a table that is easy to paste):
``sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # autodoc imports certbot_dns_hostinger from this checkout


def _version() -> str:
    """``__version__`` read from the package source (the single place it is set)."""
    text = (ROOT / "certbot_dns_hostinger" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise RuntimeError("__version__ not found in certbot_dns_hostinger/__init__.py")
    return match.group(1)


project = "certbot-dns-hostinger"
author = "certbot-dns-hostinger contributors"
copyright = "certbot-dns-hostinger contributors; Apache-2.0"
release = _version()
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path: list[str] = []
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
language = "en"
highlight_language = "none"
nitpicky = False

html_theme = "alabaster"
html_title = f"certbot-dns-hostinger {release}"
html_theme_options = {
    "description": "Hostinger DNS-01 for certbot, with a BillionMail deploy hook",
    "page_width": "1100px",
    "sidebar_width": "230px",
    "fixed_sidebar": False,
}
html_static_path: list[str] = []
html_show_sourcelink = False
