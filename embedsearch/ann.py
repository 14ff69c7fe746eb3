"""Approximate nearest neighbours with hnswlib, and the exact search that checks it.

All tables here are compared by cosine similarity. Vectors are stored L2-normalised, so
hnswlib's inner-product space gives cosine directly (distance = 1 - cosine) and exact search
is one matrix product.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedsearch.errors import Damaged, EmbedsearchError


@dataclass(frozen=True)
class HnswParams:
    """Build and query parameters; recorded in each index's manifest.

    Defaults are the fastest measured setting with recall@10 >= 0.98 against exact search
    (bench/hnsw_sweep.py, bench/README.md): on a 23k x 384 code index M=16,
    ef_construction=200, ef=48 (recall 0.985). Large tables need more: see `for_count`."""

    M: int = 16
    ef_construction: int = 200
    ef_search: int = 48

    @classmethod
    def for_count(cls, count: int) -> "HnswParams":
        """Measured choice by table size: up to ~100k rows the defaults; above, as on the
        400k x 50 GloVe table, M=32 and ef=128 (recall 0.990; M=16 needs ef=192 for 0.98
        and is half as fast there)."""
        return cls() if count < 100_000 else cls(M=32, ef_construction=200, ef_search=128)

    def as_dict(self) -> dict:
        return {"M": self.M, "ef_construction": self.ef_construction, "ef_search": self.ef_search}

    @classmethod
    def from_dict(cls, d: dict) -> "HnswParams":
        return cls(M=int(d["M"]), ef_construction=int(d["ef_construction"]), ef_search=int(d["ef_search"]))


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero) as contiguous float32."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norms == 0, 1, norms)


ADD_BLOCK = 10_000  # rows per hnswlib add_items call when progress is reported, so the bar moves


def build_hnsw(vectors: np.ndarray, params: HnswParams = HnswParams(), labels: np.ndarray | None = None,
               progress: Callable[[int], None] | None = None):
    """An hnswlib index over unit rows (n, d); label i is row i unless labels are given.
    With `progress`, rows are added in blocks and it is told how many after each."""
    import hnswlib

    n, dim = vectors.shape
    index = hnswlib.Index(space="ip", dim=dim)
    index.init_index(max_elements=max(n, 1), ef_construction=params.ef_construction, M=params.M)
    labels = labels if labels is not None else np.arange(n)
    step = ADD_BLOCK if progress else max(n, 1)
    for s in range(0, n, step):
        index.add_items(vectors[s:s + step], labels[s:s + step])
        if progress:
            progress(min(step, n - s))
    index.set_ef(params.ef_search)
    return index


def load_hnsw(path: Path, dim: int, expected: int, ef_search: int):
    """Load an hnswlib file, checking it holds the expected number of items."""
    import hnswlib

    index = hnswlib.Index(space="ip", dim=dim)
    try:
        index.load_index(str(path), max_elements=max(expected, 1))
    except (RuntimeError, MemoryError, ValueError) as exc:
        raise Damaged(f"HNSW file {path} is damaged or not an HNSW index ({exc})") from None
    if index.get_current_count() != expected:
        raise EmbedsearchError(
            f"HNSW file {path} holds {index.get_current_count()} items, expected {expected}"
        )
    index.set_ef(ef_search)
    return index


def hnsw_query(index, queries: np.ndarray, k: int, ef_search: int | None = None,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (ids, cosine scores) per query row; k is clipped to the index size (or to the
    number of `allowed` rows, a (count,) bool mask searched through hnswlib's filter, with
    the graph walk widened in proportion to how few rows pass)."""
    count = index.get_current_count()
    passing = count if allowed is None else int(allowed.sum())
    k = min(k, passing)
    if k == 0:
        return np.zeros((len(queries), 0), dtype=np.int64), np.zeros((len(queries), 0), dtype=np.float32)
    ef = max(ef_search or 0, k, index.ef)
    if allowed is not None:  # widened in proportion to how few rows pass
        ef = min(count, max(ef, ef * count // passing))
    previous = index.ef
    index.set_ef(ef)
    try:
        kwargs = {"filter": lambda label: bool(allowed[label])} if allowed is not None else {}
        labels, distances = index.knn_query(np.atleast_2d(queries).astype(np.float32), k=k, **kwargs)
    finally:
        index.set_ef(previous)
    return labels.astype(np.int64), (1.0 - distances).astype(np.float32)


def exact_query(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k by cosine over unit rows: the reference HNSW answers are checked against."""
    queries = np.atleast_2d(queries).astype(np.float32)
    k = min(k, len(vectors))
    if k == 0:
        return np.zeros((len(queries), 0), dtype=np.int64), np.zeros((len(queries), 0), dtype=np.float32)
    scores = queries @ np.asarray(vectors, dtype=np.float32).T  # (q, n)
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)
