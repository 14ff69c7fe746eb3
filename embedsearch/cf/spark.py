"""`cf train --engine spark`: Spark ML's ALS when ratings outgrow one machine.

The same inputs as the PyTorch path (a MovieLens folder, a ratings CSV/TSV) plus Parquet,
from any path Spark reads (local, HDFS, S3), the same splits (random, u1..u5, --folds) and
the same metrics, computed on the cluster: RMSE and MAE by RegressionEvaluator over ALS's
predictions, precision/recall/NDCG@10 by RankingEvaluator over each user's top ten among
the items they did not rate in training (nothing is collected to the driver to score).
The trained factors are then saved as an ordinary CF model (a dot-product model: ALS has
no biases), so `cf recommend/similar/plot/explain`, `tables`, `compare`, `export` and `cf
bridge` work on it unchanged. `--implicit` trains ALS with implicit preferences
(confidence 1 + alpha·r from counts, plays or clicks) and reports ranking metrics only.

Locally this runs in `local[N]` mode; `--master URL` runs the same job on a standalone,
YARN or Kubernetes cluster (docs/scale-out.md). Spark is an optional extra
(`pip install embedsearch[spark]`) and is imported only here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedsearch.cf.data import OFFICIAL_FOLDS, Ratings, _is_number, read_items_file
from embedsearch.errors import EmbedsearchError

K = 10
RELEVANT = 4.0  # a held-out rating at least this is relevant (as cf.metrics.top_n_metrics)


@dataclass
class SparkOptions:
    """What decides an ALS model; recorded in its manifest."""

    factors: int = 50
    epochs: int = 10
    reg: float = 0.1
    seed: int = 42
    implicit: bool = False
    alpha: float = 1.0
    y_range: tuple[float, float] = (0.0, 5.5)
    master: str = "local[2]"

    def check(self) -> None:
        if self.factors < 1 or self.epochs < 1:
            raise EmbedsearchError("--factors and --epochs must be at least 1")
        if not self.reg >= 0 or not self.alpha >= 0:
            raise EmbedsearchError(f"--reg and --alpha must not be negative, got {self.reg}, {self.alpha}")

    def as_dict(self) -> dict:
        return {"engine": "spark", "model": "dot", "factors": self.factors, "epochs": self.epochs, "reg": self.reg,
                "seed": self.seed, "implicit": self.implicit, "alpha": self.alpha, "y_range": list(self.y_range)}


def session(master: str = "local[2]"):
    """The job's SparkSession (embedsearch.spark.session)."""
    from embedsearch.spark import session as spark_session

    return spark_session(master, "embedsearch cf train")


def _is_remote(path: str) -> bool:
    return "://" in path


def _first_line(spark, path: str) -> str:
    row = spark.read.text(path).limit(1).collect()
    if not row:
        raise EmbedsearchError(f"{path}: no ratings found")
    return row[0][0]


def read_ratings(spark, path: str, y_range: tuple[float, float]):
    """(user, item, rating) strings/double DataFrame of a ratings file, a MovieLens folder's
    u.data, or a Parquet dataset (columns user, item, rating); every malformed row counted
    and refused with examples, so no model trains on half-read data."""
    from pyspark.sql import functions as F

    if path.endswith(".parquet") or (not _is_remote(path) and Path(path).is_dir() and not (Path(path) / "u.data").exists()
                                     and any(Path(path).glob("*.parquet"))):
        df = spark.read.parquet(path)
        missing = {"user", "item", "rating"} - set(df.columns)
        if missing:
            raise EmbedsearchError(f"{path}: a Parquet ratings table needs columns user, item and rating; it has "
                                   f"{', '.join(df.columns)}")
        raw = df.select(F.col("user").cast("string"), F.col("item").cast("string"),
                        F.col("rating").cast("string").alias("rating_text"))
    else:
        if not _is_remote(path) and Path(path).is_dir():
            path = str(Path(path) / "u.data")
        if not _is_remote(path) and not Path(path).exists():
            raise EmbedsearchError(f"no such ratings file or folder: {path}")
        first = _first_line(spark, path)
        sep = next((s for s in ("\t", "::", ",", "|", ";") if s in first), " ")
        parts = [p.strip() for p in first.split(sep)]
        header = len(parts) >= 3 and not _is_number(parts[2])
        df = spark.read.option("sep", sep).option("header", header).csv(path)
        cols = df.columns
        if len(cols) < 3:
            raise EmbedsearchError(f"{path}: expected user, item, rating (and optional timestamp) columns")
        raw = df.select(F.trim(F.col(cols[0])).alias("user"), F.trim(F.col(cols[1])).alias("item"),
                        F.trim(F.col(cols[2])).alias("rating_text"))
    lo, hi = y_range
    parsed = raw.withColumn("rating", F.col("rating_text").cast("double"))
    bad = parsed.filter(F.col("user").isNull() | F.col("item").isNull() | F.col("rating").isNull()
                        | F.isnan("rating") | (F.col("rating") < lo) | (F.col("rating") > hi))
    examples = bad.limit(5).collect()
    if examples:
        shown = "; ".join(f"user {r['user']!r} item {r['item']!r} rating {r['rating_text']!r}" for r in examples)
        raise EmbedsearchError(f"malformed ratings in {path} ({bad.count():,} rows; ratings must be numbers in "
                               f"{lo:g}..{hi:g}): {shown}")
    return parsed.select("user", "item", "rating")


@dataclass
class Keyed:
    """Ratings as integer rows for ALS, and the vocabularies that name the rows."""

    df: object  # DataFrame (uidx int, iidx int, rating double)
    user_keys: list[str]
    item_keys: list[str]
    item_rows: dict[str, int]  # raw item id -> row
    user_rows: dict[str, int]


def key_ratings(spark, df, titles: dict[str, str] | None) -> Keyed:
    """Row numbers for users (their ids) and items (their titles when an items file names
    them, duplicates merged into one key as the PyTorch path does)."""
    from pyspark.sql import functions as F

    users = sorted((r[0] for r in df.select("user").distinct().collect()), key=_natural)
    items = sorted((r[0] for r in df.select("item").distinct().collect()), key=_natural)
    user_rows = {u: n for n, u in enumerate(users)}
    item_keys: list[str] = []
    key_row: dict[str, int] = {}
    item_rows: dict[str, int] = {}
    for i in items:
        key = titles.get(i, i) if titles else i
        if key not in key_row:
            key_row[key] = len(item_keys)
            item_keys.append(key)
        item_rows[i] = key_row[key]
    umap = spark.createDataFrame(list(user_rows.items()), "user string, uidx int")
    imap = spark.createDataFrame(list(item_rows.items()), "item string, iidx int")
    keyed = df.join(F.broadcast(umap), "user").join(F.broadcast(imap), "item").select("uidx", "iidx", "rating")
    return Keyed(keyed, users, item_keys, item_rows, user_rows)


def _natural(s: str):
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


def _als(opts: SparkOptions):
    from pyspark.ml.recommendation import ALS

    return ALS(rank=opts.factors, maxIter=opts.epochs, regParam=opts.reg, userCol="uidx", itemCol="iidx",
               ratingCol="rating", coldStartStrategy="drop", seed=opts.seed, implicitPrefs=opts.implicit,
               alpha=opts.alpha)


def evaluate(model, train, valid, implicit: bool, k: int = K) -> dict:
    """Held-out metrics computed on Spark: RMSE/MAE (explicit only) and precision, recall
    and NDCG@k of each user's top k among items not rated in training, relevant = a
    held-out rating >= 4 (implicit: any held-out interaction)."""
    from pyspark.ml.evaluation import RankingEvaluator, RegressionEvaluator
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    out: dict = {}
    if not implicit:
        pred = model.transform(valid)
        for metric in ("rmse", "mae"):
            out[metric] = RegressionEvaluator(metricName=metric, labelCol="rating").evaluate(pred)
        out["cold_start_dropped"] = valid.count() - pred.count()
    relevant = valid if implicit else valid.filter(F.col("rating") >= RELEVANT)
    users = relevant.select("uidx").distinct()
    most_seen = train.groupBy("uidx").count().agg(F.max("count")).first()[0] or 0
    recs = model.recommendForUserSubset(users, k + int(most_seen))
    ranked = (recs.select("uidx", F.posexplode("recommendations").alias("pos", "rec"))
              .select("uidx", "pos", F.col("rec.iidx").alias("iidx"))
              .join(train.select("uidx", "iidx"), ["uidx", "iidx"], "left_anti")
              .withColumn("r", F.row_number().over(Window.partitionBy("uidx").orderBy("pos")))
              .filter(F.col("r") <= k)
              .groupBy("uidx").agg(F.sort_array(F.collect_list(F.struct("r", "iidx"))).alias("top"))
              .select("uidx", F.col("top.iidx").cast("array<double>").alias("prediction")))
    labels = relevant.groupBy("uidx").agg(F.collect_list(F.col("iidx").cast("double")).alias("label"))
    both = labels.join(ranked, "uidx", "left").select(
        "label", F.coalesce("prediction", F.array().cast("array<double>")).alias("prediction"))
    for name, metric in (("precision_at_k", "precisionAtK"), ("recall_at_k", "recallAtK"), ("ndcg_at_k", "ndcgAtK")):
        out[name] = RankingEvaluator(metricName=metric, k=k, labelCol="label", predictionCol="prediction").evaluate(both)
    out["k"] = k
    out["users"] = labels.count()
    return out


def _factors(frame, n: int, dim: int) -> np.ndarray:
    """(n, dim) float32 rows from ALS's (id, features) factor frame; rows ALS never saw are zero."""
    out = np.zeros((n, dim), dtype=np.float32)
    for row in frame.collect():
        out[row["id"]] = row["features"]
    return out


def _to_module(model, n_users: int, n_items: int, dim: int):
    """The ALS factors as the tool's DotProduct module (what every cf command loads)."""
    import torch

    from embedsearch.cf.models import DotProduct

    module = DotProduct(n_users, n_items, dim)
    with torch.no_grad():
        module.user_factors.weight.copy_(torch.from_numpy(_factors(model.userFactors, n_users, dim)))
        module.item_factors.weight.copy_(torch.from_numpy(_factors(model.itemFactors, n_items, dim)))
    return module.eval()


def train_spark(home, data: str, items: str | None, split: str, valid_pct: float, folds: bool, name: str,
                opts: SparkOptions, on_fit=None) -> dict:
    """Train ALS as requested and save it under home/name as an ordinary CF model; returns
    the same report shape as cf.workflow.train_and_save."""
    from pyspark.sql import functions as F

    from embedsearch.cf.saved import save_model
    from embedsearch.home import check_name

    opts.check()
    check_name(name, "model")
    if split != "random" and split not in OFFICIAL_FOLDS:
        raise EmbedsearchError(f"unknown split {split!r}; use random or one of {', '.join(OFFICIAL_FOLDS)}")
    if not 0 < valid_pct < 1:
        raise EmbedsearchError(f"valid-pct must be between 0 and 1, got {valid_pct}")
    folder = Path(data) if not _is_remote(data) and Path(data).is_dir() else None
    if folder is not None and not _is_remote(data):
        folder = folder.resolve()
    item_file = Path(items) if items else (folder / "u.item" if folder is not None else None)
    titles = read_items_file(item_file) if item_file is not None and item_file.exists() else None
    spark = session(opts.master)
    try:
        ratings = read_ratings(spark, str(folder or data), opts.y_range).cache()
        keyed = key_ratings(spark, ratings, titles)
        df = keyed.df.cache()
        n_users, n_items = len(keyed.user_keys), len(keyed.item_keys)
        report: dict = {"data": str(folder or data), "model": "dot", "engine": "spark", "options": opts.as_dict(),
                        "n_users": n_users, "n_items": n_items, "n_ratings": df.count()}

        def fold_frames(fold: str):
            if folder is None or not (folder / f"{fold}.base").exists():
                raise EmbedsearchError(f"the official folds need the MovieLens 100K folder (u1.base ... u5.test); "
                                       f"{data} has none")
            frames = []
            for part in ("base", "test"):
                raw = read_ratings(spark, str(folder / f"{fold}.{part}"), opts.y_range)
                frames.append(key_ratings_with(spark, raw, keyed))
            return frames

        def fit_measure(train, valid, label: str) -> dict:
            started = time.perf_counter()
            model = _als(opts).fit(train)
            seconds = time.perf_counter() - started
            metrics = evaluate(model, train, valid, opts.implicit)
            metrics["train_seconds"] = seconds
            if on_fit:
                on_fit(label, metrics)
            return metrics

        if folds:
            per_fold = {f: fit_measure(*fold_frames(f), f) for f in OFFICIAL_FOLDS}
            keys = [k for k in per_fold["u1"] if isinstance(per_fold["u1"][k], float)]
            report["split"] = "folds u1-u5"
            report["folds"] = per_fold
            report["mean"] = {k: float(np.mean([m[k] for m in per_fold.values()])) for k in keys}
            report["std"] = {k: float(np.std([m[k] for m in per_fold.values()])) for k in keys}
            metrics = {"folds": per_fold, "mean": report["mean"], "std": report["std"]}
            final = _als(opts).fit(df)
        else:
            if split == "random":
                train, valid = df.randomSplit([1 - valid_pct, valid_pct], seed=opts.seed)
                report["split"] = f"random {valid_pct:.0%} (seed {opts.seed}, Spark's randomSplit)"
            else:
                train, valid = fold_frames(split)
                report["split"] = f"official {split}"
            train, valid = train.cache(), valid.cache()
            started = time.perf_counter()
            final = _als(opts).fit(train)
            seconds = time.perf_counter() - started
            metrics = evaluate(final, train, valid, opts.implicit)
            metrics["train_seconds"] = seconds
            if not opts.implicit:
                mean = train.agg(F.avg("rating")).first()[0]
                metrics["global_mean_rmse"] = float(math.sqrt(
                    valid.agg(F.avg((F.col("rating") - F.lit(mean)) ** 2)).first()[0]))
            if on_fit:
                on_fit(report["split"], metrics)
            report["metrics"] = metrics
        module = _to_module(final, n_users, n_items, opts.factors)
        rows = df.select("uidx", "iidx", "rating").collect()
        all_ratings = Ratings(np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.int64),
                              np.array([r[2] for r in rows], dtype=np.float32), keyed.user_keys, keyed.item_keys)
    finally:
        spark.stop()
    path = save_model(home, name, module, {**opts.as_dict(), "split": report["split"]}, metrics, report["data"],
                      all_ratings)
    report["saved"] = str(path)
    return report


def key_ratings_with(spark, df, keyed: Keyed):
    """A fold's ratings keyed with the full data's vocabularies (rows mean the same thing)."""
    from pyspark.sql import functions as F

    umap = spark.createDataFrame(list(keyed.user_rows.items()), "user string, uidx int")
    imap = spark.createDataFrame(list(keyed.item_rows.items()), "item string, iidx int")
    return df.join(F.broadcast(umap), "user").join(F.broadcast(imap), "item").select("uidx", "iidx", "rating")
