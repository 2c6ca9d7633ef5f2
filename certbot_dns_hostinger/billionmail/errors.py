"""The one exception of ``billionmail-deploy``: a failure explained in one line."""

from __future__ import annotations


class DeployError(Exception):
    """A failure explained in one line; the hook exits non-zero with it."""
