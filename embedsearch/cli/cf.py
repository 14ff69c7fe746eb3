"""`embedsearch cf ...`: collaborative filtering on ratings (train, recommend, similar,
biases, plot, explain). Each command parses, calls one library function, renders."""

from __future__ import annotations


import click

from embedsearch.cli.render import JSON_OPTION, console, given_options, json_lines, k_option, table

DEFAULT_NAME = "movielens"
name_option = click.option("--name", default=DEFAULT_NAME, show_default=True, help="Saved model to use.")


def _console():
    return console(soft_wrap=False)  # long report lines fold at the terminal width


def _load(ctx: click.Context, name: str):
    from embedsearch.cf.saved import load_model

    return load_model(ctx.obj["home"], name)


def _echo_json(data) -> None:
    """One JSON object on one line, as every --json of the tool writes."""
    json_lines([data])


@click.group("cf")
def cf_group() -> None:
    """Collaborative filtering: latent factors learned from ratings (MovieLens by default)."""


@cf_group.command("train")
@click.option("--data", default="ml-100k", show_default=True,
              help="'ml-100k' (downloaded on first use), a MovieLens folder, or a ratings CSV/TSV (user, item, rating[, timestamp]).")
@click.option("--items", type=click.Path(dir_okay=False), help="Items file with id and title columns (ml-100k: u.item).")
@click.option("--model", "model_kind", type=click.Choice(["bias", "dot", "nn"]), default="bias", show_default=True,
              help="bias: dot product + biases in a sigmoid (--engine spark: ALS around fitted biases, linear); "
                   "dot: plain dot product (plain ALS); nn: embeddings through an MLP.")
@click.option("--factors", default=50, show_default=True, help="Latent factors per user and item.")
@click.option("--epochs", default=5, show_default=True)
@click.option("--lr", default=4e-3, show_default=True, help="Peak learning rate of the one-cycle schedule.")
@click.option("--wd", default=0.15, show_default=True, help="Weight decay (AdamW).")
@click.option("--bias-wd", default=0.01, show_default=True, help="Weight decay on the user and item biases (AdamW).")
@click.option("--bias-reg", type=float, default=None,
              help="--engine spark --model bias: pseudo-ratings each user and item bias is shrunk with [default: 5].")
@click.option("--reg", type=float, default=None,
              help="L2 penalty on the embedding rows each batch uses (Funk-SVD style), on top of --wd "
                   "[default: 0; with --engine spark, ALS's regParam: 0.15 around biases, 0.1 plain].")
@click.option("--bs", default=64, show_default=True, help="Batch size.")
@click.option("--seed", default=42, show_default=True)
@click.option("--y-range", nargs=2, type=float, default=(0.0, 5.5), show_default=True,
              help="Range predictions are squashed into; ratings outside it are rejected.")
@click.option("--split", default="random", show_default=True, help="random, or an official fold u1..u5.")
@click.option("--valid-pct", default=0.2, show_default=True, help="Held-out share for the random split.")
@click.option("--folds", is_flag=True, help="5-fold cross-validation over u1..u5 (mean ± std); then save a model trained on all ratings.")
@click.option("--engine", type=click.Choice(["torch", "spark"]), default="torch", show_default=True,
              help="torch: the nn.Embedding models here; spark: Spark ML's ALS (pip install 'embedsearch[spark]').")
@click.option("--master", default="local[2]", show_default=True,
              help="--engine spark: where Spark runs (local[N], spark://HOST:7077, yarn, k8s://...).")
@click.option("--implicit", is_flag=True,
              help="--engine spark: ratings are counts (plays, clicks); ALS with implicit preferences, ranking metrics only.")
@click.option("--alpha", type=float, default=1.0, show_default=True,
              help="--engine spark --implicit: confidence per count (1 + alpha * count).")
@name_option
@JSON_OPTION
@click.pass_context
def train_cmd(ctx, data, items, model_kind, factors, epochs, lr, wd, bias_wd, bias_reg, reg, bs, seed, y_range, split,
              valid_pct, folds, engine, master, implicit, alpha, name, as_json):
    """Train a model and save it under the index home."""
    if engine == "spark":
        return _train_spark(ctx, data, items, model_kind, factors, epochs, reg, bias_reg, seed, y_range, split,
                            valid_pct, folds, master, implicit, alpha, name, as_json)
    given = given_options(ctx, "master", "implicit", "alpha", "bias_reg")
    if given:
        raise click.UsageError(f"{', '.join(given)} belong to --engine spark")
    from embedsearch.cf.train import TrainOptions
    from embedsearch.cf.workflow import TrainRequest, train_and_save

    opts = TrainOptions(model=model_kind, factors=factors, epochs=epochs, lr=lr, wd=wd, bias_wd=bias_wd,
                        reg=0.0 if reg is None else reg, bs=bs, seed=seed, y_range=tuple(y_range))
    request = TrainRequest(data=data, items=items, split=split, valid_pct=valid_pct, folds=folds, name=name, options=opts)
    if as_json:
        _echo_json(train_and_save(ctx.obj["home"], request))
        return
    from rich.live import Live
    from rich.table import Table

    term = _console()
    epochs = Table(title=f"training {model_kind} ({factors} factors)")
    for col in ("split", "epoch", "train loss", "valid MSE", "valid RMSE", "valid MAE", "time"):
        epochs.add_column(col, justify="right")
    live = Live(epochs, console=term, refresh_per_second=4)

    def on_epoch(label, e) -> None:
        if not live.is_started:  # shown from the first epoch on, so a bad --data prints only its error
            live.start()
        epochs.add_row(label, str(e.epoch), f"{e.train_loss:.4f}", f"{e.valid_mse:.4f}", f"{e.valid_rmse:.4f}",
                       f"{e.valid_mae:.4f}", f"{e.seconds:.1f}s")

    try:
        report = train_and_save(ctx.obj["home"], request, on_epoch=on_epoch)
    finally:
        live.stop()
    term.print()
    _render_train_report(term, report)


def _train_spark(ctx, data, items, model_kind, factors, epochs, reg, bias_reg, seed, y_range, split, valid_pct, folds,
                 master, implicit, alpha, name, as_json):
    from embedsearch.cf.spark import BIAS_REG, SparkOptions, train_spark

    torch_only = given_options(ctx, "lr", "wd", "bias_wd", "bs")
    if torch_only:
        raise click.UsageError(f"{', '.join(torch_only)} belong to --engine torch; "
                               "Spark's ALS trains with --model, --factors, --epochs, --reg, --bias-reg")
    if model_kind == "nn":
        raise click.UsageError("--model nn belongs to --engine torch; Spark's ALS trains --model bias or dot")
    biases = model_kind == "bias" and not (implicit and not given_options(ctx, "model_kind"))
    if implicit and biases:
        raise click.UsageError("--implicit trains plain ALS (--model dot): biases of counts are not ratings")
    if bias_reg is not None and not biases:
        raise click.UsageError("--bias-reg belongs to --model bias (explicit ratings)")
    if not given_options(ctx, "epochs"):
        epochs = 10  # ALS converges in about ten alternations; the torch default (5 epochs) is another unit
    opts = SparkOptions(factors=factors, epochs=epochs, reg=reg, seed=seed, implicit=implicit, alpha=alpha,
                        y_range=tuple(y_range), master=master, biases=biases,
                        bias_reg=BIAS_REG if bias_reg is None else bias_reg)
    term = _console()

    def on_fit(label, m) -> None:
        if not as_json:
            shown = ", ".join(f"{k} {m[k]:.4f}" for k in ("rmse", "mae", "ndcg_at_k") if k in m)
            term.print(f"{label}: {shown} ({m['train_seconds']:.1f}s)")

    report = train_spark(ctx.obj["home"], data if data != "ml-100k" else _ml100k(), items, split, valid_pct, folds,
                         name, opts, on_fit)
    if as_json:
        return _echo_json(report)
    term.print()
    _render_train_report(term, report)


def _ml100k() -> str:
    from embedsearch.cf.data import ML100K_NAME, fetch_ml100k
    from pathlib import Path

    return ML100K_NAME if Path(ML100K_NAME).exists() else str(fetch_ml100k())


def _render_train_report(term, report: dict) -> None:
    names = {"rmse": "RMSE", "mae": "MAE", "precision_at_k": "precision@10", "recall_at_k": "recall@10",
             "ndcg_at_k": "NDCG@10", "train_seconds": "train s"}
    first = report["mean"] if "folds" in report else report["metrics"]
    cols = tuple(c for c in names if c in first)  # an implicit model has no rating error
    heads = tuple(names[c] for c in cols)
    if "folds" in report:
        rows = [[fold, *(f"{m[c]:.4f}" if c != "train_seconds" else f"{m[c]:.1f}" for c in cols)]
                for fold, m in report["folds"].items()]
        rows.append(["mean ± std", *(f"{report['mean'][c]:.4f} ± {report['std'][c]:.4f}" if c != "train_seconds"
                                     else f"{report['mean'][c]:.1f}" for c in cols)])
    else:
        m = report["metrics"]
        rows = [["model", *(f"{m[c]:.4f}" if c != "train_seconds" else f"{m[c]:.1f}" for c in cols)]]
        if "global_mean_rmse" in m:
            rows.append(["global mean", f"{m['global_mean_rmse']:.4f}", *([""] * (len(cols) - 1))])
    term.print(table(f"held-out quality: {report['split']}", ["", *heads], rows, right=heads))
    term.print(f"saved to {report['saved']}")


@cf_group.command("recommend")
@click.option("--user", help="Id of a user in the training data.")
@click.option("--rate", "rates", multiple=True, metavar="TITLE=RATING",
              help="A rating of a new user (repeatable); the user is folded in without retraining.")
@k_option("How many movies.", dest="n")
@click.option("--ridge", default=1.0, show_default=True, help="Ridge penalty when folding in a new user.")
@click.option("--include-new", "new", multiple=True, metavar="'TITLE (YEAR)|GENRE|...'",
              help="A movie nobody has rated (repeatable), placed through the model's bridge and ranked with the rest.")
@click.option("--new-file", type=click.Path(dir_okay=False, allow_dash=True),
              help="A file of such movies, one 'Title (Year)|Genre|...' a line ('-': standard input).")
@click.option("--bridge", "bridge_table", default=None, metavar="TABLE",
              help="Which bridge places new movies [default: movies-minilm, else the only one].")
@name_option
@JSON_OPTION
@click.pass_context
def recommend_cmd(ctx, user, rates, n, ridge, new, new_file, bridge_table, name, as_json):
    """Top-N movies a user has not rated yet, with predicted ratings; with --include-new,
    movies nobody has rated compete too (marked 'new')."""
    from embedsearch.cf.bridge import read_descriptions
    from embedsearch.cf.explore import recommend

    described = [*new, *(read_descriptions(new_file) if new_file else [])]
    out = recommend(_load(ctx, name), user=user, rates=list(rates), n=n, ridge=ridge, include_new=described,
                    bridge=bridge_table)
    if as_json:
        return _echo_json(out)
    who = f"user {out['user']}" if out["user"] is not None else f"new user ({len(out['rated'])} ratings, folded in)"
    rows = [[str(k), r["title"], f"{r['predicted']:.2f}", "new" if r["new"] else str(r["ratings"])]
            for k, r in enumerate(out["results"], 1)]
    term = _console()
    term.print(table(f"recommendations for {who}", ["#", "title", "predicted", "ratings"], rows,
                     right=("#", "predicted", "ratings")))
    for r in out["new_items"]:
        term.print(f"new: {r['title']} ranks {r['rank']:,} of {out['candidates']:,} (predicted {r['predicted']:.2f})")


@cf_group.command("similar")
@click.argument("title")
@click.option("--min-ratings", type=click.IntRange(min=0), default=10, show_default=True,
              help="Leave out movies with fewer training ratings (their factors are noise).")
@k_option("How many movies.", dest="n")
@click.option("--bridge", "bridge_table", default=None, metavar="TABLE",
              help="Which bridge places a new movie [default: movies-minilm, else the only one].")
@name_option
@JSON_OPTION
@click.pass_context
def similar_cmd(ctx, title, n, min_ratings, bridge_table, name, as_json):
    """Movies nearest to TITLE by cosine over item factors (HNSW index).

    TITLE written as 'Title (Year)|Genre|...' is a movie nobody has rated: it is placed in
    CF space through the model's bridge (`cf bridge`) first."""
    from embedsearch.cf.explore import similar

    out = similar(_load(ctx, name), title, n, min_ratings, bridge_table)
    if as_json:
        return _echo_json(out)
    rows = [[str(k), r["title"], f"{r['cosine']:.3f}", str(r["ratings"])] for k, r in enumerate(out["results"], 1)]
    what = "new movie " if out["new"] else ""
    _console().print(table(f"nearest to {what}{out['query']}", ["#", "title", "cosine", "ratings"], rows,
                           right=("#", "cosine", "ratings")))


@cf_group.command("bridge")
@click.option("--table", "table_name", default="movies-minilm", show_default=True,
              help="Language table keyed by the model's titles (movies-minilm and movies-glove are built on first use).")
@click.option("--map", "kind", type=click.Choice(["ridge", "mlp"]), default="ridge", show_default=True,
              help="ridge: closed form; mlp: one hidden layer. Either's penalty is chosen by 5-fold CV over movies.")
@click.option("--min-ratings", type=click.IntRange(min=0), default=10, show_default=True,
              help="Fit on movies with at least this many ratings (others' factors are mostly the prior).")
@click.option("--seed", default=0, show_default=True, help="Seed of the cross-validation folds.")
@name_option
@JSON_OPTION
@click.pass_context
def bridge_cmd(ctx, table_name, kind, min_ratings, seed, name, as_json):
    """Fit a map from a language table to the model's item factors and biases, so movies
    nobody has rated get factors from their title and genres (`cf recommend --include-new`,
    `cf similar 'Title (Year)|Genre'`). Stored in the model's folder."""
    from embedsearch.cf.bridge import fit_bridge
    from embedsearch.cli.render import progress_bar

    with progress_bar(f"embedding movie titles for {table_name}") as start:
        out = fit_bridge(ctx.obj["home"], name, table_name, kind, min_ratings, seed,
                         progress=None if as_json else start)
    if as_json:
        return _echo_json(out)
    term = _console()
    per = out["cv_r2_per_factor"]
    bias = f", item bias {out['cv_r2_bias']:.3f}" if out.get("cv_r2_bias") is not None else ""
    term.print(f"bridge {out['table']} -> {out['model']} ({out['kind']}, penalty {out['penalty']:.3g} by 5-fold CV)")
    term.print(f"fitted on {out['movies']:,} movies with at least {out['min_ratings']} ratings")
    term.print(f"cross-validated R² (weighted by ratings): {out['cv_r2']:.3f} overall{bias}")
    if out["cv_r2"] < 0.01:
        term.print(f"warning: {out['table']} explains next to nothing of this model's factors: every new movie "
                   "will land near the average one")
    if per:
        term.print(f"R² per factor: {min(per):.2f} .. {max(per):.2f}")
    term.print(f"try: embedsearch cf similar 'New Title (2026)|Comedy' --name {out['model']}")


@cf_group.command("biases")
@k_option("How many movies.", dest="n")
@name_option
@JSON_OPTION
@click.pass_context
def biases_cmd(ctx, n, name, as_json):
    """Movies with the lowest and highest learned bias."""
    from embedsearch.cf.explore import biases

    out = biases(_load(ctx, name), n)
    if as_json:
        return _echo_json(out)
    term = _console()
    for side in ("lowest", "highest"):
        rows = [[r["title"], f"{r['bias']:+.3f}", str(r["ratings"])] for r in out[side]]
        term.print(table(f"{side} item bias", ["title", "bias", "ratings"], rows, right=("bias", "ratings")))


@cf_group.command("plot")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default="cf-pca.png", show_default=True)
@click.option("--top", default=1000, show_default=True, help="Fit the PCA on the factors of this many most-rated movies.")
@click.option("--labels", default=50, show_default=True, help="Draw and label this many most-rated movies.")
@name_option
@JSON_OPTION
@click.pass_context
def plot_cmd(ctx, out_path, top, labels, name, as_json):
    """PCA of the item factors (two components), saved as a PNG."""
    from embedsearch.cf.explore import pca_plot

    out = pca_plot(_load(ctx, name), out_path, top, labels)
    if as_json:
        return _echo_json(out)
    ev = out["explained_variance"]
    _console().print(
        f"PCA over {out['fitted_on']} movies: explained variance PC1 {ev[0]:.1%}, PC2 {ev[1]:.1%}; "
        f"{out['labelled']} labelled; saved {out['path']}"
    )


@cf_group.command("explain")
@click.argument("title", required=False)
@name_option
@JSON_OPTION
@click.pass_context
def explain_cmd(ctx, title, name, as_json):
    """Show on the trained model that one_hot(i) @ W equals W[i] (and time both)."""
    from embedsearch.cf.explore import explain

    out = explain(_load(ctx, name), title)
    if as_json:
        return _echo_json(out)
    term = _console()
    fmt = lambda v: "[" + ", ".join(f"{x:+.4f}" for x in v[:8]) + (", ...]" if len(v) > 8 else "]")
    n_items, factors = out["table_shape"]
    term.print(f"item factor table W: {n_items} movies × {factors} factors; movie {out['title']!r} is row {out['row']}")
    term.print(f"one_hot({out['row']}) @ W = {fmt(out['one_hot_matmul'])}")
    term.print(f"W[{out['row']}]         = {fmt(out['lookup'])}")
    term.print(f"equal: {out['equal']} (and for a batch of {out['batch']} rows: {out['batch_equal']})")
    us = out["microseconds"]
    term.print(
        f"time per call: one-hot product {us['one_hot_matmul']:.1f} µs, lookup {us['lookup']:.1f} µs; "
        f"batch of {out['batch']}: {us['batch_one_hot_matmul']:.1f} µs vs {us['batch_lookup']:.1f} µs"
    )
