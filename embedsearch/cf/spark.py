"""`cf train --engine spark`: Spark ML's ALS when ratings outgrow one machine.

The same inputs as the PyTorch path (a MovieLens folder, a ratings CSV/TSV) plus Parquet,
from any path Spark reads (local, HDFS, S3), the same splits (random, u1..u5, --folds) and
the same metrics, computed on the cluster: RMSE and MAE by RegressionEvaluator over ALS's
predictions, precision/recall/NDCG@10 by RankingEvaluator over each user's top ten among
the items they did not rate in training (nothing is collected to the driver to score).
Spark's ALS has no biases, and much of a rating is who rates and what is rated, so for
explicit ratings (`--model bias`, the default) the baseline is fitted first on the cluster
(a global mean and per-user and per-item biases, regularised means alternated a few
rounds, as Koren's baseline estimates) and ALS then models what it leaves; a prediction
is mean + user bias + item bias + user factors · item factors, and the top ten rank items
by item bias + factors, scored on the executors with the item table broadcast. The result
is saved as an ordinary CF model (a linear bias model, or with `--model dot` plain ALS as
a dot-product model), so `cf recommend/similar/biases/plot/explain`, `tables`, `compare`,
`export` and `cf bridge` work on it unchanged. `--implicit` trains ALS with implicit
preferences (confidence 1 + alpha·r from counts, plays or clicks; no biases) and reports
ranking metrics only.

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

from embedsearch.cf.data import OFFICIAL_FOLDS, _is_number, read_items_file
from embedsearch.errors import EmbedsearchError

K = 10
RELEVANT = 4.0  # a held-out rating at least this is relevant (as cf.metrics.top_n_metrics)
BIAS_REG = 5.0  # pseudo-ratings each bias is shrunk with (chosen on u1.base, bench/README.md)
REG = {"bias": 0.15, "dot": 0.1}  # ALS's regParam by default (chosen on u1.base as BIAS_REG)
BIAS_ROUNDS = 3  # alternations of item then user biases (the third changes RMSE by < 1e-4)
PAIRS_CHUNK = 1_000_000  # rated pairs brought to the driver at a time when a model is saved


@dataclass
class SparkOptions:
    """What decides an ALS model; recorded in its manifest."""

    factors: int = 50
    epochs: int = 10
    reg: float | None = None  # ALS's regParam; None: REG of the model
    seed: int = 42
    implicit: bool = False
    alpha: float = 1.0
    y_range: tuple[float, float] = (0.0, 5.5)  # the ratings' bounds (malformed rows refused)
    master: str = "local[2]"
    biases: bool = True  # explicit ratings: ALS around a fitted mean and biases (--model bias)
    bias_reg: float = BIAS_REG

    def __post_init__(self) -> None:
        if self.reg is None:
            self.reg = REG[self.model]

    @property
    def model(self) -> str:
        return "bias" if self.biases else "dot"

    def check(self) -> None:
        if self.factors < 1 or self.epochs < 1:
            raise EmbedsearchError("--factors and --epochs must be at least 1")
        if not self.reg >= 0 or not self.alpha >= 0 or not self.bias_reg >= 0:
            raise EmbedsearchError(f"--reg, --bias-reg and --alpha must not be negative, got {self.reg}, "
                                   f"{self.bias_reg}, {self.alpha}")
        if self.implicit and self.biases:
            raise EmbedsearchError("--implicit trains plain ALS (--model dot): biases of counts are not ratings")

    def as_dict(self) -> dict:
        out = {"engine": "spark", "model": self.model, "factors": self.factors, "epochs": self.epochs, "reg": self.reg,
               "seed": self.seed, "implicit": self.implicit, "alpha": self.alpha, "y_range": list(self.y_range)}
        if self.biases:
            out.update(linear=True, bias_reg=self.bias_reg)  # linear: no sigmoid (cf.models.DotProductBias)
        return out


def session(master: str = "local[2]"):
    """The job's SparkSession (spark_session.session). ALS cuts its lineage every ten
    iterations only where a checkpoint folder is set, and without one more iterations
    overflow the JVM's stack (seen here at 20): locally a temporary folder, removed at
    exit; on a cluster the one its configuration names (spark.checkpoint.dir, shared
    storage; docs/scale-out.md)."""
    import atexit
    import shutil
    import tempfile

    from embedsearch.spark_session import session as spark_session

    spark = spark_session(master, "embedsearch cf train")
    if master.startswith("local") and not spark.sparkContext.getCheckpointDir():
        folder = tempfile.mkdtemp(prefix="embedsearch-als-")
        atexit.register(shutil.rmtree, folder, True)
        spark.sparkContext.setCheckpointDir(folder)
    return spark


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


def _als(opts: SparkOptions, rating: str = "rating"):
    from pyspark.ml.recommendation import ALS

    return ALS(rank=opts.factors, maxIter=opts.epochs, regParam=opts.reg, userCol="uidx", itemCol="iidx",
               ratingCol=rating, coldStartStrategy="drop", seed=opts.seed, implicitPrefs=opts.implicit,
               alpha=opts.alpha)


def fit_biases(train, reg: float = BIAS_REG, rounds: int = BIAS_ROUNDS):
    """(mean, user biases (uidx, bu), item biases (iidx, bi)) of explicit ratings, on Spark:
    bi = Σ(r − mean − bu) / (reg + n_i) and bu = Σ(r − mean − bi) / (reg + n_u), alternated
    `rounds` times from bu = 0 (regularised means: an item rated twice keeps most of the
    global mean). Both frames are cached and hold one row per user or item of `train`."""
    from pyspark.sql import functions as F

    mean = float(train.agg(F.avg("rating")).first()[0])
    centred = train.select("uidx", "iidx", (F.col("rating") - F.lit(mean)).alias("r"))
    users = None
    for _ in range(rounds):
        left = centred if users is None else centred.join(users, "uidx").select(
            "uidx", "iidx", (F.col("r") - F.col("bu")).alias("r"))
        items = left.groupBy("iidx").agg((F.sum("r") / (F.count("r") + F.lit(reg))).alias("bi")).cache()
        fresh = (centred.join(items, "iidx").groupBy("uidx")
                 .agg((F.sum(F.col("r") - F.col("bi")) / (F.count("r") + F.lit(reg))).alias("bu")).cache())
        fresh.count()  # computed now, so the next round reads it, not its lineage
        users = fresh
    return mean, users, items


@dataclass
class Fitted:
    """An ALS model and the baseline it models the rest of (none for plain ALS)."""

    als: object  # pyspark.ml.recommendation.ALSModel
    mean: float = 0.0
    user_bias: object = None  # DataFrame (uidx, bu), or None
    item_bias: object = None  # DataFrame (iidx, bi), or None

    def predict(self, frame):
        """`frame` (uidx, iidx, ...) with a `prediction` column; rows of users or items the
        model never saw are dropped (as ALS's coldStartStrategy 'drop')."""
        from pyspark.sql import functions as F

        pred = self.als.transform(frame)
        if self.user_bias is None:
            return pred
        return (pred.join(self.user_bias, "uidx").join(self.item_bias, "iidx")
                .withColumn("prediction", F.col("prediction") + F.lit(self.mean) + F.col("bu") + F.col("bi")))


def fit(opts: SparkOptions, train, rounds: int = BIAS_ROUNDS) -> Fitted:
    """ALS on `train` (uidx, iidx, rating), around fitted biases when `opts.biases`."""
    from pyspark.sql import functions as F

    if not opts.biases:
        return Fitted(_als(opts).fit(train))
    mean, users, items = fit_biases(train, opts.bias_reg, rounds)
    left = (train.join(users, "uidx").join(items, "iidx")
            .select("uidx", "iidx", (F.col("rating") - F.lit(mean) - F.col("bu") - F.col("bi")).alias("residual")))
    return Fitted(_als(opts, "residual").fit(left), mean, users, items)


def top_items(fitted: Fitted, users, train, n_items: int, k: int = K):
    """(uidx, prediction array<double>): each of `users`' k best items among those it did
    not rate in `train`, by item bias + user factors · item factors (what differs between
    one user's predictions), best first. Scored on the executors, users in blocks against
    the item table, which is broadcast: items are the small side (ALS's own
    recommendForUserSubset has no biases to add)."""
    import pandas as pd
    from pyspark.sql import functions as F

    factors, known = _factors(fitted.als.itemFactors, n_items, fitted.als.rank)
    bias = np.where(known, 0.0, -np.inf).astype(np.float32)  # items ALS never saw are never recommended
    if fitted.item_bias is not None:
        bias += _column(fitted.item_bias, "iidx", "bi", n_items)
    shared = train.sparkSession.sparkContext.broadcast((factors, bias))
    seen = train.groupBy("uidx").agg(F.collect_list("iidx").alias("seen"))
    frame = (users.join(fitted.als.userFactors.withColumnRenamed("id", "uidx"), "uidx")
             .join(seen, "uidx", "left"))

    block = max(1, min(256, (32 << 20) // (12 * n_items)))  # users at a time: ~32 MB of scores and indices

    def best(batches):
        item_factors, item_bias = shared.value  # (n_items, rank), (n_items,)
        for pdf in batches:
            tops = []
            for start in range(0, len(pdf), block):
                part = pdf.iloc[start:start + block]
                scores = np.stack(part["features"].to_numpy()).astype(np.float32) @ item_factors.T + item_bias
                for row, rated in enumerate(part["seen"]):  # scores: (block, n_items)
                    if rated is not None:
                        scores[row, np.asarray(rated, dtype=np.int64)] = -np.inf
                n = min(k, scores.shape[1])
                idx = np.argpartition(scores, scores.shape[1] - n, axis=1)[:, -n:]  # (block, n), the n best
                idx = np.take_along_axis(idx, np.argsort(-np.take_along_axis(scores, idx, 1), 1, kind="stable"), 1)
                ok = np.isfinite(np.take_along_axis(scores, idx, 1))
                tops += [r[o].astype(np.float64) for r, o in zip(idx, ok)]
            yield pd.DataFrame({"uidx": pdf["uidx"].to_numpy(), "prediction": tops})

    return frame.select("uidx", "features", "seen").mapInPandas(best, "uidx int, prediction array<double>")


def evaluate(fitted: Fitted, train, valid, implicit: bool, n_items: int, k: int = K) -> dict:
    """Held-out metrics computed on Spark: RMSE/MAE (explicit only) and precision, recall
    and NDCG@k of each user's top k among items not rated in training, relevant = a
    held-out rating >= 4 (implicit: any held-out interaction)."""
    from pyspark.ml.evaluation import RankingEvaluator, RegressionEvaluator
    from pyspark.sql import functions as F

    out: dict = {}
    if not implicit:
        pred = fitted.predict(valid)
        for metric in ("rmse", "mae"):
            out[metric] = RegressionEvaluator(metricName=metric, labelCol="rating").evaluate(pred)
        out["cold_start_dropped"] = valid.count() - pred.count()
    relevant = valid if implicit else valid.filter(F.col("rating") >= RELEVANT)
    users = relevant.select("uidx").distinct()
    ranked = top_items(fitted, users, train, n_items, k)
    labels = relevant.groupBy("uidx").agg(F.collect_list(F.col("iidx").cast("double")).alias("label"))
    both = labels.join(ranked, "uidx", "left").select(
        "label", F.coalesce("prediction", F.array().cast("array<double>")).alias("prediction"))
    for name, metric in (("precision_at_k", "precisionAtK"), ("recall_at_k", "recallAtK"), ("ndcg_at_k", "ndcgAtK")):
        out[name] = RankingEvaluator(metricName=metric, k=k, labelCol="label", predictionCol="prediction").evaluate(both)
    out["k"] = k
    out["users"] = labels.count()
    return out


def _factors(frame, n: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, dim) float32 rows from ALS's (id, features) factor frame, rows ALS never saw
    zero, and (n,) bool: which rows it saw. Collected: a model's size, not the ratings'."""
    out, known = np.zeros((n, dim), dtype=np.float32), np.zeros(n, dtype=bool)
    for row in frame.toLocalIterator():
        out[row["id"]] = row["features"]
        known[row["id"]] = True
    return out, known


def _column(frame, key: str, value: str, n: int) -> np.ndarray:
    """(n,) float32 of a per-row frame (key, value); rows it lacks are zero."""
    out = np.zeros(n, dtype=np.float32)
    for row in frame.toLocalIterator():
        out[row[key]] = row[value]
    return out


def _to_module(fitted: Fitted, n_users: int, n_items: int, dim: int):
    """The model as the tool's DotProductBias (linear, the mean folded into the item
    biases) or DotProduct module: what every cf command loads."""
    import torch

    from embedsearch.cf.models import DotProduct, DotProductBias

    plain = fitted.user_bias is None
    module = DotProduct(n_users, n_items, dim) if plain else DotProductBias(n_users, n_items, dim, y_range=None)
    with torch.no_grad():
        module.user_factors.weight.copy_(torch.from_numpy(_factors(fitted.als.userFactors, n_users, dim)[0]))
        module.item_factors.weight.copy_(torch.from_numpy(_factors(fitted.als.itemFactors, n_items, dim)[0]))
        if not plain:
            module.user_bias.weight.copy_(torch.from_numpy(_column(fitted.user_bias, "uidx", "bu", n_users))[:, None])
            item = _column(fitted.item_bias, "iidx", "bi", n_items) + np.float32(fitted.mean)
            module.item_bias.weight.copy_(torch.from_numpy(item)[:, None])
    return module.eval()


def train_spark(home, data: str, items: str | None, split: str, valid_pct: float, folds: bool, name: str,
                opts: SparkOptions, on_fit=None) -> dict:
    """Train ALS as requested and save it under home/name as an ordinary CF model; returns
    the same report shape as cf.workflow.train_and_save."""
    from pyspark.sql import functions as F

    from embedsearch.cf.saved import RatedChunks, save_model
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
        report: dict = {"data": str(folder or data), "model": opts.model, "engine": "spark", "options": opts.as_dict(),
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
            model = fit(opts, train)
            seconds = time.perf_counter() - started
            metrics = evaluate(model, train, valid, opts.implicit, n_items)
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
            final = fit(opts, df)
        else:
            if split == "random":
                train, valid = df.randomSplit([1 - valid_pct, valid_pct], seed=opts.seed)
                report["split"] = f"random {valid_pct:.0%} (seed {opts.seed}, Spark's randomSplit)"
            else:
                train, valid = fold_frames(split)
                report["split"] = f"official {split}"
            train, valid = train.cache(), valid.cache()
            started = time.perf_counter()
            final = fit(opts, train)
            seconds = time.perf_counter() - started
            metrics = evaluate(final, train, valid, opts.implicit, n_items)
            metrics["train_seconds"] = seconds
            if not opts.implicit:
                mean = train.agg(F.avg("rating")).first()[0]
                metrics["global_mean_rmse"] = float(math.sqrt(
                    valid.agg(F.avg((F.col("rating") - F.lit(mean)) ** 2)).first()[0]))
            if on_fit:
                on_fit(report["split"], metrics)
            report["metrics"] = metrics
        module = _to_module(final, n_users, n_items, opts.factors)
        rated = RatedChunks(keyed.user_keys, keyed.item_keys, report["n_ratings"], lambda: _pairs(df))
        path = save_model(home, name, module, {**opts.as_dict(), "split": report["split"]}, metrics, report["data"],
                          rated)  # while Spark runs: the rated pairs come from it in chunks
    finally:
        spark.stop()
    report["saved"] = str(path)
    return report


def _pairs(df, chunk: int | None = None):
    """((n,) user rows, (n,) item rows) of `df` in about `chunk`-row pieces, each brought
    to the driver as Arrow by itself (users split by uidx modulo the piece count): the
    driver holds one piece, however many ratings there are."""
    from pyspark.sql import functions as F

    pieces = max(1, math.ceil(df.count() / (chunk or PAIRS_CHUNK)))
    for p in range(pieces):
        t = df.filter(F.pmod(F.col("uidx"), F.lit(pieces)) == p).select("uidx", "iidx").toArrow()
        yield t.column(0).to_numpy(), t.column(1).to_numpy()


def key_ratings_with(spark, df, keyed: Keyed):
    """A fold's ratings keyed with the full data's vocabularies (rows mean the same thing)."""
    from pyspark.sql import functions as F

    umap = spark.createDataFrame(list(keyed.user_rows.items()), "user string, uidx int")
    imap = spark.createDataFrame(list(keyed.item_rows.items()), "item string, iidx int")
    return df.join(F.broadcast(umap), "user").join(F.broadcast(imap), "item").select("uidx", "iidx", "rating")
