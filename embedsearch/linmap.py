"""Maps from one embedding table to another: ridge regression and orthogonal Procrustes.

Two tables keyed by the same things (movies as CF item factors and as MiniLM rows; words in
GloVe and in the encoder's token table) can be lined up by a map fitted on the keys they
share:

    ridge       Y ≈ X W + b, closed form through one SVD of the centred X, the penalty
                chosen by k-fold cross-validation over keys (each fold's SVD serves every
                penalty of the grid); any shapes, any scales
    procrustes  Y ≈ X R with R orthogonal (semi-orthogonal when the widths differ): the
                map that keeps the geometry, the standard for aligning word spaces

`cross_validated` gives each key a prediction from a map that never saw it (the
penalty chosen inside each training part), so R² from it is an honest "how much of Y does X
explain". Only numpy; nothing here knows what a table or a movie is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from embedsearch.errors import EmbedsearchError

PENALTIES = tuple(10.0 ** e for e in np.arange(-4, 2.5, 0.5))  # relative to the mean eigenvalue of X^T X


@dataclass
class LinearMap:
    """y = (x - x_mean) @ weight + y_mean, as fitted; `penalty` is the relative ridge penalty
    chosen (None for Procrustes) and `cv_r2` the cross-validated R² that chose it."""

    weight: np.ndarray  # (d_in, d_out)
    x_mean: np.ndarray  # (d_in,)
    y_mean: np.ndarray  # (d_out,)
    kind: str = "ridge"
    penalty: float | None = None
    cv_r2: float | None = None
    details: dict = field(default_factory=dict)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(n, d_in) -> (n, d_out)."""
        x = np.asarray(x, dtype=np.float64)
        return (x - self.x_mean) @ self.weight + self.y_mean

    def save(self) -> dict[str, np.ndarray]:
        """Arrays for np.savez (the scalars ride along as 0-d arrays)."""
        return {"weight": self.weight, "x_mean": self.x_mean, "y_mean": self.y_mean,
                "penalty": np.float64(np.nan if self.penalty is None else self.penalty),
                "cv_r2": np.float64(np.nan if self.cv_r2 is None else self.cv_r2), "kind": np.array(self.kind)}

    @classmethod
    def load(cls, arrays) -> "LinearMap":
        pen, r2 = float(arrays["penalty"]), float(arrays["cv_r2"])
        return cls(np.asarray(arrays["weight"]), np.asarray(arrays["x_mean"]), np.asarray(arrays["y_mean"]),
                   str(arrays["kind"]), None if np.isnan(pen) else pen, None if np.isnan(r2) else r2)


def _check(x: np.ndarray, y: np.ndarray, least: int = 2) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise EmbedsearchError(f"a map needs two row-aligned tables, got shapes {x.shape} and {y.shape}")
    if len(x) < least:
        raise EmbedsearchError(f"a map needs at least {least} shared keys, got {len(x)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise EmbedsearchError("a table to map holds values that are not finite numbers")
    return x, y


def folds(n: int, k: int, seed: int = 0) -> list[np.ndarray]:
    """k disjoint test parts of range(n), seeded, as even in size as possible."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, min(k, n))]


def _ridge_weights(x: np.ndarray, y: np.ndarray, w: np.ndarray, penalties) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(weight matrices (d_in, d_out) per relative penalty, x mean, y mean) of weighted
    ridge, from one SVD of the centred rows scaled by sqrt(w)."""
    xm, ym = np.average(x, axis=0, weights=w), np.average(y, axis=0, weights=w)
    sw = np.sqrt(w / w.mean())[:, None]  # (n, 1)
    u, s, vt = np.linalg.svd((x - xm) * sw, full_matrices=False)  # (n, r), (r,), (r, d_in)
    scale = float((s**2).sum() / x.shape[1]) or 1.0  # the mean eigenvalue the penalties are relative to
    uty = u.T @ ((y - ym) * sw)  # (r, d_out)
    return [vt.T @ ((s / (s**2 + p * scale))[:, None] * uty) for p in penalties], xm, ym


def _sse(pred: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    return float((w[:, None] * (pred - y) ** 2).sum())


def r2_scores(pred: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """(overall R², per-column R²): 1 - SSE/SST (rows weighted when weights are given),
    overall summing every column (so wide-spread columns weigh more), against each column's
    own mean."""
    y = np.asarray(y, dtype=np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    sst = (w[:, None] * (y - np.average(y, axis=0, weights=w)) ** 2).sum(axis=0)  # (d,)
    sse = (w[:, None] * (np.asarray(pred, dtype=np.float64) - y) ** 2).sum(axis=0)  # (d,)
    per = np.where(sst > 0, 1 - sse / np.where(sst > 0, sst, 1), 0.0)
    return float(1 - sse.sum() / sst.sum()) if sst.sum() > 0 else 0.0, per


def _weights(w, n: int) -> np.ndarray:
    w = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise EmbedsearchError(f"row weights must be {n} finite numbers, none negative, not all zero")
    return w


def fit_ridge(x: np.ndarray, y: np.ndarray, k: int = 5, seed: int = 0, penalties=PENALTIES,
              weights: np.ndarray | None = None) -> LinearMap:
    """Ridge from x (n, d_in) to y (n, d_out), the penalty chosen by k-fold CV over rows
    (least summed squared error, each row counted `weights[i]` times when given: a CF item
    by its number of ratings, so the map is best where ratings are), then refitted on every row."""
    x, y = _check(x, y, least=max(k, 2))
    w = _weights(weights, len(x))
    sse = np.zeros(len(penalties))
    for test in folds(len(x), k, seed):
        train = np.setdiff1d(np.arange(len(x)), test)
        maps, xm, ym = _ridge_weights(x[train], y[train], w[train], penalties)
        sse += [_sse((x[test] - xm) @ m + ym, y[test], w[test]) for m in maps]
    best = int(np.argmin(sse))
    sst = _sse(np.average(y, axis=0, weights=w), y, w)
    (weight,), xm, ym = _ridge_weights(x, y, w, [penalties[best]])  # (d_in, d_out)
    return LinearMap(weight, xm, ym, "ridge", float(penalties[best]), 1 - sse[best] / sst if sst > 0 else 0.0,
                     {"penalties": [float(p) for p in penalties], "cv_sse": sse.tolist()})


def fit_procrustes(x: np.ndarray, y: np.ndarray) -> LinearMap:
    """The orthogonal map R (semi-orthogonal when widths differ) minimising |Xc R - Yc|,
    X and Y centred: R = U V^T from the SVD of Xc^T Yc (Schönemann 1966). Rows are used as
    given; callers normalise them first when only directions matter."""
    x, y = _check(x, y)
    xm, ym = x.mean(axis=0), y.mean(axis=0)
    u, _, vt = np.linalg.svd((x - xm).T @ (y - ym), full_matrices=False)  # (d_in, r), (r, d_out)
    return LinearMap(u @ vt, xm, ym, "procrustes")


def fit(x: np.ndarray, y: np.ndarray, kind: str = "ridge", k: int = 5, seed: int = 0,
        weights: np.ndarray | None = None) -> LinearMap:
    """One map of the given kind ("ridge" or "procrustes"; rows weighted for ridge only)."""
    if kind == "ridge":
        return fit_ridge(x, y, k, seed, weights=weights)
    if kind == "procrustes":
        return fit_procrustes(x, y)
    raise EmbedsearchError(f"unknown map {kind!r}; use ridge or procrustes")


def cross_validated(x: np.ndarray, y: np.ndarray, kind: str = "ridge", k: int = 5, seed: int = 0,
                    weights: np.ndarray | None = None) -> np.ndarray:
    """(n, d_out): each row predicted by a map fitted without it (k folds; for ridge the
    penalty is chosen again inside each training part, so nothing about a row leaks into
    its own prediction)."""
    x, y = _check(x, y, least=max(k, 2) * 2)
    w = _weights(weights, len(x))
    out = np.empty_like(y)
    for test in folds(len(x), k, seed):
        train = np.setdiff1d(np.arange(len(x)), test)
        out[test] = fit(x[train], y[train], kind, k, seed + 1, w[train])(x[test])
    return out
