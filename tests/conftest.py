"""Shared test set-up: offline model loading, a temporary index home per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# the word benchmarks come from ../shared (a user's are downloaded on first use)
os.environ.setdefault("EMBEDSEARCH_WORD_BENCHMARKS", str(SHARED_DATA / "word-benchmarks"))


def pytest_configure(config) -> None:
    """The fake encoder (tests/fake_encoder.py) is resolvable by name in every test."""
    from embedsearch.encoders import register_encoder
    from tests.fake_encoder import FAKE, HashingEncoder

    register_encoder(FAKE, HashingEncoder)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh index home, also exported as EMBEDSEARCH_HOME for CLI runs."""
    h = tmp_path / "home"
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(h))
    return h


STDLIB = Path(__import__("sysconfig").get_paths()["stdlib"])
CORPUS_FILES = ["textwrap.py", "shutil.py", "csv.py", "json"]


def copy_stdlib(dest: Path, names: list[str] = CORPUS_FILES) -> Path:
    """Copies of a few standard-library modules: real code every machine has."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        src = STDLIB / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / name)
    return dest


@pytest.fixture(scope="session")
def stdlib_index(tmp_path_factory: pytest.TempPathFactory):
    """(home, name, corpus folder) of an index built once over copies of stdlib modules."""
    from embedsearch.codeindex.indexing import build_index

    root = tmp_path_factory.mktemp("stdlib")
    corpus = copy_stdlib(root / "corpus")
    home = root / "home"
    build_index("stdlib", [str(corpus)], home)
    return home, "stdlib", corpus


@pytest.fixture
def cli():
    """Run the embedsearch CLI in-process; returns a function taking the arguments."""
    from click.testing import CliRunner

    from embedsearch.cli import main

    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)

    return run
