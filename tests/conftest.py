"""Shared test set-up: offline model loading, a temporary index home per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh index home, also exported as EMBEDSEARCH_HOME for CLI runs."""
    h = tmp_path / "home"
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(h))
    return h
