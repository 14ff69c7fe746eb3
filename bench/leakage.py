"""The leakage guard: no query text is in more than one of the re-ranker's training set, its
validation set and a held-out set. Vendored or copied code shares docstrings verbatim
(click's pager helpers are pydoc's), so a held-out package can hold questions the ranking
was fit on; `held_out` and `validation` leave those out. bench/search_quality.py,
bench/train_reranker.py and bench/fit_query_adapter.py use it; tests/test_leakage.py checks
the sets it leaves are disjoint."""

from __future__ import annotations

from pathlib import Path

from embedsearch.evaluate.codesearch import docstring_texts


def training_texts() -> set[str]:
    """The query keys of every docstring the ranking is fit on: the re-ranker's
    (train_reranker.TRAIN and the top-level standard-library modules) and the query
    adapter's (a subset of those, and the third-party packages of fit_query_adapter)."""
    from fit_query_adapter import third_party
    from train_reranker import default_corpora

    return set().union(*(docstring_texts([str(p) for p in paths]) for _, paths in default_corpora() + third_party()))


def validation_texts(training: set[str]) -> set[str]:
    """The validation corpus's query keys, less any that are training docstrings."""
    from train_reranker import STDLIB, VALIDATE

    return docstring_texts([str(STDLIB / p) for p in VALIDATE]) - training


def seen_texts() -> set[str]:
    """Every query key the ranking was fit or checked on: a held-out set leaves these out."""
    training = training_texts()
    return training | validation_texts(training)


def held_out(paths: list[str | Path], seen: set[str]) -> set[str]:
    """A held-out corpus's query keys, less any the ranking has seen."""
    return docstring_texts([str(p) for p in paths]) - seen
