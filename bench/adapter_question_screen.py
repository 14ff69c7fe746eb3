"""Screen (dev questions only): does fitting the query adapter on questions as well as on
docstrings help questions? Leave-one-code-base-out on bench/questions/dev: the adapter is fit
on the docstring pairs of bench/fit_query_adapter.py plus the dev questions of the other
code bases (repeated so that they carry `--question-share` of the queries), and scored on the
left-out code base's questions (dense, fused, re-ranked with the shipped weights) and on the
docstring validation corpus. The test part and the held-out packages are never read.

    .venv/bin/python bench/adapter_question_screen.py --home /tmp/qhome --packages /tmp/qpkgs-pinned
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from fit_query_adapter import docstring_corpus, fit, mrr_dense, mrr_fused, training_corpora  # noqa: E402


def main() -> None:
    from fit_query_adapter import question_corpus
    from leakage import training_texts
    from questions_bench import part_corpus
    from train_reranker import STDLIB, VALIDATE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--packages", type=Path, default=Path("/tmp/embedsearch-bench-packages"))
    parser.add_argument("--question-share", type=float, nargs="+", default=[0.1, 0.25])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        docs = training_corpora(args.home, Path(tmp))
        seen = training_texts()
        valid = [docstring_corpus(p, [STDLIB / p], args.home, Path(tmp), exclude=seen) for p in VALIDATE]
    dev = question_corpus(args.home, args.packages)
    _, _, members = part_corpus("dev", args.packages)
    n_docs = sum(len(c.qv) for c in docs)
    print("| adapter fit on | left out | its questions | dense | fused | re-ranked | docstring validation dense |")
    print("|---|---|---|---|---|---|---|")
    for left, rows in members.items():
        held = dev.subset(rows, left)
        print(f"| nothing (no adapter) | {left} | {len(rows)} | {mrr_dense(held, None):.4f} | "
              f"{mrr_fused(held, None):.4f} | {mrr_fused(held, None, True):.4f} | |", flush=True)
    for share in [0.0] + list(args.question_share):
        for left, rows in members.items():
            others = [i for k, idx in members.items() if k != left for i in idx]
            train = list(docs)
            if share > 0:
                repeat = max(1, round(share * n_docs / ((1 - share) * len(others))))
                train += [dev.subset(others, "dev questions")] * repeat
            W = fit(train, 1.0, 0.05, 10)
            held = dev.subset(rows, left)
            vd = np.average([mrr_dense(c, W) for c in valid], weights=[len(c.qv) for c in valid])
            print(f"| docstrings + questions at share {share} | {left} | {len(rows)} | {mrr_dense(held, W):.4f} | "
                  f"{mrr_fused(held, W):.4f} | {mrr_fused(held, W, True):.4f} | {vd:.4f} |", flush=True)


if __name__ == "__main__":
    main()
