"""The leakage guard (issue 19): no query text is in more than one of the re-ranker's
training set, its validation set and a held-out set. Copied code shares docstrings
verbatim, so the raw sets do overlap; the sets the benchmarks use must not."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def leakage():
    sys.path.insert(0, str(BENCH))  # the bench scripts import each other as siblings
    try:
        import leakage

        yield leakage
    finally:
        sys.path.remove(str(BENCH))


def held_out_packages() -> list[Path]:
    """Held-out packages of bench/README.md that this environment has installed (click
    carries pydoc's pager helpers; the others are the docstring benchmark's packages)."""
    out = []
    for name in ("click", "packaging", "pathspec", "filelock", "pluggy", "jinja2", "more_itertools", "dateutil"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            out.append(Path(list(spec.submodule_search_locations)[0]))
    return out


def test_training_validation_and_held_out_queries_are_disjoint(leakage):
    from embedsearch.evaluate.codesearch import docstring_texts

    training = leakage.training_texts()
    validation = leakage.validation_texts(training)
    seen = training | validation
    packages = held_out_packages()
    assert len(training) > 1000 and len(validation) > 100 and packages
    raw_validation = docstring_texts([str(leakage_path) for leakage_path in _validation_paths()])
    assert raw_validation & training, "the raw sets overlap (copied helpers): the guard has work to do"
    assert training.isdisjoint(validation)
    leaked = 0
    for package in packages:
        held = leakage.held_out([package], seen)
        assert held and held.isdisjoint(training) and held.isdisjoint(validation), package.name
        leaked += len(docstring_texts([str(package)]) & seen)
    print(f"held-out docstrings left out as seen: {leaked}")


def _validation_paths() -> list[Path]:
    sys.path.insert(0, str(BENCH))
    try:
        from train_reranker import STDLIB, VALIDATE
    finally:
        sys.path.remove(str(BENCH))
    return [STDLIB / p for p in VALIDATE]


def test_evaluation_leaves_out_excluded_queries(tmp_path):
    """evaluate(exclude_texts=...) scores only the queries not excluded (by query_key:
    case and spacing aside)."""
    from embedsearch.evaluate.codesearch import docstring_texts, evaluate, query_key
    from tests.conftest import copy_stdlib
    from tests.fake_encoder import FAKE

    corpus = copy_stdlib(tmp_path / "src", ["shlex.py"])
    texts = sorted(docstring_texts([str(corpus)]))
    assert query_key("  Split   the STRING ") == "split the string"
    full = evaluate([str(corpus)], model=FAKE)[0]
    part = evaluate([str(corpus)], model=FAKE, exclude_texts=frozenset(texts[:3]))[0]
    assert full.queries == len(texts) and part.queries == full.queries - 3
