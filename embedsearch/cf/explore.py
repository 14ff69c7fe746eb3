"""Looking inside a trained model: biases, similar movies, recommendations, PCA, one-hot.

Each function takes a loaded SavedModel and returns plain data (dicts of lists and numbers)
that the CLI renders as a table or JSON.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedsearch.cf.bridge import new_items, score
from embedsearch.cf.foldin import fold_in, predict_all
from embedsearch.cf.lookup import resolve, resolve_user
from embedsearch.cf.saved import SavedModel
from embedsearch.errors import EmbedsearchError


def _y_range(saved: SavedModel) -> tuple[float, float] | None:
    return saved.model.y_range if saved.kind == "bias" else None  # None too for a linear (ALS) bias model


def _item_bias(saved: SavedModel) -> np.ndarray | None:
    if saved.kind != "bias":
        return None
    return saved.model.item_bias.weight.detach().numpy()[:, 0]


def biases(saved: SavedModel, n: int = 10) -> dict:
    """Movies with the lowest and highest learned bias: liked or disliked whoever watches."""
    b = _item_bias(saved)
    if b is None:
        raise EmbedsearchError(f"model {saved.name!r} is a {saved.kind!r} model, which has no biases; train with --model bias")
    order = np.argsort(b, kind="stable")
    pick = lambda rows: [{"title": saved.item_keys[r], "bias": float(b[r]), "ratings": int(saved.item_counts[r])} for r in rows]
    return {"lowest": pick(order[:n]), "highest": pick(order[::-1][:n])}


def similar(saved: SavedModel, title: str, n: int = 10, min_ratings: int = 0, bridge: str | None = None) -> dict:
    """Nearest movies by cosine over item factors, from the HNSW graph of the model's
    items table (`neighbours NAME-items` answers from the same one, cached in the home
    for these exact factors). Movies with fewer than `min_ratings` training ratings are
    left out: their factors are mostly noise.

    A title written as "Title (Year)|Genre|..." is a movie the model has never seen: it is
    placed in CF space through the model's bridge from a language table (cf/bridge.py)."""
    from embedsearch.ann import hnsw_query, normalise
    from embedsearch.tables.ops import hnsw_for
    from embedsearch.tables.registry import cf_table

    if n < 1:
        raise EmbedsearchError(f"-k must be at least 1, got {n}")
    if "|" in title:
        placed = new_items(saved, [title], bridge)
        row, query, key = None, normalise(placed.factors), placed.keys[0]  # (1, f)
    else:
        row = resolve(title, saved.item_keys)
        query, key = normalise(saved.item_factors())[row : row + 1], saved.item_keys[row]  # (1, f)
    pool = n + 1 if min_ratings <= 0 else min(len(saved.item_keys), 10 * n + 100)
    ids, scores = hnsw_query(hnsw_for(cf_table(saved, items=True), saved.path.parent), query, pool)
    results = [
        {"title": saved.item_keys[i], "cosine": float(s), "ratings": int(saved.item_counts[i])}
        for i, s in zip(ids[0], scores[0]) if i != row and saved.item_counts[i] >= min_ratings
    ][:n]
    return {"query": key, "new": row is None, "results": results}


def parse_rates(rates: list[str]) -> list[tuple[str, float]]:
    """'Title=5' strings as (title, rating); the last '=' splits, so titles may contain '='."""
    out = []
    for text in rates:
        title, sep, value = text.rpartition("=")
        if not sep or not title.strip():
            raise EmbedsearchError(f"--rate expects TITLE=RATING, got {text!r}")
        try:
            out.append((title.strip(), float(value)))
        except ValueError:
            raise EmbedsearchError(f"--rate {text!r}: rating {value!r} is not a number") from None
    return out


def recommend(
    saved: SavedModel, user: str | None = None, rates: list[str] | None = None, n: int = 10, ridge: float = 1.0,
    include_new: list[str] | None = None, bridge: str | None = None,
) -> dict:
    """Top-n movies the user has not rated, with predicted ratings.

    A known user (`user`) is scored by the model; a new user given as `rates` is folded in
    first (ridge least squares against the fixed item factors), without retraining.
    `include_new` adds movies nobody has rated ("Title (Year)|Genre|..."), placed through
    the model's bridge from a language table and ranked among the known ones.
    """
    import torch

    if n < 1:
        raise EmbedsearchError(f"-n must be at least 1, got {n}")
    if (user is None) == (not rates):
        raise EmbedsearchError("give either --user ID or one or more --rate TITLE=RATING")
    if user is not None:
        row = resolve_user(user, saved.user_keys)
        with torch.no_grad():
            scores = saved.model.score_matrix(torch.tensor([row])).numpy()[0].astype(np.float64)
        seen = saved.rated_by(row)
        rated = []
        out_user: dict = {"user": saved.user_keys[row], "folded_in": False}
        p = saved.model.user_factors.weight.detach().numpy()[row]
        c = float(saved.model.user_bias.weight.detach()[row, 0]) if saved.kind == "bias" else 0.0
    else:
        if saved.kind == "nn":
            raise EmbedsearchError(
                "folding in a new user needs a dot-product model (--model bias or dot); the NN model is not linear in its user factors"
            )
        pairs = parse_rates(rates or [])
        lo, hi = saved.manifest["options"]["y_range"]
        rows, values = [], []
        for title, value in pairs:
            if not lo <= value <= hi:
                raise EmbedsearchError(f"rating {value:g} for {title!r} is outside the range {lo:g}..{hi:g}")
            r = resolve(title, saved.item_keys)
            if r in rows:
                raise EmbedsearchError(f"{saved.item_keys[r]!r} is rated twice")
            rows.append(r)
            values.append(value)
        y_range = _y_range(saved)
        p, c = fold_in(saved.item_factors(), _item_bias(saved), np.array(rows), np.array(values), y_range, ridge)
        scores = predict_all(saved.item_factors(), _item_bias(saved), p, c, y_range)
        seen = np.array(rows)
        rated = [{"title": saved.item_keys[r], "rating": v, "predicted": float(scores[r])} for r, v in zip(rows, values)]
        out_user = {"user": None, "folded_in": True, "user_bias": c}
    scores[seen] = -np.inf
    keys, counts, new = list(saved.item_keys), saved.item_counts, np.zeros(len(scores), dtype=bool)
    if include_new:
        if saved.kind == "nn":
            raise EmbedsearchError("new movies are placed by a dot-product model's bridge (--model bias or dot); "
                                   "the NN model does not score items by a dot product")
        placed = new_items(saved, list(include_new), bridge)
        extra = score(p[None, :], np.array([c]), placed.factors, placed.bias, _y_range(saved))[0]  # (n_new,)
        scores = np.concatenate([scores, extra])
        keys += placed.keys
        counts = np.concatenate([counts, np.zeros(len(extra), dtype=counts.dtype)])
        new = np.concatenate([new, np.ones(len(extra), dtype=bool)])
    order = np.argsort(-scores, kind="stable")
    top = order[: min(n, int(np.isfinite(scores).sum()))]
    results = [{"title": keys[i], "predicted": float(scores[i]), "ratings": int(counts[i]), "new": bool(new[i])}
               for i in top]
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    placed_new = [{"title": keys[i], "predicted": float(scores[i]), "rank": int(rank[i])} for i in np.flatnonzero(new)]
    return {**out_user, "rated": rated, "results": results, "new_items": placed_new,
            "candidates": int(np.isfinite(scores).sum())}


def pca_plot(saved: SavedModel, out: Path, top: int = 1000, labels: int = 50) -> dict:
    """PCA of the item factors of the `top` most-rated movies; the `labels` most-rated drawn.

    Two components (as in fastbook), saved as a PNG; returns the explained variance ratios.
    """
    if top < 3 or labels < 1:
        raise EmbedsearchError("--top must be at least 3 and --labels at least 1")
    order = np.argsort(-saved.item_counts, kind="stable")[: min(top, len(saved.item_keys))]
    f = saved.item_factors()[order].astype(np.float64)  # (top, factors)
    centred = f - f.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T  # (top, 2)
    var = s**2 / (s**2).sum()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = min(labels, len(order))
    fig, ax = plt.subplots(figsize=(12, 12))
    ax.scatter(coords[:shown, 0], coords[:shown, 1], s=8)
    for (x, y), r in zip(coords[:shown], order[:shown]):
        ax.text(x, y, saved.item_keys[r], fontsize=8)
    ax.set_xlabel(f"PC1 ({var[0]:.1%} of variance)")
    ax.set_ylabel(f"PC2 ({var[1]:.1%} of variance)")
    ax.set_title(f"Item factors of the {shown} most-rated movies ({saved.name})")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return {
        "path": str(out),
        "fitted_on": len(order),
        "labelled": shown,
        "explained_variance": [float(var[0]), float(var[1])],
        "points": [{"title": saved.item_keys[r], "pc1": float(x), "pc2": float(y)} for (x, y), r in zip(coords[:shown], order[:shown])],
    }


def explain(saved: SavedModel, title: str | None = None, repeats: int = 2000, batch: int = 512) -> dict:
    """Show that an embedding lookup is a one-hot matrix product: one_hot(i) @ W == W[i].

    On the model's item factor table (the `NAME-items` table): `lookup` compares the two
    exactly, as it does for any table, and `time_one_hot` times both in PyTorch (one row,
    and a batch of rows), so the reason embeddings exist is visible: same numbers, no
    n_items-wide vector of zeros to build and multiply. The title defaults to the most
    rated movie.
    """
    from embedsearch.tables.ops import lookup, time_one_hot
    from embedsearch.tables.registry import cf_table

    table = cf_table(saved, items=True)
    row = resolve(title, saved.item_keys) if title else int(np.argmax(saved.item_counts))
    shown = lookup(table, saved.item_keys[row])
    timing = time_one_hot(table, shown.row, batch, repeats)
    return {
        "title": shown.key,
        "row": shown.row,
        "table_shape": [len(table), table.dim],
        "one_hot_matmul": shown.one_hot_vector.tolist(),
        "lookup": shown.vector.tolist(),
        "equal": shown.max_abs_difference == 0.0,
        **timing,
    }
