"""``ssl/.billionmail-deploy.json``: which lineage each installed target came from."""

from __future__ import annotations

import json
from pathlib import Path

STATE_FILE = "ssl/.billionmail-deploy.json"


def load_state(root: Path) -> dict[str, dict[str, str]]:
    """The recorded targets, ``{}`` when the file is missing or unreadable."""
    try:
        loaded = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def state_data(state: dict[str, dict[str, str]]) -> bytes:
    """The file's bytes for ``state``."""
    return (json.dumps(state, indent=2, sort_keys=True) + "\n").encode()
