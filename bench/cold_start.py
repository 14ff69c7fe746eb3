"""Item cold start on MovieLens 100K: can a movie nobody has rated be placed from its text?

For each seed, a share of the movies (15% by default) is held out with every rating they
have; the CF model (the tool's default options) is trained on the ratings of the other
movies; each bridge is fitted on the training movies (embedsearch.cf.bridge, as `cf
bridge` fits it) and predicts the held-out movies' factors and biases from their language
rows; their held-out ratings are then predicted and ranked. Baselines on the same split:

    global mean                  the training ratings' mean
    user mean                    each user's training mean
    user mean + genre offset     plus the mean over the movie's genres of (rating - user mean)
    LightFM (logistic / WARP)    lightfm with genre and title-word item features (no item
                                 identity: held-out movies have none), user identities;
                                 ratings >= 4 positive (logistic: < 4 negative); its scores
                                 mapped to stars by least squares on the training ratings
                                 (a + b score + c user mean), which only helps its RMSE

Metrics over the held-out ratings of users with training ratings: RMSE, MAE; and, for each
such user with a held-out rating >= 4, NDCG@10 of ranking every held-out movie (ties,
as in the constant predictors, broken in a seeded random order).

Seeds 100 and 101 are the development part (min ratings, LightFM's epochs were looked at
there); 0-4 are the test part reported in bench/README.md. LightFM runs where it imports
(`pip install --no-build-isolation lightfm` in a separate environment, see bench/README.md):

    PYTHONPATH=.:.venv/lib/python3.11/site-packages /work/bench-venv/bin/python \\
        bench/cold_start.py --seeds 0 1 2 3 4 --json /tmp/cold_start.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embedsearch.cf.bridge import MIN_RATINGS, cf_targets, fit_map, score, split_targets  # noqa: E402
from embedsearch.cf.data import load_dataset  # noqa: E402
from embedsearch.cf.metrics import mae, rmse  # noqa: E402
from embedsearch.cf.train import TrainOptions, fit  # noqa: E402
from embedsearch.tables.movies import encoder_rows, glove_rows, read_movies  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ml-100k"


def ndcg_at_10(scores: np.ndarray, users: np.ndarray, items: np.ndarray, ratings: np.ndarray,
               rng: np.random.Generator) -> float:
    """Mean NDCG@10 over users with a held-out rating >= 4; scores (n_users_rows, n_held)
    rank every held-out movie for each user (users: rows into scores, items: columns)."""
    out = []
    discounts = 1 / np.log2(np.arange(2, 12))
    for u in np.unique(users[ratings >= 4]):
        rel = np.zeros(scores.shape[1], dtype=bool)
        rel[items[(users == u) & (ratings >= 4)]] = True
        s = scores[u] + rng.random(scores.shape[1]) * 1e-9 * (np.ptp(scores[u]) or 1.0)  # seeded tie-break
        top = np.argsort(-s, kind="stable")[:10]
        ideal = discounts[: min(rel.sum(), 10)].sum()
        out.append((rel[top] * discounts[: len(top)]).sum() / ideal)
    return float(np.mean(out))


def lightfm_predict(loss: str, train, item_feats, tr_u, tr_i, tr_r, seed: int, epochs: int):
    """A LightFM model's score function (users, items) -> scores, trained on the training ratings."""
    import scipy.sparse as sp
    from lightfm import LightFM

    n_users, n_items = len(train.user_keys), len(train.item_keys)
    pos = tr_r >= 4
    if loss == "logistic":
        data = np.where(pos, 1.0, -1.0)
        inter = sp.coo_matrix((data, (tr_u, tr_i)), shape=(n_users, n_items))
    else:
        inter = sp.coo_matrix((np.ones(pos.sum()), (tr_u[pos], tr_i[pos])), shape=(n_users, n_items))
    model = LightFM(no_components=32, loss=loss, learning_rate=0.05, random_state=seed)
    model.fit(inter, item_features=item_feats, epochs=epochs, num_threads=2)
    return lambda u, i: model.predict(u.astype(np.int32), i.astype(np.int32), item_features=item_feats, num_threads=2)


def item_features(movies_by_row: list, n_items: int):
    """(n_items, genres + title words) CSR, each row summing to 1, as LightFM's Dataset makes them."""
    import scipy.sparse as sp

    vocab: dict[str, int] = {}
    rows, cols = [], []
    for r, m in enumerate(movies_by_row):
        if m is None:
            continue
        for f in [f"genre:{g}" for g in m.genres] + [f"word:{w}" for w in m.title_words()]:
            rows.append(r)
            cols.append(vocab.setdefault(f, len(vocab)))
    x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_items, max(len(vocab), 1)))
    sums = np.asarray(x.sum(axis=1)).ravel()
    sums[sums == 0] = 1
    return sp.diags(1 / sums) @ x


def one_seed(ds, movies_by_row, lang: dict, seed: int, held_share: float, min_ratings: int,
             lightfm_epochs: int, mlp: bool) -> dict:
    r = ds.ratings
    n_items = len(r.item_keys)
    rng = np.random.default_rng(seed)
    held = np.zeros(n_items, dtype=bool)
    held[rng.choice(n_items, size=int(round(n_items * held_share)), replace=False)] = True
    train = r.subset(~held[r.items])
    test = r.subset(held[r.items])
    known_users = np.bincount(train.users, minlength=len(r.user_keys)) > 0
    test = test.subset(known_users[test.users])
    held_items = np.flatnonzero(held)
    col = {i: c for c, i in enumerate(held_items)}
    t_items = np.array([col[i] for i in test.items])
    t0 = time.perf_counter()
    opts = TrainOptions()
    model = fit(train, None, opts, top_n=False).model
    cf_seconds = time.perf_counter() - t0
    pu = model.user_factors.weight.detach().numpy()
    cu = model.user_bias.weight.detach().numpy()[:, 0]
    q = model.item_factors.weight.detach().numpy()
    b = model.item_bias.weight.detach().numpy()[:, 0]
    counts = np.bincount(train.items, minlength=n_items)
    y_range = opts.y_range

    preds: dict[str, np.ndarray] = {}  # method -> (n_users, n_held) predicted ratings
    n_users = len(r.user_keys)
    mu = float(train.ratings.mean())
    preds["global mean"] = np.full((n_users, len(held_items)), mu)
    user_sum = np.bincount(train.users, weights=train.ratings, minlength=n_users)
    user_mean = np.where(known_users, user_sum / np.maximum(np.bincount(train.users, minlength=n_users), 1), mu)
    preds["user mean"] = np.repeat(user_mean[:, None], len(held_items), axis=1)
    resid = train.ratings - user_mean[train.users]
    genre_off: dict[str, list[float]] = {}
    for it, e in zip(train.items, resid):
        m = movies_by_row[it]
        for g in (m.genres if m else []):
            genre_off.setdefault(g, []).append(e)
    goff = {g: float(np.mean(v)) for g, v in genre_off.items()}
    item_off = np.array([np.mean([goff.get(g, 0.0) for g in movies_by_row[i].genres])
                         if movies_by_row[i] and movies_by_row[i].genres else 0.0 for i in held_items])
    preds["user mean + genre offset"] = user_mean[:, None] + item_off[None, :]

    fits = {}
    for name, (rows_of, x_all) in lang.items():
        train_items = [i for i in range(n_items) if not held[i] and counts[i] >= min_ratings and i in rows_of]
        x = x_all[[rows_of[i] for i in train_items]]
        y = cf_targets(q[train_items], b[train_items])
        for kind in (("ridge", "mlp") if mlp else ("ridge",)):
            if kind == "mlp" and name != "movies-minilm":
                continue
            t1 = time.perf_counter()
            f = fit_map(x, y, kind, seed, counts[train_items].astype(np.float64))
            xh = np.stack([x_all[rows_of[i]] if i in rows_of else x.mean(axis=0) for i in held_items])
            qh, bh = split_targets(f(xh), True)
            preds[f"bridge from {name} ({kind})"] = score(pu, cu, qh, bh, y_range)
            fits[f"{name} ({kind})"] = {"movies": len(train_items), "penalty": float(f.penalty),
                                        "cv_r2": float(f.cv_r2), "seconds": time.perf_counter() - t1,
                                        "held_without_row": int(sum(i not in rows_of for i in held_items))}
    import importlib.util

    if importlib.util.find_spec("lightfm") is not None:
        feats = item_features(movies_by_row, n_items)
        for loss in ("logistic", "warp"):
            t1 = time.perf_counter()
            predict = lightfm_predict(loss, train, feats, train.users, train.items, train.ratings, seed, lightfm_epochs)
            s_train = predict(train.users, train.items)
            a = np.stack([np.ones(len(train)), s_train, user_mean[train.users]], axis=1)
            coef, *_ = np.linalg.lstsq(a, train.ratings.astype(np.float64), rcond=None)
            uu = np.repeat(np.arange(n_users), len(held_items))
            ii = np.tile(held_items, n_users)
            s = predict(uu, ii).reshape(n_users, len(held_items))
            preds[f"LightFM {loss} (genres + title words)"] = coef[0] + coef[1] * s + coef[2] * user_mean[:, None]
            fits[f"LightFM {loss}"] = {"seconds": time.perf_counter() - t1, "calibration": coef.tolist()}
    out = {}
    for method, p in preds.items():
        pr = p[test.users, t_items]
        out[method] = {"rmse": rmse(pr, test.ratings), "mae": mae(pr, test.ratings),
                       "ndcg_at_10": ndcg_at_10(p, test.users, t_items, test.ratings, np.random.default_rng(seed))}
    return {"seed": seed, "held_movies": int(held.sum()), "test_ratings": len(test), "train_ratings": len(train),
            "cf_seconds": cf_seconds, "fits": fits, "methods": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--held", type=float, default=0.15, help="Share of movies held out.")
    ap.add_argument("--min-ratings", type=int, default=MIN_RATINGS)
    ap.add_argument("--lightfm-epochs", type=int, default=10,
                    help="LightFM epochs (10 was best of 10, 30, 60 on the development seeds).")
    ap.add_argument("--no-mlp", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import os

    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    ds = load_dataset(args.data)
    movies = {m.key: m for m in read_movies(args.data)}
    keys = ds.ratings.item_keys
    movies_by_row = [movies.get(k) for k in keys]
    listed = [m for m in movies_by_row if m is not None]
    t0 = time.perf_counter()
    minilm = encoder_rows(listed)
    kept, glove = glove_rows(listed)
    row_of = {m.key: n for n, m in enumerate(listed)}
    glove_row = {m.key: n for n, m in enumerate(kept)}
    lang = {
        "movies-minilm": ({i: row_of[k] for i, k in enumerate(keys) if k in row_of}, minilm),
        "movies-glove": ({i: glove_row[k] for i, k in enumerate(keys) if k in glove_row}, glove),
    }
    print(f"language rows: {len(listed)} movies through MiniLM, {len(kept)} through GloVe "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    runs = []
    for seed in args.seeds:
        res = one_seed(ds, movies_by_row, lang, seed, args.held, args.min_ratings, args.lightfm_epochs, not args.no_mlp)
        runs.append(res)
        print(f"seed {seed}: {res['held_movies']} movies held out, {res['test_ratings']} held-out ratings", flush=True)
        for method, m in res["methods"].items():
            print(f"  {method:<44} RMSE {m['rmse']:.4f}  MAE {m['mae']:.4f}  NDCG@10 {m['ndcg_at_10']:.4f}", flush=True)
    print(f"\nover seeds {' '.join(map(str, args.seeds))} (mean ± std):")
    print("| method | RMSE | MAE | NDCG@10 among held-out movies |\n|---|---|---|---|")
    summary = {}
    for method in runs[0]["methods"]:
        vals = {k: [r["methods"][method][k] for r in runs] for k in ("rmse", "mae", "ndcg_at_10")}
        summary[method] = {k: [float(np.mean(v)), float(np.std(v))] for k, v in vals.items()}
        s = summary[method]
        print(f"| {method} | {s['rmse'][0]:.4f} ± {s['rmse'][1]:.4f} | {s['mae'][0]:.4f} ± {s['mae'][1]:.4f} | "
              f"{s['ndcg_at_10'][0]:.4f} ± {s['ndcg_at_10'][1]:.4f} |")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
