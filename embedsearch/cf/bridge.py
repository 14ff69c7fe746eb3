"""From language to taste: CF factors for movies nobody has rated yet (item cold start).

A CF model knows a movie only through its ratings; a movie without any has no row. Its
title and genres do have a row in a language table (movies-minilm: the sentence encoder on
"title (year): genres"; movies-glove: mean GloVe vector of the title words). A bridge is a
map fitted on the movies that have both, from the language row to the CF row:

    [q_i, b_i] ≈ f(x_i)        q: item factors (f,), b: item bias, x: language row (d,)

`f` is ridge regression in closed form by default (its penalty chosen by 5-fold
cross-validation over movies, linmap.fit_ridge) or a small MLP (hidden layer, its weight
decay chosen the same way). A new movie then gets q̂, b̂ = f(x_new) and is scored for user u
as the model scores any movie: sigmoid(p_u · q̂ + c_u + b̂) into the rating range.

Movies with few ratings are left out of the fit (their factors are mostly the prior the
weight decay pulls them to). A bridge lives inside the model's folder
(HOME/MODEL/bridge-TABLE.npz, listed in the manifest), so retraining the model, which
replaces the folder, also drops bridges fitted to factors that no longer exist.
"""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedsearch.cf.saved import SavedModel, load_model
from embedsearch.errors import EmbedsearchError, unknown
from embedsearch.home import COMMIT_WAIT, Home
from embedsearch.linmap import LinearMap, cross_validated, fit_ridge, folds, r2_scores

KINDS = ("ridge", "mlp")
DEFAULT_TABLE = "movies-minilm"
MIN_RATINGS = 10
MLP_DECAYS = (1e-4, 1e-3, 1e-2)


@dataclass
class Mlp:
    """x -> relu(x W1 + b1) W2 + b2, inputs and outputs standardised with the training rows'
    means and spreads; numpy at prediction time (torch only trains it)."""

    arrays: dict[str, np.ndarray]
    decay: float
    cv_r2: float | None = None
    kind: str = "mlp"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        a = self.arrays
        z = (np.asarray(x, np.float64) - a["x_mean"]) / a["x_std"]  # (n, d_in)
        h = np.maximum(z @ a["w1"] + a["b1"], 0.0)  # (n, hidden)
        return (h @ a["w2"] + a["b2"]) * a["y_std"] + a["y_mean"]  # (n, d_out)

    def save(self) -> dict[str, np.ndarray]:
        return {**self.arrays, "decay": np.float64(self.decay), "kind": np.array("mlp"),
                "cv_r2": np.float64(np.nan if self.cv_r2 is None else self.cv_r2)}

    @property
    def penalty(self) -> float:
        return self.decay


def _train_mlp(x: np.ndarray, y: np.ndarray, w: np.ndarray, decay: float, seed: int, hidden: int = 256,
               steps: int = 400) -> Mlp:
    import torch

    xm, xs = x.mean(axis=0), x.std(axis=0) + 1e-8
    ym, ys = y.mean(axis=0), y.std(axis=0) + 1e-8
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, y.shape[1]))
    xt = torch.tensor((x - xm) / xs, dtype=torch.float32)  # (n, d_in)
    yt = torch.tensor((y - ym) / ys, dtype=torch.float32)  # (n, d_out)
    wt = torch.tensor(w / w.mean(), dtype=torch.float32)[:, None]  # (n, 1)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=decay)
    for _ in range(steps):  # full batch: a few thousand movies
        opt.zero_grad()
        loss = (wt * (net(xt) - yt) ** 2).mean() + decay * sum((p**2).sum() for p in net.parameters())
        loss.backward()
        opt.step()
    w = {k: v.detach().numpy().astype(np.float64) for k, v in net.state_dict().items()}
    return Mlp({"w1": w["0.weight"].T, "b1": w["0.bias"], "w2": w["2.weight"].T, "b2": w["2.bias"],
                "x_mean": xm, "x_std": xs, "y_mean": ym, "y_std": ys}, decay)


def fit_mlp(x: np.ndarray, y: np.ndarray, k: int = 5, seed: int = 0, weights: np.ndarray | None = None) -> Mlp:
    """The MLP whose weight decay gives the least (weighted) squared error over k folds,
    refitted on all rows."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, np.float64)
    if len(x) < 2 * k:
        raise EmbedsearchError(f"a bridge needs at least {2 * k} movies to fit, got {len(x)}")
    sse = np.zeros(len(MLP_DECAYS))
    for test in folds(len(x), k, seed):
        train = np.setdiff1d(np.arange(len(x)), test)
        for j, d in enumerate(MLP_DECAYS):
            pred = _train_mlp(x[train], y[train], w[train], d, seed)(x[test])
            sse[j] += float((w[test, None] * (pred - y[test]) ** 2).sum())
    best = int(np.argmin(sse))
    mlp = _train_mlp(x, y, w, MLP_DECAYS[best], seed)
    mlp.cv_r2 = 1 - sse[best] / float((w[:, None] * (y - np.average(y, axis=0, weights=w)) ** 2).sum())
    return mlp


def fit_map(x: np.ndarray, y: np.ndarray, kind: str = "ridge", seed: int = 0, weights: np.ndarray | None = None):
    """A map from language rows x (n, d) to CF rows y (n, f [+1]) of the given kind; each
    movie's error counts `weights[i]` times (its number of ratings: the factors of a movie
    rated 300 times are known far better than those of one rated 10 times, and rating
    error is counted per rating)."""
    if kind == "ridge":
        return fit_ridge(x, y, seed=seed, weights=weights)
    if kind == "mlp":
        return fit_mlp(x, y, seed=seed, weights=weights)
    raise EmbedsearchError(f"unknown bridge kind {kind!r}; use {' or '.join(KINDS)}")


def cf_targets(factors: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """(n, f [+1]): what a bridge predicts, the item factors with the item bias beside them."""
    return np.hstack([factors, bias[:, None]]) if bias is not None else np.asarray(factors)


def split_targets(y: np.ndarray, has_bias: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(factors (n, f), bias (n,) or None) from a bridge's output rows."""
    return (y[:, :-1], y[:, -1]) if has_bias else (y, None)


def score(user_factors: np.ndarray, user_bias: np.ndarray | None, item_factors: np.ndarray,
          item_bias: np.ndarray | None, y_range: tuple[float, float] | None) -> np.ndarray:
    """(users, items) predicted ratings, the model's own formula on given rows: p·q (+ c + b),
    squashed into y_range for the bias model."""
    x = np.asarray(user_factors, np.float64) @ np.asarray(item_factors, np.float64).T  # (users, items)
    if user_bias is not None:
        x = x + np.asarray(user_bias, np.float64)[:, None]
    if item_bias is not None:
        x = x + np.asarray(item_bias, np.float64)[None, :]
    if y_range is not None:
        lo, hi = y_range
        x = 1 / (1 + np.exp(-x)) * (hi - lo) + lo
    return x


# ---------------------------------------------------------------- on a saved model


@dataclass
class Bridge:
    """A fitted bridge of a saved model: the language table it reads and the map."""

    table: str
    map: object  # LinearMap or Mlp
    has_bias: bool
    entry: dict  # what the manifest records

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(factors (n, f), bias (n,) or None) for language rows x (n, d)."""
        return split_targets(np.atleast_2d(self.map(x)), self.has_bias)


def _cf_parts(saved: SavedModel) -> tuple[np.ndarray, np.ndarray | None]:
    if saved.kind == "nn":
        raise EmbedsearchError(f"model {saved.name!r} is an 'nn' model: its items are not scored by a dot product, "
                               "so a bridge cannot stand in for them; train with --model bias or dot")
    bias = saved.model.item_bias.weight.detach().numpy()[:, 0] if saved.kind == "bias" else None
    return saved.item_factors(), bias


def language_table(home: Home | Path | str, saved: SavedModel, name: str, progress=None):
    """The language table NAME, built from the model's MovieLens folder the first time when
    it is one of the movie tables `compare` derives (movies-minilm, movies-glove)."""
    from embedsearch.tables.movies import ENCODER_TABLE, GLOVE_TABLE
    from embedsearch.tables.registry import open_table, read_registry

    if name in (ENCODER_TABLE, GLOVE_TABLE) and name not in read_registry(home):
        from embedsearch.tables.compare import build_movie_tables

        folder = Path(saved.manifest.get("source", ""))
        if not (folder / "u.item").is_file():
            raise EmbedsearchError(f"table {name!r} is made from a MovieLens folder with u.item; model "
                                   f"{saved.name!r} was trained on {folder}, which has none")
        return build_movie_tables(home, folder, progress)[name]
    return open_table(home, name)


def fit_bridge(home: Home | Path | str, model: str, table: str = DEFAULT_TABLE, kind: str = "ridge",
               min_ratings: int = MIN_RATINGS, seed: int = 0, progress=None) -> dict:
    """Fit a bridge from `table` to model's item factors and biases on the movies both know
    (with at least `min_ratings` ratings), store it in the model's folder, and report it:
    movies used, the penalty chosen, cross-validated R² overall and per CF factor."""
    home = Home.of(home)
    if kind not in KINDS:
        raise EmbedsearchError(f"unknown bridge kind {kind!r}; use {' or '.join(KINDS)}")
    if min_ratings < 0:
        raise EmbedsearchError(f"--min-ratings must not be negative, got {min_ratings}")
    saved = load_model(home, model)
    factors, bias = _cf_parts(saved)
    lang = language_table(home, saved, table, progress)
    rows = lang.rows
    items = [i for i, key in enumerate(saved.item_keys) if key in rows and saved.item_counts[i] >= min_ratings]
    if len(items) < 20:
        raise EmbedsearchError(f"table {table!r} and model {model!r} share {len(items)} movies with at least "
                               f"{min_ratings} ratings; a bridge needs at least 20 (keys must be the model's titles)")
    x = lang.vectors[[rows[saved.item_keys[i]] for i in items]]  # (n, d)
    y = cf_targets(factors[items], bias[items] if bias is not None else None)  # (n, f [+1])
    w = saved.item_counts[items].astype(np.float64)
    fitted = fit_map(x, y, kind, seed, w)
    held = cross_validated(x, y, "ridge", seed=seed, weights=w) if kind == "ridge" else None
    r2, per = r2_scores(held, y, w) if held is not None else (fitted.cv_r2, None)
    entry = {
        "table": table, "kind": kind, "movies": len(items), "min_ratings": min_ratings,
        "input_dim": int(x.shape[1]), "factors": int(factors.shape[1]), "bias": bias is not None,
        "penalty": float(fitted.penalty), "cv_r2": float(r2),
        "cv_r2_per_factor": [float(v) for v in per[: factors.shape[1]]] if per is not None else None,
        "cv_r2_bias": float(per[-1]) if per is not None and bias is not None else None,
        "table_source": lang.source, "model_created": saved.manifest.get("created"),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _store(home, saved, table, fitted, entry)
    return {"model": saved.name, **entry}


def _store(home: Home, saved: SavedModel, table: str, fitted, entry: dict) -> None:
    """Write the model folder again with the bridge in it, by the home's folder commit,
    unless the model was retrained meanwhile (then the bridge belongs to factors that are gone)."""
    from embedsearch.home import MANIFEST, check_name

    check_name(table, "table")
    with home.lock(saved.name, "model", wait=COMMIT_WAIT):
        manifest = home.manifest(saved.name, "model")
        if manifest.get("created") != saved.manifest.get("created"):
            raise EmbedsearchError(f"model {saved.name!r} was retrained while the bridge was being fitted; "
                                   "fit it again")
        manifest.setdefault("bridges", {})[table] = entry
        current = home.folder(saved.name, "model")

        def write(tmp: Path) -> None:
            shutil.copytree(current, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(MANIFEST))
            np.savez(tmp / bridge_file(table), **fitted.save())  # top level: the folder commit fsyncs it
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))

        home.replace_folder(current, write)


def bridge_file(table: str) -> str:
    """The file name of the bridge from TABLE inside a model's folder."""
    return f"bridge-{table}.npz"


def read_descriptions(path: str) -> list[str]:
    """New movies from a file, one "Title (Year)|Genre|..." a line ('#' comments and blank
    lines skipped, a UTF-8 byte-order mark dropped); "-" reads standard input."""
    import sys

    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise EmbedsearchError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EmbedsearchError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def load_bridge(saved: SavedModel, table: str | None = None) -> Bridge:
    """The model's bridge from `table` (the only or first one when not named)."""
    if saved.kind == "nn":
        raise EmbedsearchError(f"model {saved.name!r} is an 'nn' model: it does not score movies by a dot product, "
                               "so it cannot place new ones; train with --model bias or dot")
    bridges = saved.manifest.get("bridges") or {}
    if not bridges:
        raise EmbedsearchError(f"model {saved.name!r} has no bridge from a language table; fit one with "
                               f"`embedsearch cf bridge --name {saved.name}`")
    if table is None:
        table = DEFAULT_TABLE if DEFAULT_TABLE in bridges else sorted(bridges)[0]
    if table not in bridges:
        raise unknown("bridge", table, bridges)
    entry = bridges[table]
    path = saved.path / bridge_file(table)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        fitted = (Mlp({k: v for k, v in arrays.items() if k not in ("decay", "kind", "cv_r2")}, float(arrays["decay"]))
                  if str(arrays["kind"]) == "mlp" else LinearMap.load(arrays))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        from embedsearch.errors import Damaged

        raise Damaged(f"bridge {path} is damaged ({type(exc).__name__}: {exc}); fit it again with "
                      f"`embedsearch cf bridge --table {table} --name {saved.name}`") from None
    return Bridge(table, fitted, bool(entry.get("bias")), entry)


@dataclass
class NewItems:
    """Movies placed in CF space through a bridge: keys as given, mapped rows."""

    keys: list[str]
    factors: np.ndarray  # (n, f)
    bias: np.ndarray | None  # (n,)


def new_items(saved: SavedModel, described: list[str], table: str | None = None) -> NewItems:
    """Mapped CF rows for movies described as "Title (Year)|Genre|Genre" (or keys of the
    bridge's language table that the model does not know)."""
    from embedsearch.tables.movies import parse_description

    bridge = load_bridge(saved, table)
    known = _genres(saved)
    movies = [parse_description(text, known) for text in described]
    titles = set(saved.item_keys)
    seen: set[str] = set()
    for m in movies:
        if m.key in titles:
            raise EmbedsearchError(f"{m.key!r} is already a movie of model {saved.name!r}, with factors learned from "
                                   "its ratings; give its title alone to use them")
        if m.key in seen:
            raise EmbedsearchError(f"new movie {m.key!r} is given twice")
        seen.add(m.key)
    x = _language_rows(Home(saved.path.parent), bridge.table, movies)  # (n, d): the model's own home
    if x.shape[1] != bridge.entry["input_dim"]:
        raise EmbedsearchError(f"table {bridge.table!r} now has {x.shape[1]} dims, the bridge was fitted on "
                               f"{bridge.entry['input_dim']}; fit it again")
    f, b = bridge.predict(x)
    return NewItems([m.key for m in movies], f.astype(np.float32), b)


def _language_rows(home: Home | Path | str, table: str, movies) -> np.ndarray:
    """(n, d) rows of new movies in a language table: computed the way the table computed its
    own (movies-minilm, movies-glove), or looked up when the table already has the key."""
    from embedsearch.tables.movies import ENCODER_TABLE, GLOVE_TABLE, encoder_rows, glove_rows
    from embedsearch.tables.registry import open_table

    if table == ENCODER_TABLE:
        return encoder_rows(movies)
    if table == GLOVE_TABLE:
        kept, rows = glove_rows(movies)
        missing = [m.key for m in movies if m not in kept]
        if missing:
            raise EmbedsearchError(f"no word of the title of {missing[0]!r} is in GloVe, so table {table!r} "
                                   "cannot place it; use a bridge from movies-minilm")
        return rows
    lang = open_table(home, table)
    out = []
    for m in movies:
        if m.key not in lang.rows:
            raise EmbedsearchError(f"table {table!r} has no row for {m.key!r} and no way to compute one from text; "
                                   "new movies need a bridge from movies-minilm or movies-glove, or a key of the table")
        out.append(lang.vectors[lang.rows[m.key]])
    return np.asarray(out, dtype=np.float32)


def _genres(saved: SavedModel) -> list[str] | None:
    """The genre names of the model's MovieLens folder (to check a description), if it has them."""
    from embedsearch.tables.movies import read_genres

    folder = Path(saved.manifest.get("source", ""))
    return read_genres(folder) if (folder / "u.genre").is_file() else None
