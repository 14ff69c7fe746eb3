"""Aligning two tables: a map from A's space to B's, fitted on the keys both have, and how
well it finds the same key again.

The standard measure of word-embedding alignment (Mikolov et al. 2013; Conneau et al. 2018,
MUSE): fit the map on most shared keys, then for each held-out key map its A-row into B and
ask whether its own B-row is the nearest (precision@1) or among the ten nearest
(precision@10) of all the shared keys' B-rows, by cosine. Two maps (embedsearch.linmap):

    procrustes  orthogonal (semi-orthogonal across widths): rotates A onto B, keeps A's
                geometry; the usual choice for word spaces
    ridge       any linear map, its penalty chosen by cross-validation; can also stretch

Rows are normalised first (only directions count in either space). Once measured, each map
is fitted again on every shared key, and "translated neighbours" of a key are the keys of B
(all of them) nearest to its mapped A-row: a key B does not have gets neighbours there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from embedsearch.errors import EmbedsearchError
from embedsearch.tables.base import Table

MAPS = ("procrustes", "ridge")


@dataclass
class Alignment:
    a: str
    b: str
    shared: int
    used: int
    train: int
    test: int
    precision: dict[str, dict[str, float]]  # map -> {"precision_at_1": .., "precision_at_10": ..}
    translations: dict[str, dict[str, list[dict]]] = field(default_factory=dict)  # key -> map -> neighbours

    def as_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "shared_keys": self.shared, "keys_used": self.used,
                "train_keys": self.train, "test_keys": self.test, "chance_at_1": 1 / self.used,
                "maps": self.precision, "translations": self.translations}


def _nearest(candidates: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """(q, k) rows of the k candidates nearest each query by cosine (both unit), in blocks."""
    from embedsearch.ann import exact_query

    return np.concatenate([exact_query(candidates, queries[s:s + 1024], k)[0]
                           for s in range(0, len(queries), 1024)]) if len(queries) else np.zeros((0, k), np.int64)


def align(a: Table, b: Table, keys: list[str] | None = None, maps: tuple[str, ...] = MAPS, k: int = 10,
          test_share: float = 0.2, max_keys: int = 20_000, seed: int = 0) -> Alignment:
    """Fit each map A -> B on the shared keys (the first `max_keys` in A's order, a seeded
    `test_share` of them held out), report precision@1/@10 on the held-out keys, and the
    translated neighbours (in B) of `keys` under maps refitted on every shared key."""
    from embedsearch.ann import normalise
    from embedsearch.linmap import fit
    from embedsearch.tables.compare import shared_keys

    for m in maps:
        if m not in MAPS:
            raise EmbedsearchError(f"unknown map {m!r}; use {' or '.join(MAPS)}")
    if not 0 < test_share < 1:
        raise EmbedsearchError(f"--test-share must be between 0 and 1, got {test_share}")
    if k < 1:
        raise EmbedsearchError(f"-k must be at least 1, got {k}")
    for key in keys or []:
        a.row_of(key)  # an unknown key is refused now, not after the maps are fitted
    shared = shared_keys([a, b])
    used = shared[:max_keys]
    if len(used) < 25:
        raise EmbedsearchError(f"tables {a.name!r} and {b.name!r} share {len(shared)} keys; aligning them needs at "
                               "least 25 (20 to fit the map on, some to test it)")
    n_test = int(round(len(used) * test_share))
    if n_test < 1 or len(used) - n_test < 20:
        raise EmbedsearchError(f"--test-share {test_share:g} of {len(used)} keys holds out {n_test} and fits on "
                               f"{len(used) - n_test}; it must hold out at least 1 and leave at least 20")
    xa = normalise(a.subset(used).vectors)  # (n, da)
    xb = normalise(b.subset(used).vectors)  # (n, db)
    order = np.random.default_rng(seed).permutation(len(used))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    precision = {}
    fitted = {}
    for m in maps:
        f = fit(xa[train], xb[train], m, seed=seed)
        top = _nearest(xb, normalise(f(xa[test])), 10)  # (t, 10) rows into used
        found = top == test[:, None]
        precision[m] = {"precision_at_1": float(found[:, 0].mean()), "precision_at_10": float(found.any(axis=1).mean())}
        if keys:
            fitted[m] = fit(xa, xb, m, seed=seed)
    out = Alignment(a.name, b.name, len(shared), len(used), len(train), len(test), precision)
    for key in keys or []:
        row = normalise(a.row(key)[None, :])  # (1, da)
        out.translations[key] = {}
        for m, f in fitted.items():
            q = normalise(f(row))  # (1, db)
            ids = _nearest(b.unit(), q, k)[0]  # among all of B's keys, not only the shared ones
            out.translations[key][m] = [{"key": b.keys[i], "cosine": float(b.unit()[i] @ q[0])} for i in ids]
    return out
