"""Collaborative filtering benchmark: embedsearch's model vs the peers a user would pick.

Official MovieLens 100K folds u1..u5, all in one run: RMSE per fold, mean ± std, training
seconds per fold, and ratios to each peer. Peers (Surprise SVD / SVD++, fastai's
collab_learner) are used when they import; install them in a separate environment, e.g.

    python3 -m venv /tmp/bench-venv
    /tmp/bench-venv/bin/pip install torch==2.13.0 "torchvision==0.28.*" scikit-surprise fastai click rich
    PYTHONPATH=. /tmp/bench-venv/bin/python bench/cf_bench.py

Not a test: timings depend on the machine (see bench/README.md for the recorded run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embedsearch.cf.data import OFFICIAL_FOLDS, load_dataset  # noqa: E402
from embedsearch.cf.metrics import rmse  # noqa: E402
from embedsearch.cf.train import TrainOptions, fit, predict  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ml-100k"


def ours(data: Path, options: TrainOptions) -> list[tuple[float, float]]:
    ds = load_dataset(data)
    out = []
    for fold in OFFICIAL_FOLDS:
        train, test = ds.fold(fold)
        res = fit(train, test, options, top_n=False)
        out.append((rmse(predict(res.model, test), test.ratings), res.seconds))
    return out


def surprise_algo(data: Path, name: str) -> list[tuple[float, float]]:
    from surprise import SVD, Dataset, Reader, SVDpp, accuracy

    reader = Reader("ml-100k")
    out = []
    for fold in OFFICIAL_FOLDS:
        d = Dataset.load_from_folds([(str(data / f"{fold}.base"), str(data / f"{fold}.test"))], reader)
        trainset, testset = next(iter(__import__("surprise").model_selection.PredefinedKFold().split(d)))
        algo = (SVD if name == "svd" else SVDpp)(random_state=0)
        t = time.perf_counter()
        algo.fit(trainset)
        seconds = time.perf_counter() - t
        out.append((accuracy.rmse(algo.test(testset), verbose=False), seconds))
    return out


def fastai_collab(data: Path) -> list[tuple[float, float]]:
    import pandas as pd
    from fastai.collab import CollabDataLoaders, collab_learner

    cols = ["user", "item", "rating", "ts"]
    out = []
    for fold in OFFICIAL_FOLDS:
        train = pd.read_csv(data / f"{fold}.base", sep="\t", names=cols)
        test = pd.read_csv(data / f"{fold}.test", sep="\t", names=cols)
        dls = CollabDataLoaders.from_df(train, user_name="user", item_name="item", rating_name="rating",
                                        valid_pct=0.01, seed=0, bs=64)
        learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5))
        t = time.perf_counter()
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(5, 5e-3, wd=0.1)
        seconds = time.perf_counter() - t
        preds, _ = learn.get_preds(dl=dls.test_dl(test))
        out.append((rmse(preds.numpy().ravel(), test["rating"].to_numpy()), seconds))
    return out


def _progress(label: str, res: list[tuple[float, float]]) -> None:
    print(f"{label}: rmse {[round(r, 4) for r, _ in res]} seconds {[round(s, 2) for _, s in res]}",
          file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--peers", default="svd,svdpp",
                    help="comma-separated: svd, svdpp, fastai (fastai is slow on a small CPU: minutes per fold)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    import torch

    torch.manual_seed(0)
    rows: dict[str, list[tuple[float, float]]] = {}
    rows["embedsearch (bias, defaults)"] = ours(args.data, TrainOptions())
    _progress("embedsearch (bias, defaults)", rows["embedsearch (bias, defaults)"])
    peers = {"svd": ("Surprise SVD", lambda: surprise_algo(args.data, "svd")),
             "svdpp": ("Surprise SVD++", lambda: surprise_algo(args.data, "svdpp")),
             "fastai": ("fastai collab_learner", lambda: fastai_collab(args.data))}
    for key in [p for p in args.peers.split(",") if p]:
        label, run = peers[key]
        try:
            rows[label] = run()
            _progress(label, rows[label])
        except ImportError as exc:
            print(f"skipping {label}: {exc}", file=sys.stderr)
    base = rows["embedsearch (bias, defaults)"]
    b_rmse, b_time = np.mean([r for r, _ in base]), np.mean([s for _, s in base])
    print("| model | RMSE per fold u1..u5 | RMSE mean ± std | train s/fold | our RMSE ÷ theirs | our time ÷ theirs |")
    print("|---|---|---|---|---|---|")
    for label, res in rows.items():
        r = np.array([x for x, _ in res])
        s = np.array([x for _, x in res])
        print(f"| {label} | {' '.join(f'{x:.4f}' for x in r)} | {r.mean():.4f} ± {r.std():.4f} | {s.mean():.2f} | "
              f"{b_rmse / r.mean():.3f} | {b_time / s.mean():.2f} |")
    if args.json:
        args.json.write_text(json.dumps({k: {"rmse": [x for x, _ in v], "seconds": [x for _, x in v]} for k, v in rows.items()}, indent=2))


if __name__ == "__main__":
    main()
