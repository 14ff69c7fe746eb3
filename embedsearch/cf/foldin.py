"""New users without retraining: solve for their factors against the fixed item factors.

With item factors Q (n, f) and item biases b fixed, a new user's ratings r on items J give
a linear problem for the user's factors p and bias c:

    target_j = p · Q_j + c + b_j          (ridge: minimise |X w - y|^2 + lam |w|^2)

with X = [Q_J, 1], w = [p, c], y = target - b_J, solved in closed form
w = (X^T X + lam I)^-1 X^T y. For the sigmoid model the target is the rating mapped back
through the sigmoid (the logit of (r - lo) / (hi - lo)), since that is the space in which
the model is linear. The ridge term keeps a user with two ratings from getting huge factors.
"""

from __future__ import annotations

import numpy as np

from embedsearch.errors import EmbedsearchError


def _logit(r: np.ndarray, lo: float, hi: float) -> np.ndarray:
    p = np.clip((r - lo) / (hi - lo), 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


def fold_in(
    item_factors: np.ndarray,
    item_bias: np.ndarray | None,
    items: np.ndarray,
    ratings: np.ndarray,
    y_range: tuple[float, float] | None,
    ridge: float = 1.0,
) -> tuple[np.ndarray, float]:
    """(user factors (f,), user bias) that best explain `ratings` of item rows `items`."""
    if len(items) == 0:
        raise EmbedsearchError("a new user needs at least one rating")
    if not ridge >= 0 or ridge == float("inf"):  # also refuses NaN, which compares false
        raise EmbedsearchError(f"ridge must be a finite number of at least 0, got {ridge}")
    q = np.asarray(item_factors, np.float64)[items]  # (k, f)
    r = np.asarray(ratings, np.float64)  # (k,)
    y = _logit(r, *y_range) if y_range is not None else r  # (k,)
    if item_bias is not None:
        y = y - np.asarray(item_bias, np.float64)[items]
        x = np.hstack([q, np.ones((len(items), 1))])  # (k, f + 1)
        penalty = np.full(x.shape[1], ridge)
        penalty[-1] = ridge * 1e-2  # the bias is one number: barely shrink it
    else:
        x = q  # (k, f)
        penalty = np.full(x.shape[1], ridge)
    w = np.linalg.solve(x.T @ x + np.diag(penalty) + 1e-9 * np.eye(x.shape[1]), x.T @ y)  # (f [+1],)
    if item_bias is not None:
        return w[:-1].astype(np.float32), float(w[-1])
    return w.astype(np.float32), 0.0


def predict_all(
    item_factors: np.ndarray, item_bias: np.ndarray | None, user: np.ndarray, user_bias: float,
    y_range: tuple[float, float] | None,
) -> np.ndarray:
    """Predicted rating of every item for a folded-in user, shape (n_items,)."""
    x = np.asarray(item_factors, np.float64) @ user + user_bias  # (n_items,)
    if item_bias is not None:
        x = x + np.asarray(item_bias, np.float64)
    if y_range is not None:
        lo, hi = y_range
        x = 1 / (1 + np.exp(-x)) * (hi - lo) + lo
    return x
