"""Where a server's warm query spends its time, and BM25 from FTS5 against BM25 held in memory.

In one process, on one index (a `serving.Workspace`, as `embedsearch serve` keeps it):

1. for every question of bench/questions: FTS5's BM25 top 100 and bm25.Postings' top 100,
   their largest score difference, whether the rows come in the same order, and the mean
   time of each;
2. the mean time of each part of a warm search (encoding, candidates, re-ranking, folding,
   reading hits) over the same questions, once the postings are held.

    .venv/bin/python bench/warm_query_parts.py --home /tmp/stdhome --name stdlib
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.serve_bench import questions  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", required=True)
    ap.add_argument("--name", required=True)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import embedsearch.codeindex.search as S
    from embedsearch.codeindex.representation import lexical_terms
    from embedsearch.serving import Workspace

    qs = questions()
    ws = Workspace(args.home)
    ix = ws.index(args.name)
    for q in qs[:10]:
        ws.search(args.name, q)
    while ix._postings is None:  # the background read of the postings
        time.sleep(0.2)
    held, ix._postings = ix._postings, None
    fts_time = held_time = 0.0
    worst, reordered, asked = 0.0, 0, 0
    for q in qs:
        terms = lexical_terms(q)
        if not terms:
            continue
        asked += 1
        t0 = time.perf_counter()
        a = ix.lexical(terms, 100)
        t1 = time.perf_counter()
        b = held.search(terms, 100)
        held_time += time.perf_counter() - t1
        fts_time += t1 - t0
        worst = max([worst] + [abs(x[1] - y[1]) for x, y in zip(a, b)] + ([float("inf")] if len(a) != len(b) else []))
        reordered += [i for i, _ in a] != [i for i, _ in b]
    print(f"BM25 top 100 of {asked} questions: FTS5 {fts_time / asked * 1000:.2f} ms, held "
          f"{held_time / asked * 1000:.2f} ms a query; largest score difference {worst:.2g}; "
          f"{reordered} with rows in another order")
    ix._postings = held

    parts: dict[str, float] = {}

    def timed(name: str):
        f = getattr(S, name)

        def g(*a, **k):
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                parts[name] = parts.get(name, 0.0) + time.perf_counter() - t
        setattr(S, name, g)

    encoder = ws.encoder(ix)
    for name in ("candidates", "rerank_candidates", "fold_nested", "_hits"):
        timed(name)
    total = encode = 0.0
    for q in qs:
        t0 = time.perf_counter()
        encoder.encode([q])
        t1 = time.perf_counter()
        ws.search(args.name, q)
        total += time.perf_counter() - t1
        encode += t1 - t0
    n = len(qs)
    print(f"warm search, {n} questions, mean {total / n * 1000:.1f} ms: encoding {encode / n * 1000:.1f} ms, "
          + ", ".join(f"{k.strip('_')} {v / n * 1000:.1f} ms" for k, v in parts.items()))


if __name__ == "__main__":
    main()
