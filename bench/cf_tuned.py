"""CF settings chosen the honest way, for embedsearch and its peers alike (issue 19).

For each official MovieLens 100K fold u1..u5, a validation split (10% of the fold's
training ratings, seeded by the fold) is carved from the training data; every setting of
each model's grid is trained on the rest and scored on the validation split; the best
setting is then trained on the whole training data and scored once on the fold's test
ratings, which nothing else ever sees. Every model gets the same budget: GRID_SIZE
settings. Surprise's SVD and SVD++ are tuned with its own GridSearchCV over the usual
parameters (n_factors, lr_all, reg_all), given the same validation split as its cv.

Peers run where they import (install scikit-surprise in a separate environment, as for
bench/cf_bench.py):

    PYTHONPATH=. /work/bench-venv/bin/python bench/cf_tuned.py --json /tmp/cf_tuned.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embedsearch.cf.data import OFFICIAL_FOLDS, load_dataset  # noqa: E402
from embedsearch.cf.metrics import rmse  # noqa: E402
from embedsearch.cf.train import TrainOptions, fit, predict  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ml-100k"
VALID_SHARE = 0.1
GRID_SIZE = 8  # settings each model may try per fold
OURS = [dict(factors=f, wd=w, lr=lr) for f, w, lr in itertools.product((50, 100), (0.05, 0.15), (3e-3, 5e-3))]
SVD = {"n_factors": [50, 100], "lr_all": [0.005, 0.01], "reg_all": [0.02, 0.1], "n_epochs": [20], "random_state": [0]}
SVDPP = {"n_factors": [10, 20], "lr_all": [0.005, 0.01], "reg_all": [0.02, 0.1], "n_epochs": [20], "random_state": [0]}
assert len(OURS) == GRID_SIZE and all(np.prod([len(v) for v in g.values()]) == GRID_SIZE for g in (SVD, SVDPP))


def validation_split(n: int, fold: str) -> np.ndarray:
    """A boolean mask of the training rows held out for validation (seeded by the fold)."""
    rng = np.random.default_rng(OFFICIAL_FOLDS.index(fold))
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=int(round(n * VALID_SHARE)), replace=False)] = True
    return mask


def ours(data: Path) -> list[dict]:
    ds = load_dataset(data)
    out = []
    for fold in OFFICIAL_FOLDS:
        train, test = ds.fold(fold)
        held = validation_split(len(train.ratings), fold)
        sub, val = train.subset(~held), train.subset(held)
        scores = []
        for setting in OURS:
            res = fit(sub, None, TrainOptions(**setting), top_n=False)
            scores.append(rmse(predict(res.model, val), val.ratings))
        best = OURS[int(np.argmin(scores))]
        t = time.perf_counter()
        res = fit(train, None, TrainOptions(**best), top_n=False)
        seconds = time.perf_counter() - t
        out.append({"fold": fold, "best": best, "valid_rmse": min(scores), "rmse": rmse(predict(res.model, test), test.ratings),
                    "seconds": seconds})
        print(f"embedsearch {fold}: {out[-1]}", file=sys.stderr, flush=True)
    return out


def surprise_tuned(data: Path, algo_name: str) -> list[dict]:
    from surprise import SVD as SurpriseSVD
    from surprise import Dataset, Reader, SVDpp, accuracy
    from surprise.model_selection import GridSearchCV, PredefinedKFold

    algo_class, grid = (SurpriseSVD, SVD) if algo_name == "svd" else (SVDpp, SVDPP)
    reader = Reader("ml-100k")
    out = []
    for fold in OFFICIAL_FOLDS:
        lines = (data / f"{fold}.base").read_text().splitlines()
        held = validation_split(len(lines), fold)
        with tempfile.TemporaryDirectory() as tmp:
            sub, val = Path(tmp) / "sub", Path(tmp) / "val"
            sub.write_text("\n".join(line for line, h in zip(lines, held) if not h) + "\n")
            val.write_text("\n".join(line for line, h in zip(lines, held) if h) + "\n")
            search = GridSearchCV(algo_class, grid, measures=["rmse"], cv=PredefinedKFold(), refit=False, n_jobs=1)
            search.fit(Dataset.load_from_folds([(str(sub), str(val))], reader))
        best = search.best_params["rmse"]
        d = Dataset.load_from_folds([(str(data / f"{fold}.base"), str(data / f"{fold}.test"))], reader)
        trainset, testset = next(iter(PredefinedKFold().split(d)))
        algo = algo_class(**best)
        t = time.perf_counter()
        algo.fit(trainset)
        seconds = time.perf_counter() - t
        out.append({"fold": fold, "best": best, "valid_rmse": float(search.best_score["rmse"]),
                    "rmse": accuracy.rmse(algo.test(testset), verbose=False), "seconds": seconds})
        print(f"{algo_name} {fold}: {out[-1]}", file=sys.stderr, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--peers", default="svd,svdpp", help="comma-separated: svd, svdpp")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    rows = {"embedsearch (bias), tuned": ours(args.data)}
    for key, label in (("svd", "Surprise SVD, tuned"), ("svdpp", "Surprise SVD++, tuned")):
        if key in args.peers.split(","):
            try:
                rows[label] = surprise_tuned(args.data, key)
            except ImportError as exc:
                print(f"skipping {label}: {exc}", file=sys.stderr)
    base = np.mean([r["rmse"] for r in rows["embedsearch (bias), tuned"]])
    print(f"| model ({GRID_SIZE} settings a fold, chosen on validation) | test RMSE per fold u1..u5 | "
          "mean ± std | settings chosen | our RMSE ÷ theirs |")
    print("|---|---|---|---|---|")
    for label, res in rows.items():
        r = np.array([x["rmse"] for x in res])
        chosen = sorted({json.dumps({k: v for k, v in x["best"].items() if k != "random_state"}) for x in res})
        print(f"| {label} | {' '.join(f'{x:.4f}' for x in r)} | {r.mean():.4f} ± {r.std():.4f} | "
              f"{'; '.join(chosen)} | {base / r.mean():.3f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=float))


if __name__ == "__main__":
    main()
