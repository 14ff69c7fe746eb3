"""How good a model is: rating error (RMSE, MAE) and top-N quality (precision, recall, NDCG).

Rating error says how close predicted stars are; top-N says whether the movies we would
actually show a user are ones they liked. Both are computed on held-out ratings.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from embedsearch.cf.data import Ratings


def rmse(pred: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared error, in rating units."""
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - target) ** 2)))


def mae(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute error, in rating units."""
    return float(np.mean(np.abs(np.asarray(pred, np.float64) - target)))


def top_n_metrics(
    score_users: Callable[[np.ndarray], np.ndarray],
    train: Ratings,
    valid: Ratings,
    k: int = 10,
    threshold: float = 4.0,
    chunk: int = 256,
) -> dict[str, float]:
    """Mean precision@k, recall@k and NDCG@k over users with a relevant held-out rating.

    Relevant = a held-out rating >= threshold. Items the user rated in `train` are never
    recommended (their scores are set to -inf first), as in `cf recommend`.
    `score_users(rows)` returns predicted ratings, shape (len(rows), n_items).
    """
    n_items = len(train.item_keys)
    relevant = valid.ratings >= threshold
    eval_users = np.unique(valid.users[relevant])
    if len(eval_users) == 0:
        return {"precision_at_k": 0.0, "recall_at_k": 0.0, "ndcg_at_k": 0.0, "k": k, "users": 0}
    discounts = 1.0 / np.log2(np.arange(2, k + 2))  # (k,)
    precision, recall, ndcg = [], [], []
    for start in range(0, len(eval_users), chunk):
        rows = eval_users[start : start + chunk]
        pos = {u: n for n, u in enumerate(rows)}
        scores = np.array(score_users(rows), dtype=np.float64)  # (chunk, n_items)
        seen = np.isin(train.users, rows)
        scores[[pos[u] for u in train.users[seen]], train.items[seen]] = -np.inf
        rel = np.zeros((len(rows), n_items), dtype=bool)
        sel = relevant & np.isin(valid.users, rows)
        rel[[pos[u] for u in valid.users[sel]], valid.items[sel]] = True
        kk = min(k, n_items)
        top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)  # (chunk, k) best first
        hits = np.take_along_axis(rel, top, axis=1)  # (chunk, k)
        n_rel = rel.sum(axis=1)
        precision.extend(hits.sum(axis=1) / k)
        recall.extend(hits.sum(axis=1) / n_rel)
        ideal = np.array([discounts[: min(n, k)].sum() for n in n_rel])
        ndcg.extend((hits * discounts[:kk]).sum(axis=1) / ideal)
    return {
        "precision_at_k": float(np.mean(precision)),
        "recall_at_k": float(np.mean(recall)),
        "ndcg_at_k": float(np.mean(ndcg)),
        "k": k,
        "users": int(len(eval_users)),
    }
