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
import shutil
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
    """Per official fold: the PyTorch bias model (the tool's defaults), ALS around fitted
    biases (`cf train --engine spark`, its defaults) and plain ALS (`--model dot`)."""
    from embedsearch.cf.data import OFFICIAL_FOLDS, load_dataset
    from embedsearch.cf.metrics import rmse
    from embedsearch.cf.spark import SparkOptions, train_spark
    from embedsearch.cf.train import TrainOptions, fit, predict

    ds = load_dataset(DATA)
    got: dict[str, list[float]] = {"PyTorch bias": [], "ALS + biases": [], "plain ALS": []}
    with tempfile.TemporaryDirectory() as home:
        for fold in OFFICIAL_FOLDS:
            train, test = ds.fold(fold)
            model = fit(train, None, TrainOptions(), top_n=False).model
            got["PyTorch bias"].append(rmse(predict(model, test), test.ratings))
            seconds = []
            for label, biases in (("ALS + biases", True), ("plain ALS", False)):
                opts = SparkOptions(factors=args.rank, epochs=args.iters, reg=args.reg, biases=biases)
                report = train_spark(home, str(DATA), None, fold, 0.2, False, f"als-{fold}", opts)
                got[label].append(report["metrics"]["rmse"])
                seconds.append(f"{report['metrics']['train_seconds']:.1f} s")
            print(f"{fold}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in got.items()) + f" (ALS fits {', '.join(seconds)})",
                  flush=True)
    base = np.mean(got["PyTorch bias"])
    print("mean over u1-u5: " + ", ".join(f"{k} {np.mean(v):.4f} ± {np.std(v):.4f}" for k, v in got.items())
          + f"; ALS + biases {np.mean(got['ALS + biases']) - base:+.4f}, plain ALS "
          f"{np.mean(got['plain ALS']) - base:+.4f} against PyTorch (rank {args.rank}, {args.iters} iterations, "
          f"regParam {SparkOptions(reg=args.reg).reg} and {SparkOptions(reg=args.reg, biases=False).reg})", flush=True)


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


def als_dev(args) -> None:
    """What the biased ALS's defaults were chosen on: 10% of u1.base held out (seed 0),
    each setting trained on the rest; no fold's test ratings are read. First the bias
    shrinkage (pseudo-ratings; none = plain ALS) against ALS's regParam at rank 50 and 10
    iterations, then the rounds of bias alternation, then rank × iterations × regParam
    with and without biases (bias shrinkage 5)."""
    from pyspark.ml.evaluation import RegressionEvaluator

    from embedsearch.cf import spark as S
    from embedsearch.cf.data import read_items_file

    spark = S.session("local[2]")
    try:
        keyed = S.key_ratings(spark, S.read_ratings(spark, str(DATA / "u.data"), (0.0, 5.5)),
                              read_items_file(DATA / "u.item"))
        base = S.key_ratings_with(spark, S.read_ratings(spark, str(DATA / "u1.base"), (0.0, 5.5)), keyed)
        fit_part, valid = (f.cache() for f in base.randomSplit([0.9, 0.1], seed=0))
        rmse = RegressionEvaluator(metricName="rmse", labelCol="rating")

        def score(rank=50, iters=10, reg=0.1, bias_reg=S.BIAS_REG, biases=True, rounds=S.BIAS_ROUNDS) -> float:
            opts = S.SparkOptions(factors=rank, epochs=iters, reg=reg, biases=biases, bias_reg=bias_reg)
            return rmse.evaluate(S.fit(opts, fit_part, rounds).predict(valid))

        for bias_reg in (None, 0.0, 2.0, 5.0, 10.0, 25.0):
            for reg in (0.05, 0.1, 0.2):
                got = score(reg=reg, bias_reg=bias_reg or 0.0, biases=bias_reg is not None)
                print(f"bias_reg {'none (plain ALS)' if bias_reg is None else bias_reg}, reg {reg}: "
                      f"validation RMSE {got:.4f}", flush=True)
        for rounds in (1, 2, 3, 5):
            print(f"{rounds} round(s) of bias alternation: validation RMSE {score(rounds=rounds):.4f}", flush=True)
        for rank in (10, 20, 50):
            for iters in (10, 20):
                for reg in (0.1, 0.15, 0.2):
                    print(f"rank {rank}, {iters} iterations, reg {reg}: validation RMSE with biases "
                          f"{score(rank, iters, reg):.4f}, plain ALS {score(rank, iters, reg, biases=False):.4f}",
                          flush=True)
    finally:
        spark.stop()


def _peak_kib(pid: int) -> int:
    """VmHWM (peak resident set, KiB) of a live process, 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _java_children(pid: int) -> list[int]:
    """The JVMs a pyspark driver started (descendants named java: Spark's launcher briefly,
    then the JVM that runs the job)."""
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            kids.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    todo, out = list(kids.get(pid, [])), []
    while todo:
        p = todo.pop()
        try:
            if Path(f"/proc/{p}/comm").read_text().strip() == "java":
                out.append(p)
        except OSError:
            pass
        todo += kids.get(p, [])
    return out


def synthetic_ratings(spark, rows: int, path: Path, users: int, items: int, rank: int = 8, seed: int = 0) -> None:
    """`rows` ratings of a known low-rank model written as Parquet by the executors (no row
    passes through the driver): 3.5 + user bias + item bias + u·v + noise (sd 0.5), rounded
    and clipped to 1..5; user and item drawn uniformly (pairs may repeat)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    model = (rng.normal(0, 0.5, (users, rank)) / np.sqrt(rank) * 2, rng.normal(0, 0.5, (items, rank)),
             rng.normal(0, 0.3, users), rng.normal(0, 0.4, items))
    shared = spark.sparkContext.broadcast(model)

    def draw(batches):
        U, V, bu, bi = shared.value
        for pdf in batches:
            ids = pdf["id"].to_numpy()
            r = np.random.default_rng([seed, int(ids[0])])
            u, i = r.integers(0, len(U), len(ids)), r.integers(0, len(V), len(ids))
            y = 3.5 + bu[u] + bi[i] + (U[u] * V[i]).sum(axis=1) + r.normal(0, 0.5, len(ids))
            yield pd.DataFrame({"user": u, "item": i, "rating": np.clip(np.rint(y), 1, 5)})

    (spark.range(rows, numPartitions=max(2, rows // 500_000))
     .mapInPandas(draw, "user long, item long, rating double").write.mode("overwrite").parquet(str(path)))


def cf_scale(args) -> None:
    """`cf train --engine spark` on synthetic ratings of each size in --rows (users and
    items fixed, so only the ratings grow), each in a process of its own: seconds per ALS
    iteration, held-out RMSE, and the peak resident memory of the driver (the Python
    process) and of the JVM (in local mode it runs the executors too, so it grows with
    the data; on a cluster that part is the executors')."""
    from embedsearch.cf import spark as S

    work = Path(tempfile.mkdtemp(prefix="cf-scale-"))
    spark = S.session("local[2]")
    try:
        for rows in args.rows:
            synthetic_ratings(spark, rows, work / f"ratings-{rows}.parquet", args.users, args.items)
    finally:
        spark.stop()
    env = {**os.environ, "PYSPARK_SUBMIT_ARGS": f"--driver-memory {args.driver_memory} pyspark-shell"}
    for rows in args.rows:
        cmd = [EXE, "--home", str(work / "home"), "cf", "train", "--engine", "spark", "--data",
               str(work / f"ratings-{rows}.parquet"), "--factors", str(args.rank), "--epochs", str(args.iters),
               "--valid-pct", "0.1", "--name", f"synthetic-{rows}", "--json"]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        driver = jvm = 0
        while proc.poll() is None:
            driver = max(driver, _peak_kib(proc.pid))
            for java in _java_children(proc.pid):
                jvm = max(jvm, _peak_kib(java))
            time.sleep(0.5)
        wall = time.perf_counter() - started
        out = proc.stdout.read()
        if proc.returncode != 0:
            raise SystemExit(f"cf train failed on {rows:,} rows: {out[-500:]}")
        m = json.loads(out.splitlines()[-1])["metrics"]
        print(f"{rows:,} ratings ({args.users:,} users, {args.items:,} items), rank {args.rank}, {args.iters} "
              f"iterations: {m['train_seconds'] / args.iters:.2f} s per iteration (fit {m['train_seconds']:.1f} s, "
              f"biases included); held-out RMSE {m['rmse']:.4f}; whole command {wall:.0f} s; peak memory: "
              f"driver (Python) {driver / 1024:.0f} MiB, JVM {jvm / 1024:.0f} MiB", flush=True)
    shutil.rmtree(work, ignore_errors=True)


def als_blas(args) -> None:
    """`cf train --engine spark --split u1` (ALS around biases, the defaults), each run in
    a process of its own, alternating: Spark's netlib with the system's BLAS/LAPACK (Debian
    libblas3/liblapack3, when installed) and with it told to load none (its Java fallback):
    the fit time each reports (the JVM's start left out)."""
    java_only = ("-Ddev.ludovic.netlib.blas.nativeLib=none -Ddev.ludovic.netlib.lapack.nativeLib=none "
                 "-Ddev.ludovic.netlib.arpack.nativeLib=none")
    fits: dict[str, list[float]] = {"system BLAS": [], "Java BLAS": []}
    said: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as home:
        for _ in range(args.trials):
            for label in fits:
                env = dict(os.environ)
                if label == "Java BLAS":
                    env["PYSPARK_SUBMIT_ARGS"] = f'--driver-java-options "{java_only}" pyspark-shell'
                r = subprocess.run([EXE, "--home", home, "cf", "train", "--engine", "spark", "--data", str(DATA),
                                    "--split", "u1", "--name", "blas", "--json"], env=env, capture_output=True,
                                   text=True, check=True)
                fits[label].append(json.loads(r.stdout.splitlines()[-1])["metrics"]["train_seconds"])
                said[label] = [line for line in r.stderr.splitlines() if "netlib" in line.lower()][:2]
    for label, lines in said.items():
        print(f"{label}: netlib said {lines or 'nothing (native libraries loaded)'}", flush=True)
    for label, v in fits.items():
        print(f"{label}: fit {statistics.median(v):.1f} s median of {len(v)} ({', '.join(f'{x:.1f}' for x in v)})",
              flush=True)


def encode(args) -> None:
    from embedsearch.codeindex.spark import encode_corpus

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        t = time.perf_counter()
        subprocess.run([EXE, "--home", str(home), "index", *args.corpus, "--name", "local"], check=True,
                       stdout=subprocess.DEVNULL)
        local_s = time.perf_counter() - t
        times, stage = {}, {}
        for master in ("local[1]", "local[2]", "local[1]", "local[2]"):
            out = Path(tmp) / f"ds-{master[6]}-{len(times)}"
            report = encode_corpus(home, args.corpus, str(out), master=master)
            times.setdefault(master, []).append(report["seconds"])
            stage.setdefault(master, []).append(report["encoding_seconds"])
            print(f"{master}: {report['chunks']} chunks in {report['seconds']:.1f} s (listing, chunking, encoding, "
                  f"writing; Spark's start included), of which the encoding stage {report['encoding_seconds']:.1f} s "
                  f"({report['chunks'] / report['encoding_seconds']:.1f} chunks/s)", flush=True)
        best = {m: min(v) for m, v in times.items()}
        fast = {m: min(v) for m, v in stage.items()}
        print(f"index here (one process, ONNX): {local_s:.1f} s; Spark local[1] {best['local[1]']:.1f} s, local[2] "
              f"{best['local[2]']:.1f} s: local[2] is {best['local[1]'] / best['local[2]']:.2f}x local[1] for the "
              f"whole job, {fast['local[1]'] / fast['local[2]']:.2f}x in throughput of the encoding stage "
              f"(best of each)", flush=True)
        subprocess.run([EXE, "--home", str(home), "index", "--name", "spark", "--from-parquet", str(out)], check=True,
                       stdout=subprocess.DEVNULL)
        from embedsearch.codeindex.store import Index

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
    from embedsearch.codeindex.spark import encode_corpus

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
    ap.add_argument("parts", nargs="+", choices=["als", "als_blas", "als_dev", "als_tuned", "cf_scale", "encode",
                                                    "shards"])
    ap.add_argument("--corpus", nargs="+", default=[])
    ap.add_argument("--rank", type=int, default=50)
    ap.add_argument("--reg", type=float, default=None, help="ALS's regParam (default: the model's, cf.spark.REG).")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--trials", type=int, default=3, help="als_blas: runs of each.")
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000], help="cf_scale: ratings.")
    ap.add_argument("--users", type=int, default=100_000, help="cf_scale: users.")
    ap.add_argument("--items", type=int, default=10_000, help="cf_scale: items.")
    ap.add_argument("--driver-memory", default="6g", help="cf_scale: the local JVM's heap (executors included).")
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
