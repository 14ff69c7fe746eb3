"""Two (or more) tables over the keys they share: do they see the same structure?

For each pair of tables, over their shared keys:
  overlap@k         mean Jaccard of the two k-nearest-neighbour sets of each key
  genre agreement@k per table: the share of a key's k neighbours with a label (genre) in
                    common with it, when labels are known
  linear CKA        centred kernel alignment of the two sets of unit rows (Kornblith et al.
                    2019): 1 = the same geometry up to rotation and scale; unit rows by
                    default, so a CF factor's norm (which carries popularity) does not
                    count; `raw_cka` compares the rows as stored
  cosine Spearman   rank correlation of all pairwise cosine similarities
  R² A->B, B->A     how much of one table a linear map from the other explains: ridge
                    (linmap), every key predicted by a map fitted without it (5 folds, the
                    penalty chosen inside each), on the rows as stored; overall and per
                    column of the target ("language explains X% of the taste space")
Neighbours are searched among the shared keys only, so both tables answer the same question.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedsearch.errors import EmbedsearchError
from embedsearch.correlation import spearman
from embedsearch.home import Home
from embedsearch.tables.base import Table

WELL_KNOWN = ["Star Wars (1977)", "Toy Story (1995)", "Fargo (1996)", "Pulp Fiction (1994)",
              "Godfather, The (1972)", "Titanic (1997)", "Silence of the Lambs, The (1991)", "Scream (1996)",
              "Lion King, The (1994)", "Casablanca (1942)", "Aliens (1986)", "Sound of Music, The (1965)"]


@dataclass
class PairReport:
    a: str
    b: str
    shared: int  # keys both tables have
    used: int  # keys measured (capped by max_keys)
    k: int
    overlap: float
    cka: float
    cosine_spearman: float | None
    genre_agreement: dict[str, float] = field(default_factory=dict)  # table -> share
    cka_rows: str = "unit"  # what CKA was computed on: "unit" rows or "raw" rows
    r2_a_to_b: float | None = None
    r2_b_to_a: float | None = None
    r2_per_dim_a_to_b: list[float] | None = None
    r2_per_dim_b_to_a: list[float] | None = None

    def as_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "shared_keys": self.shared, "keys_used": self.used, "k": self.k,
                "overlap": self.overlap, "linear_cka": self.cka, "cosine_spearman": self.cosine_spearman,
                "genre_agreement": self.genre_agreement or None, "cka_rows": self.cka_rows,  # both at k
                "r2_a_to_b": self.r2_a_to_b, "r2_b_to_a": self.r2_b_to_a,
                "r2_per_dim_a_to_b": self.r2_per_dim_a_to_b, "r2_per_dim_b_to_a": self.r2_per_dim_b_to_a}


@dataclass
class CompareReport:
    tables: list[str]
    pairs: list[PairReport]
    picture: str | None = None

    def as_dict(self) -> dict:
        return {"tables": self.tables, "pairs": [p.as_dict() for p in self.pairs], "picture": self.picture}


def shared_keys(tables: list[Table]) -> list[str]:
    """Keys every table has, in the first table's order."""
    others = [set(t.keys) for t in tables[1:]]
    return [k for k in dict.fromkeys(tables[0].keys) if all(k in o for o in others)]


def knn(unit: np.ndarray, k: int) -> np.ndarray:
    """(n, k) rows of each row's k nearest others by cosine (itself excluded), brute force."""
    from embedsearch.ann import exact_query

    out = np.empty((len(unit), k), dtype=np.int64)
    for s in range(0, len(unit), 1024):
        ids, _ = exact_query(unit, unit[s:s + 1024], k + 1)  # (b, k + 1)
        for j, row in enumerate(ids):
            row = row[row != s + j][:k]
            out[s + j] = row
    return out


def jaccard_overlap(na: np.ndarray, nb: np.ndarray) -> float:
    """Mean over rows of |A ∩ B| / |A ∪ B| for the neighbour sets (n, k)."""
    scores = [len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(na.tolist(), nb.tolist())]
    return float(np.mean(scores)) if scores else 0.0


def genre_agreement(neigh: np.ndarray, keys: list[str], labels: dict[str, list[str]]) -> float | None:
    """Mean share of a key's neighbours that share at least one label with it (keys with labels)."""
    shares = []
    for i, row in enumerate(neigh.tolist()):
        mine = set(labels.get(keys[i], ()))
        if not mine:
            continue
        shares.append(np.mean([bool(mine & set(labels.get(keys[j], ()))) for j in row]))
    return float(np.mean(shares)) if shares else None


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of (n, d1) and (n, d2): ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    cross = np.linalg.norm(y.T @ x) ** 2  # (d2, d1)
    denom = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(cross / denom) if denom > 0 else 0.0


def cosine_spearman(ua: np.ndarray, ub: np.ndarray) -> float | None:
    """Spearman correlation of the n(n-1)/2 pairwise cosines of the same keys in two tables."""
    iu = np.triu_indices(len(ua), k=1)
    return spearman((ua @ ua.T)[iu], (ub @ ub.T)[iu])  # (n, n) -> (n(n-1)/2,)


def mapped_r2(x: np.ndarray, y: np.ndarray) -> tuple[float, list[float], np.ndarray]:
    """(overall R², R² per column of y, the out-of-fold predictions (n, d_y)) of a ridge map
    x -> y, each row predicted by a map fitted without it."""
    from embedsearch.linmap import cross_validated, r2_scores

    held = cross_validated(x, y, "ridge")
    overall, per = r2_scores(held, y)
    return overall, [float(v) for v in per], held


def compare_tables(tables: list[Table], k: int = 10, max_keys: int = 3000,
                   picture: str | Path | None = None, highlight: list[str] | None = None,
                   raw_cka: bool = False) -> CompareReport:
    """Every pair of tables over their shared keys (at most `max_keys` of them, the first in the
    first table's order), and optionally a side-by-side PCA picture of all of them. CKA
    compares unit rows unless `raw_cka` (then the rows as stored, norms included); R² maps
    the rows as stored."""
    from embedsearch.ann import normalise

    if len(tables) < 2:
        raise EmbedsearchError("compare needs at least two tables")
    if k < 1:
        raise EmbedsearchError(f"-k must be at least 1, got {k}")
    labels: dict[str, list[str]] = {}
    for t in tables:
        for key, ls in (t.labels or {}).items():
            labels.setdefault(key, ls)
    pairs = []
    mapped: dict[tuple[str, str], tuple[list[str], np.ndarray]] = {}  # (from, to) -> keys, predicted rows
    for ta, tb in itertools.combinations(tables, 2):
        keys = shared_keys([ta, tb])
        if len(keys) <= k:
            raise EmbedsearchError(
                f"tables {ta.name!r} and {tb.name!r} share {len(keys)} keys; comparing neighbours@{k} "
                f"needs more than {k}" + (" (they have no keys in common)" if not keys else ""))
        used = keys[:max_keys]
        if len(used) <= k + 5:
            raise EmbedsearchError(f"--max-keys {max_keys} leaves {len(used)} of the {len(keys)} shared keys; "
                                   f"comparing neighbours@{k} and fitting maps need more than {k + 5}")
        ua = normalise(ta.subset(used).vectors)  # (m, da)
        ub = normalise(tb.subset(used).vectors)  # (m, db)
        na, nb = knn(ua, k), knn(ub, k)
        genres = {}
        if labels:
            for t, n in ((ta, na), (tb, nb)):
                g = genre_agreement(n, used, labels)
                if g is not None:
                    genres[t.name] = g
        cka = (linear_cka(ta.subset(used).vectors, tb.subset(used).vectors) if raw_cka  # (m, da), (m, db)
               else linear_cka(ua, ub))
        xa, xb = ta.subset(used).vectors, tb.subset(used).vectors  # (m, da), (m, db)
        r2_ab, per_ab, held_ab = mapped_r2(xa, xb)
        r2_ba, per_ba, held_ba = mapped_r2(xb, xa)
        mapped[(ta.name, tb.name)], mapped[(tb.name, ta.name)] = (used, held_ab), (used, held_ba)
        pairs.append(PairReport(ta.name, tb.name, len(keys), len(used), k, jaccard_overlap(na, nb),
                                cka, cosine_spearman(ua, ub), genres, "raw" if raw_cka else "unit",
                                r2_ab, r2_ba, per_ab, per_ba))
    report = CompareReport([t.name for t in tables], pairs)
    if picture:
        report.picture = str(pca_picture(tables, Path(picture), labels, highlight, max_keys, mapped))
    return report


def pca2(x: np.ndarray) -> np.ndarray:
    """(n, d) -> (n, 2): the first two principal components (SVD of the centred rows)."""
    return pca_basis(x)(x)


def pca_basis(x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The projection (m, d) -> (m, 2) onto the first two principal components of x (n, d)."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return lambda rows: (np.asarray(rows, dtype=np.float64) - mean) @ vt[:2].T


def pca_picture(tables: list[Table], path: Path, labels: dict[str, list[str]] | None = None,
                highlight: list[str] | None = None, max_keys: int = 3000,
                mapped: dict[tuple[str, str], tuple[list[str], np.ndarray]] | None = None) -> Path:
    """One PCA scatter per table, side by side, of the same keys; coloured by first label
    (genre) and with a few well-known keys written next to their points. With `mapped`
    (out-of-fold predictions of a ridge map), the first table's panel also shows where the
    map from the second table puts those keys: a hollow ring joined to the learned point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from embedsearch.ann import normalise

    keys = shared_keys(tables)[:max_keys]
    if len(keys) < 3:
        raise EmbedsearchError(f"the tables share {len(keys)} keys; a picture needs at least 3")
    labels = labels or {}
    first = [(labels.get(k) or ["(none)"])[0] for k in keys]
    groups = sorted(set(first), key=lambda g: -first.count(g))
    cmap = plt.get_cmap("tab20")
    colour = {g: cmap(i % 20) for i, g in enumerate(groups)}
    marks = [h for h in (highlight if highlight is not None else WELL_KNOWN) if h in set(keys)]
    if not marks:  # word tables: the first (most frequent) shared keys
        marks = keys[:8]
    index = {k: i for i, k in enumerate(keys)}
    fig, axes = plt.subplots(1, len(tables), figsize=(6 * len(tables), 5.5), squeeze=False)
    for n, (ax, t) in enumerate(zip(axes[0], tables)):
        project = pca_basis(normalise(t.subset(keys).vectors))
        xy = project(normalise(t.subset(keys).vectors))  # (m, 2)
        if n == 0 and mapped and (tables[1].name, t.name) in mapped:
            m_keys, held = mapped[(tables[1].name, t.name)]
            at = {kk: i for i, kk in enumerate(m_keys)}
            shown = [m for m in marks if m in at]
            if shown:
                guess = project(normalise(held[[at[m] for m in shown]].astype(np.float32)))  # (s, 2)
                for m, (gx, gy) in zip(shown, guess):
                    i = index[m]
                    ax.plot([xy[i, 0], gx], [xy[i, 1], gy], color="grey", linewidth=0.7)
                ax.scatter(guess[:, 0], guess[:, 1], s=30, facecolors="none", edgecolors="black",
                           label=f"mapped from {tables[1].name}")
        for g in groups:
            sel = [i for i, f in enumerate(first) if f == g]
            ax.scatter(xy[sel, 0], xy[sel, 1], s=6, alpha=0.6, color=colour[g], label=g if labels else None)
        for m in marks:
            i = index[m]
            ax.scatter(xy[i, 0], xy[i, 1], s=22, color="black")
            ax.annotate(m, xy[i], fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_title(f"{t.name} ({t.dim} dims)")
        ax.set_xticks([])
        ax.set_yticks([])
    if labels:
        handles, names = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, names, loc="lower center", ncol=min(len(groups), 10), fontsize=7, markerscale=2)
    fig.suptitle(f"{len(keys)} shared keys, first two principal components, coloured by first genre"
                 if labels else f"{len(keys)} shared keys, first two principal components")
    fig.tight_layout(rect=(0, 0.08 if labels else 0, 1, 0.95))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def movie_tables(home: Path, cf_model: str | None, data: str | None, progress=None,
                 limit: int | None = None) -> list[Table]:
    """The same movies three ways: CF item factors, the sentence encoder on "title (year):
    genres", GloVe averaged over title words. Uses the named CF model (or the only/first one)."""
    from embedsearch.cf.saved import list_models
    from embedsearch.tables.movies import movie_folder
    from embedsearch.tables.registry import open_table

    models = list_models(home)
    if cf_model is None:
        if not models:
            raise EmbedsearchError(f"no trained CF model in {home}; train one with `embedsearch cf train`, "
                                   "or name two tables to compare")
        cf_model = models[0]
    cf = open_table(home, f"{cf_model}-items")
    if data is None:
        src = Path(_cf_source(home, cf_model))
        data = str(src) if (src / "u.item").is_file() else None
    built = build_movie_tables(home, movie_folder(data), progress, limit)
    return [cf, *built.values()]


def _cf_source(home: Home | Path | str, model: str) -> str:
    return (Home.of(home).peek(model) or {}).get("source", "")


def build_movie_tables(home: Home | Path | str, folder: Path,
                       progress: Callable[[int], Callable[[int], None]] | None = None,
                       limit: int | None = None) -> dict:
    """Build (or reuse) movies-minilm and movies-glove from a MovieLens folder; returns
    {name: Table}. Reused when the same folder and movie count made them before.
    `progress(total)` returns the callback the encoder advances."""
    from embedsearch.tables.movies import ENCODER_TABLE, GLOVE_TABLE, encoder_rows, glove_rows, read_movies
    from embedsearch.tables.registry import open_table, read_registry, register_derived

    movies = read_movies(folder)
    if limit:
        movies = movies[:limit]
    stamp = {"folder": str(Path(folder).resolve()), "movies": len(movies)}
    labels = {m.key: m.genres for m in movies}
    reg = read_registry(home)
    out = {}
    for name in (ENCODER_TABLE, GLOVE_TABLE):
        if reg.get(name, {}).get("stamp") == stamp:
            try:
                out[name] = open_table(home, name)
                continue
            except EmbedsearchError:
                pass
        if name == ENCODER_TABLE:
            vectors = encoder_rows(movies, progress(len(movies)) if progress else None)
            keys = [m.key for m in movies]
            source = f"all-MiniLM-L6-v2 on 'title (year): genres' of {len(movies)} movies in {folder}"
        else:
            kept, vectors = glove_rows(movies)
            keys = [m.key for m in kept]
            source = f"mean GloVe 6B 50d vector of the title words of {len(kept)} movies in {folder}"
        out[name] = register_derived(home, name, keys, vectors, source, {k: labels[k] for k in keys}, stamp)
    return out


def table_map(table: Table, limit: int = 3000) -> dict:
    """A 2-D map of a table for a picture a person explores: the first `limit` keys (a
    table's own order: most frequent words first, every movie), their first two principal
    components of the unit rows, and each key's first label (genre) when known."""
    from embedsearch.ann import normalise

    keys = list(dict.fromkeys(table.keys))[:limit]
    if len(keys) < 3:
        raise EmbedsearchError(f"table {table.name!r} has {len(keys)} keys; a map needs at least 3")
    xy = pca2(normalise(table.subset(keys).vectors))  # (m, 2)
    labels = table.labels or {}
    return {"table": table.name, "keys": keys, "x": xy[:, 0].round(5).tolist(), "y": xy[:, 1].round(5).tolist(),
            "labels": [(labels.get(k) or [None])[0] for k in keys]}


def side_by_side(a: Table, b: Table, k: int = 10, max_keys: int = 3000) -> dict:
    """Two maps of the keys two tables share, for linked selection: each key's 2-D position
    in both, its k nearest neighbours (among the shared keys) in both, and the pair's
    figures from `compare_tables` (overlap, CKA, cosine Spearman, R² each way)."""
    from embedsearch.ann import normalise

    report = compare_tables([a, b], k=k, max_keys=max_keys).pairs[0]
    keys = shared_keys([a, b])[:max_keys]
    out = {"keys": keys, "figures": report.as_dict(), "labels": [None] * len(keys)}
    labels = {**(b.labels or {}), **(a.labels or {})}
    out["labels"] = [(labels.get(key) or [None])[0] for key in keys]
    for side, t in (("a", a), ("b", b)):
        unit = normalise(t.subset(keys).vectors)  # (m, d)
        xy = pca2(unit)  # (m, 2)
        out[side] = {"table": t.name, "x": xy[:, 0].round(5).tolist(), "y": xy[:, 1].round(5).tolist(),
                     "neighbours": knn(unit, k).tolist()}
    return out
