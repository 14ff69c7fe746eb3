"""Where indexes and trained models live: --home, else $EMBEDSEARCH_HOME, else ./indexes."""

from __future__ import annotations

import os
from pathlib import Path


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    """The index home folder (not created here; writers create it when they need it)."""
    if home:
        return Path(home).expanduser()
    env = os.environ.get("EMBEDSEARCH_HOME")
    if env:
        return Path(env).expanduser()
    return Path("indexes")
