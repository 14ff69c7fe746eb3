"""Search quality levers, measured the CodeSearchNet way (see `embedsearch eval codesearch`).

For each corpus: plain dense search (the baseline: code as-is, cosine) and each lever
alone and together, as MRR@10 / Recall@1 / Recall@10 and the ratio of MRR@10 to the
baseline measured in the same run. Indexes are kept under --home with the corpus name, so
a second run embeds nothing.

    .venv/bin/python bench/search_quality.py --home /tmp/quality-home \\
        stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])') \\
        click=.venv/lib/python3.11/site-packages/click ...
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from embedsearch.evaluate.codesearch import BASELINE, DEFAULT, Method, evaluate  # noqa: E402
from embedsearch.codeindex.indexing import LEXICAL_WEIGHT  # noqa: E402
from embedsearch.codeindex.representation import NAMED, SUMMARISED  # noqa: E402

METHODS = (
    BASELINE,
    Method("named + BM25 (fused)", NAMED, LEXICAL_WEIGHT, clean_queries=True, fold_nested=True),
    Method("named + BM25, re-ranked", NAMED, LEXICAL_WEIGHT, clean_queries=True, fold_nested=True, rerank=True),
    Method("summarised, dense only", SUMMARISED, 0.0),
    Method("summarised + BM25 (fused)", SUMMARISED, LEXICAL_WEIGHT, clean_queries=True, fold_nested=True),
    Method("default without the query adapter", SUMMARISED, LEXICAL_WEIGHT, clean_queries=True, fold_nested=True,
           rerank=True, adapt=False),
    DEFAULT,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="+", help="LABEL=PATH")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--keep-seen", action="store_true",
                        help="Keep queries that are verbatim training or validation docstrings of the re-ranker "
                             "(by default the leakage guard, bench/leakage.py, leaves them out).")
    args = parser.parse_args()
    from leakage import seen_texts
    from embedsearch.evaluate.codesearch import docstring_texts

    seen = frozenset() if args.keep_seen else frozenset(seen_texts())
    print("| corpus | method | queries | candidates | MRR@10 | Recall@1 | Recall@10 | MRR vs baseline |")
    print("|---|---|---|---|---|---|---|---|")
    pooled: dict[str, list[float]] = {}
    for spec in args.corpora:
        label, path = spec.split("=", 1)
        if seen:
            dropped = len(docstring_texts([path]) & seen)
            print(f"<!-- {label}: {dropped} docstring(s) left out as seen in training or validation -->", flush=True)
        reports = evaluate([path], home=args.home, index_name=f"q-{label}", methods=METHODS, exclude_texts=seen)
        base = reports[0].mrr_at_10
        for r in reports:
            print(f"| {label} | {r.method} | {r.queries} | {r.candidates} | {r.mrr_at_10:.3f} | "
                  f"{r.recall_at_1:.3f} | {r.recall_at_10:.3f} | {r.mrr_at_10 / base:.2f}× |", flush=True)
            acc = pooled.setdefault(r.method, [0, 0.0, 0.0, 0.0])
            for j, x in enumerate((1, r.mrr_at_10, r.recall_at_1, r.recall_at_10)):
                acc[j] += x * r.queries
    first = None
    for method, (n, mrr, r1, r10) in pooled.items():
        first = first or mrr / n
        print(f"| **all together** | {method} | {n:.0f} | | {mrr / n:.3f} | {r1 / n:.3f} | {r10 / n:.3f} | "
              f"{mrr / n / first:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
