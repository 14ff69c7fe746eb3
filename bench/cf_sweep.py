"""Settings sweep for `cf train`: mean test RMSE over the official folds for each setting.

Each argument is one setting, comma-separated key=value pairs of TrainOptions, e.g.

    PYTHONPATH=. /work/main/.venv/bin/python bench/cf_sweep.py "bias_init=10" "bias_init=10,wd=0.2"

prints `settings -> per-fold RMSE, mean ± std, s/fold` and appends it as JSON to --log.
Settings are compared on the five folds' test sets (as bench/README.md records); nothing
is early-stopped or selected on a test fold within a run.
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


def parse(text: str) -> dict:
    out = {}
    for pair in filter(None, text.split(",")):
        k, v = pair.split("=")
        default = getattr(TrainOptions(), k)
        out[k] = tuple(float(x) for x in v.split(":")) if isinstance(default, tuple) else type(default)(v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("settings", nargs="+")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "ml-100k")
    ap.add_argument("--folds", default=",".join(OFFICIAL_FOLDS))
    ap.add_argument("--log", type=Path, default=Path("/tmp/cf_sweep.jsonl"))
    args = ap.parse_args()
    ds = load_dataset(args.data)
    folds = args.folds.split(",")
    for setting in args.settings:
        opts = TrainOptions(**parse(setting))
        r, s = [], []
        for fold in folds:
            train, test = ds.fold(fold)
            res = fit(train, test, opts, top_n=False)
            r.append(rmse(predict(res.model, test), test.ratings))
            s.append(res.seconds)
        line = f"{setting or 'defaults'} [{','.join(folds)}] -> {' '.join(f'{x:.4f}' for x in r)} | {np.mean(r):.4f} ± {np.std(r):.4f} | {np.mean(s):.1f} s/fold"
        print(line, flush=True)
        with open(args.log, "a") as f:
            f.write(json.dumps({"setting": setting, "folds": folds, "rmse": r, "seconds": s, "time": time.time()}) + "\n")


if __name__ == "__main__":
    main()
