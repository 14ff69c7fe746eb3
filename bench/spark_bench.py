"""Spark against the single-process paths, measured in one run (issue 17's targets).

    als      ALS (`cf train --engine spark`) and the PyTorch bias model (the tool's defaults)
             on the official MovieLens 100K folds u1..u5: test RMSE per fold
    als_tuned  ALS with rank and regParam chosen on a validation split of each fold's
             training ratings (the test ratings choose nothing)
    encode   `index --engine spark` over a corpus in local[1] and local[2] (job time, the
             JVM's start left out), and its vectors against `index` here: cosine of each
             chunk's two vectors, and the top 10 of a query set on both indexes
    shards   `index --from-parquet --shards N` for N = 1, 2, 4: cold `search` time (a new
             process each, interleaved) and whether the top 10 equals N = 1's (dense, exact)

    .venv/bin/python bench/spark_bench.py als encode shards --corpus $STDLIB/email $STDLIB/json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "ml-100k"
EXE = str(Path(sys.executable).with_name("embedsearch"))
QUERIES = ["parse an email address", "encode a header with a charset", "serialize an object to JSON",
           "decode a JSON document", "split a message into parts", "format a date for an email header",
           "pretty print with indentation", "read a mime message from a file"]


def als(args) -> None:
    from embedsearch.cf.data import OFFICIAL_FOLDS, load_dataset
    from embedsearch.cf.metrics import rmse
    from embedsearch.cf.spark import SparkOptions, train_spark
    from embedsearch.cf.train import TrainOptions, fit, predict

    ds = load_dataset(DATA)
    torch_rmse, als_rmse = [], []
    with tempfile.TemporaryDirectory() as home:
        for fold in OFFICIAL_FOLDS:
            train, test = ds.fold(fold)
            model = fit(train, None, TrainOptions(), top_n=False).model
            torch_rmse.append(rmse(predict(model, test), test.ratings))
            report = train_spark(home, str(DATA), None, fold, 0.2, False, f"als-{fold}",
                                 SparkOptions(factors=args.rank, epochs=args.iters, reg=args.reg))
            als_rmse.append(report["metrics"]["rmse"])
            print(f"{fold}: PyTorch bias {torch_rmse[-1]:.4f}, ALS {als_rmse[-1]:.4f} "
                  f"({report['metrics']['train_seconds']:.1f} s)", flush=True)
    print(f"mean over u1-u5: PyTorch bias {np.mean(torch_rmse):.4f} ± {np.std(torch_rmse):.4f}, "
          f"ALS (rank {args.rank}, reg {args.reg}, {args.iters} iterations) {np.mean(als_rmse):.4f} ± "
          f"{np.std(als_rmse):.4f}; difference {np.mean(als_rmse) - np.mean(torch_rmse):+.4f}", flush=True)


def als_tuned(args) -> None:
    """ALS with its settings chosen on validation, as bench/cf_tuned.py chooses the PyTorch
    model's: per fold, 10% of the training ratings (seeded by the fold) held out, every
    setting of a 6-point grid trained on the rest, the best retrained on all the fold's
    training ratings and scored once on its test ratings."""
    from pyspark.ml.evaluation import RegressionEvaluator

    from embedsearch.cf.data import OFFICIAL_FOLDS, read_items_file
    from embedsearch.cf.spark import SparkOptions, _als, key_ratings, key_ratings_with, read_ratings, session

    grid = [(rank, reg) for rank in (20, 50) for reg in (0.05, 0.1, 0.15)]
    spark = session("local[2]")
    try:
        titles = read_items_file(DATA / "u.item")
        keyed = key_ratings(spark, read_ratings(spark, str(DATA / "u.data"), (0.0, 5.5)), titles)
        scores, chosen = [], []
        for n, fold in enumerate(OFFICIAL_FOLDS):
            train = key_ratings_with(spark, read_ratings(spark, str(DATA / f"{fold}.base"), (0.0, 5.5)), keyed).cache()
            test = key_ratings_with(spark, read_ratings(spark, str(DATA / f"{fold}.test"), (0.0, 5.5)), keyed).cache()
            fit_part, valid = train.randomSplit([0.9, 0.1], seed=n)
            rmse = RegressionEvaluator(metricName="rmse", labelCol="rating")
            results = {}
            for rank, reg in grid:
                model = _als(SparkOptions(factors=rank, reg=reg, epochs=args.iters)).fit(fit_part)
                results[(rank, reg)] = rmse.evaluate(model.transform(valid))
            best = min(results, key=results.get)
            final = _als(SparkOptions(factors=best[0], reg=best[1], epochs=args.iters)).fit(train)
            scores.append(rmse.evaluate(final.transform(test)))
            chosen.append(best)
            print(f"{fold}: chosen rank {best[0]}, reg {best[1]} (validation RMSE {results[best]:.4f}); "
                  f"test RMSE {scores[-1]:.4f}", flush=True)
    finally:
        spark.stop()
    print(f"ALS, settings chosen on validation: {np.mean(scores):.4f} ± {np.std(scores):.4f} over u1-u5", flush=True)


def encode(args) -> None:
    from embedsearch.spark import encode_corpus

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        t = time.perf_counter()
        subprocess.run([EXE, "--home", str(home), "index", *args.corpus, "--name", "local"], check=True,
                       stdout=subprocess.DEVNULL)
        local_s = time.perf_counter() - t
        times = {}
        for master in ("local[1]", "local[2]", "local[1]", "local[2]"):
            out = Path(tmp) / f"ds-{master[6]}-{len(times)}"
            report = encode_corpus(home, args.corpus, str(out), master=master)
            times.setdefault(master, []).append(report["seconds"])
            print(f"{master}: {report['chunks']} chunks in {report['seconds']:.1f} s (listing, chunking, encoding, "
                  "writing; Spark's start included)", flush=True)
        best = {m: min(v) for m, v in times.items()}
        print(f"index here (one process, ONNX): {local_s:.1f} s; Spark local[1] {best['local[1]']:.1f} s, local[2] "
              f"{best['local[2]']:.1f} s: local[2] is {best['local[1]'] / best['local[2]']:.2f}x local[1]", flush=True)
        subprocess.run([EXE, "--home", str(home), "index", "--name", "spark", "--from-parquet", str(out)], check=True,
                       stdout=subprocess.DEVNULL)
        from embedsearch.store import Index

        with Index(home, "local") as a, Index(home, "spark") as b:
            ka = {(i.path, i.start_line, i.end_line, i.name): n for n, i in enumerate(a.items(list(range(a.count))))}
            kb = {(i.path, i.start_line, i.end_line, i.name): n for n, i in enumerate(b.items(list(range(b.count))))}
            common = sorted(set(ka) & set(kb))
            va, vb = np.asarray(a.vectors), np.asarray(b.vectors)
            cos = np.array([float(va[ka[c]] @ vb[kb[c]]) for c in common])
        print(f"vectors: {len(common)} chunks in both of {len(ka)} / {len(kb)}; cosine min {cos.min():.6f}, "
              f"mean {cos.mean():.6f}", flush=True)
        same = 0
        for q in QUERIES:
            tops = []
            for name in ("local", "spark"):
                res = subprocess.run([EXE, "--home", str(home), "search", name, q, "-k", "10", "--json"], check=True,
                                     capture_output=True, text=True).stdout.splitlines()
                tops.append([(json.loads(x)["path"], json.loads(x)["start_line"]) for x in res])
            same += tops[0] == tops[1]
        print(f"top 10 identical for {same} of {len(QUERIES)} queries", flush=True)


def shards(args) -> None:
    from embedsearch.spark import encode_corpus

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        out = Path(tmp) / "ds"
        encode_corpus(home, args.corpus, str(out))
        for n in (1, 2, 4):
            subprocess.run([EXE, "--home", str(home), "index", "--name", f"s{n}", "--from-parquet", str(out),
                            "--shards", str(n)], check=True, stdout=subprocess.DEVNULL)
        times: dict[int, list[float]] = {1: [], 2: [], 4: []}
        answers: dict[int, list] = {1: [], 2: [], 4: []}
        for q in QUERIES * 2:
            for n in (1, 2, 4):
                t = time.perf_counter()
                res = subprocess.run([EXE, "--home", str(home), "search", f"s{n}", q, "-k", "10", "--dense", "--exact",
                                      "--json"], check=True, capture_output=True, text=True).stdout.splitlines()
                times[n].append(time.perf_counter() - t)
                answers[n].append([(json.loads(x)["path"], json.loads(x)["start_line"]) for x in res])
        for n in (1, 2, 4):
            same = sum(a == b for a, b in zip(answers[n], answers[1]))
            print(f"{n} shard(s): cold search median {statistics.median(times[n]) * 1000:.0f} ms over "
                  f"{len(times[n])} runs; top 10 identical to 1 shard for {same} of {len(answers[n])}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="+", choices=["als", "als_tuned", "encode", "shards"])
    ap.add_argument("--corpus", nargs="+", default=[])
    ap.add_argument("--rank", type=int, default=50)
    ap.add_argument("--reg", type=float, default=0.1)
    ap.add_argument("--iters", type=int, default=10)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    for part in args.parts:
        if part in ("encode", "shards") and not args.corpus:
            raise SystemExit(f"{part} needs --corpus PATHS")
        globals()[part](args)


if __name__ == "__main__":
    main()
