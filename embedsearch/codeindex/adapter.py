"""The query adapter: a linear map applied to a query's vector before it meets an index's
vectors, so that the words people search with land nearer the code that does the thing.

Why a map on the query side only: an encoder trained on sentence pairs places "parse an
ISO date" near other sentences, not near a function body. A (dim, dim) matrix W, fit on
docstring -> code pairs of packages no benchmark asks about (bench/fit_query_adapter.py),
moves the query (q' = W q, made unit length again) towards the code vectors of the
functions it describes. Indexes are not touched: nothing is re-embedded, the map costs one
(dim, dim) product per query, and an index built with another encoder, weights or
representation is simply searched without it. What it gains is measured in
bench/README.md ("Query adapter").

An adapter is a file `adapters/<encoder digest>-<representation>.npy` (float16), found by the
index's manifest: the encoder's weights digest and the representation the chunks were
embedded with.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from embedsearch.errors import EmbedsearchError

ADAPTERS = Path(__file__).resolve().parent / "adapters"


def adapter_path(manifest: dict) -> Path | None:
    """The adapter file fit for this index's encoder weights and representation, if one ships."""
    encoder, options = manifest.get("encoder") or {}, manifest.get("options") or {}
    digest, representation = encoder.get("digest"), options.get("representation")
    if not isinstance(digest, str) or not isinstance(representation, str):
        return None
    path = ADAPTERS / f"{digest}-{representation}.npy"
    return path if path.is_file() else None


@lru_cache(maxsize=4)
def _load(path: Path) -> np.ndarray:
    """The adapter's matrix (dim, dim) as float32; a damaged file (the package's own data,
    so reinstalling restores it) is an error that names it, never a silent other ranking."""
    try:
        W = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise EmbedsearchError(f"the query adapter {path} cannot be read ({e}); reinstall embedsearch "
                               f"to restore it") from None
    if W.ndim != 2 or W.shape[0] != W.shape[1] or not np.issubdtype(W.dtype, np.floating) or \
            not np.isfinite(W).all():
        raise EmbedsearchError(f"the query adapter {path} is damaged (a {W.dtype} array of shape {W.shape}, "
                               f"not a finite square matrix); reinstall embedsearch to restore it")
    return W.astype(np.float32)  # (dim, dim)


def adapt_queries(manifest: dict, vectors: np.ndarray) -> np.ndarray:
    """Query vectors (n, dim), unit rows, mapped by the index's adapter (W q / |W q|), or
    returned unchanged when none ships for the index. An adapter of the wrong size is an
    error, as a damaged one is: searching on without it would silently rank otherwise."""
    path = adapter_path(manifest)
    if path is None:
        return vectors
    W = _load(path)  # (dim, dim)
    if W.shape != (vectors.shape[1], vectors.shape[1]):  # the file is keyed by the encoder: damaged or swapped
        raise EmbedsearchError(f"the query adapter {path} is damaged (a {W.shape[0]} x {W.shape[1]} map for "
                               f"{vectors.shape[1]}-dimensional queries); reinstall embedsearch to restore it")
    out = vectors.astype(np.float32) @ W.T  # (n, dim)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
