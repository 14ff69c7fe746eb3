"""What `cf train` does end to end: load ratings, split, train, measure, save.

Kept apart from train.py (which knows only tensors and options) so the CLI calls one
function and the same steps are testable without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedsearch.cf.data import OFFICIAL_FOLDS, load_dataset, random_split
from embedsearch.cf.saved import DEFAULT_NAME, save_model
from embedsearch.cf.train import Epoch, TrainOptions, fit
from embedsearch.errors import EmbedsearchError
from embedsearch.home import check_name

METRIC_KEYS = ("rmse", "mae", "precision_at_k", "recall_at_k", "ndcg_at_k", "train_seconds")


@dataclass
class TrainRequest:
    """The `cf train` command line, as data."""

    data: str = "ml-100k"
    items: str | None = None
    split: str = "random"  # "random" or one of u1..u5
    valid_pct: float = 0.2
    folds: bool = False
    name: str = DEFAULT_NAME
    options: TrainOptions = field(default_factory=TrainOptions)


def train_and_save(
    home: Path,
    request: TrainRequest,
    on_epoch: Callable[[str, Epoch], None] | None = None,
) -> dict:
    """Train as requested and save under home/name; returns the metrics report.

    With `folds`, trains on each official fold u1..u5 and reports every fold and their
    mean and standard deviation; the model then saved is trained on all ratings (so it
    has seen everything), and carries the cross-validation metrics.
    `on_epoch(label, row)` is called after every epoch (label: the fold or split name).
    """
    opts = request.options
    opts.check()
    check_name(request.name, "model")  # before minutes of training, not at the save
    if request.split != "random" and request.split not in OFFICIAL_FOLDS:
        raise EmbedsearchError(f"unknown split {request.split!r}; use random or one of {', '.join(OFFICIAL_FOLDS)}")
    dataset = load_dataset(request.data, request.items, opts.y_range)
    cb = (lambda label: (lambda row: on_epoch(label, row))) if on_epoch else (lambda label: None)
    report: dict = {
        "data": dataset.source, "model": opts.model, "options": opts.as_dict(),
        "n_users": len(dataset.ratings.user_keys), "n_items": len(dataset.ratings.item_keys),
        "n_ratings": len(dataset.ratings),
    }
    if request.folds:
        per_fold = {}
        for fold in OFFICIAL_FOLDS:
            train, valid = dataset.fold(fold)
            per_fold[fold] = fit(train, valid, opts, cb(fold)).metrics
        report["split"] = "folds u1-u5"
        report["folds"] = per_fold
        report["mean"] = {k: float(np.mean([m[k] for m in per_fold.values()])) for k in METRIC_KEYS}
        report["std"] = {k: float(np.std([m[k] for m in per_fold.values()])) for k in METRIC_KEYS}
        result = fit(dataset.ratings, None, opts, cb("all"), top_n=False)
        metrics = {"folds": per_fold, "mean": report["mean"], "std": report["std"]}
    else:
        if request.split == "random":
            train, valid = random_split(dataset.ratings, request.valid_pct, opts.seed)
            report["split"] = f"random {request.valid_pct:.0%} (seed {opts.seed})"
        else:
            train, valid = dataset.fold(request.split)
            report["split"] = f"official {request.split}"
        result = fit(train, valid, opts, cb(request.split))
        report["history"] = [vars(e) for e in result.history]
        metrics = result.metrics
        report["metrics"] = metrics
        baseline = float(np.sqrt(np.mean((valid.ratings - train.ratings.mean()) ** 2)))
        report["metrics"]["global_mean_rmse"] = baseline
    path = save_model(home, request.name, result.model, {**opts.as_dict(), "split": report["split"]}, metrics,
                      dataset.source, dataset.ratings)
    report["saved"] = str(path)
    return report
