"""What every table answers: lookup, nearest neighbours, analogies.

Cosine throughout: rows are L2-normalised before any comparison. Neighbours come from an
HNSW graph built on first use and kept under HOME/.tables/NAME/ (keyed by a digest of the
table, so a retrained model or changed file gets a fresh graph), or by brute force with
`exact=True`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedsearch.ann import HnswParams, exact_query, hnsw_query, normalise
from embedsearch.errors import EmbedsearchError
from embedsearch.home import Home
from embedsearch.tables.base import Table



@dataclass
class Lookup:
    """A row, and the proof that it is what the one-hot product picks."""

    table: str
    key: str
    row: int
    vector: np.ndarray  # (d,)
    one_hot_vector: np.ndarray  # (d,) = one_hot(row) @ W
    max_abs_difference: float

    def as_dict(self) -> dict:
        return {"table": self.table, "key": self.key, "row": self.row, "dim": len(self.vector),
                "norm": float(np.linalg.norm(self.vector)), "vector": [float(x) for x in self.vector],
                "one_hot_equal": self.max_abs_difference == 0.0, "max_abs_difference": self.max_abs_difference}


def lookup(table: Table, key: str) -> Lookup:
    """Row `key` by indexing, and again as one_hot(key) @ W: the two must be identical."""
    i = table.row_of(key)
    direct = np.asarray(table.vectors[i], dtype=np.float32)  # (d,)
    one_hot = np.zeros(len(table), dtype=np.float32)  # (n,)
    one_hot[i] = 1.0
    product = one_hot @ np.asarray(table.vectors, dtype=np.float32)  # (n,) @ (n, d) -> (d,)
    return Lookup(table.name, table.keys[i], i, direct, product, float(np.abs(product - direct).max(initial=0.0)))


def time_one_hot(table: Table, row: int, batch: int = 512, repeats: int = 2000) -> dict:
    """Why embeddings are looked up, not multiplied: one_hot(i) @ W against W[i] in PyTorch
    (as nn.Embedding does it), for row `row` and for a seeded batch of `batch` rows:
    whether the batch's products equal its rows, and microseconds per call of each."""
    import time

    import torch
    import torch.nn.functional as F

    w = torch.from_numpy(np.ascontiguousarray(table.vectors, dtype=np.float32))  # (n, d)
    n, idx = w.shape[0], torch.tensor(row)
    rows = torch.randint(0, n, (batch,), generator=torch.Generator().manual_seed(0))  # (batch,)
    with torch.no_grad():
        batch_equal = torch.equal(F.one_hot(rows, n).float() @ w, w[rows])  # (batch, n) @ (n, d) vs (batch, d)

    def timed(fn, k: int) -> float:
        fn()
        t = time.perf_counter()
        for _ in range(k):
            fn()
        return (time.perf_counter() - t) / k * 1e6

    # One thread, as in training: on a busy machine spare threads spin-wait and would time
    # the scheduler (tens of ms) instead of the arithmetic.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            k = max(repeats // 20, 10)
            us = {"one_hot_matmul": timed(lambda: F.one_hot(idx, n).float() @ w, repeats),
                  "lookup": timed(lambda: w[idx], repeats),
                  "batch_one_hot_matmul": timed(lambda: F.one_hot(rows, n).float() @ w, k),
                  "batch_lookup": timed(lambda: w[rows], k)}
    finally:
        torch.set_num_threads(threads)
    return {"batch": batch, "batch_equal": bool(batch_equal), "microseconds": us}


# ---------------------------------------------------------------- neighbours


def hnsw_for(table: Table, home: Home | Path | str, params: HnswParams = HnswParams(),
             progress: Callable[[int], Callable[[int], None]] | None = None):
    """The table's HNSW graph: loaded from HOME/.tables/NAME/ if built for these exact rows,
    else built now (reporting progress) and saved for next time.

    hnsw.json says which rows (their fingerprint), which parameters and which file; the
    file is named by the rows' fingerprint and its own sha256, so a description and a
    graph of other rows or other bytes (two processes saving around a retrain, two builds
    of the same rows racing) can never be paired. hnswlib trusts its file (a damaged one
    loads, and answers wrongly or crashes), so the graph must still hash to the recorded
    sha256 (hashed once, then trusted while its stat identity is unchanged: stamps.py), or
    it is built again. A graph cached before digests were recorded is hashed once and its
    digest added (on a home that cannot be written it is trusted as it was)."""
    from embedsearch.ann import build_hnsw, load_hnsw
    from embedsearch.stamps import digest_matches

    home = Home.of(home)
    folder = home.table_rows(table.name)
    fp = table.fingerprint()
    meta_path = folder / "hnsw.json"
    want = {"fingerprint": fp, "count": len(table), "dim": table.dim, "hnsw": params.as_dict()}
    try:
        meta = json.loads(meta_path.read_text())
        if isinstance(meta, dict) and {k: v for k, v in meta.items() if k not in ("file", "sha256")} == want:
            if "sha256" not in meta:  # cached by an earlier version: its graph was named by the rows alone
                old = folder / f"hnsw-{fp[:16]}.bin"
                index = load_hnsw(old, table.dim, len(table), params.ef_search)
                try:
                    _record_graph(home, folder, old, want)
                except OSError:
                    pass  # a home that cannot be written: trusted as before
                return index
            graph = folder / Path(str(meta["file"])).name
            with open(graph, "rb") as fh:
                intact = digest_matches(fh, str(meta["sha256"]), folder)
            if intact:
                return load_hnsw(graph, table.dim, len(table), params.ef_search)
    except (OSError, ValueError, KeyError, EmbedsearchError):
        pass
    index = build_hnsw(table.unit(), params, progress=progress(len(table)) if progress else None)
    try:  # by the home's commit protocol: a reader finds the old graph or the new one
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".hnsw.{os.getpid()}.bin"
        index.save_index(str(tmp))
        _record_graph(home, folder, tmp, want)
    except OSError:
        pass  # a read-only home: answer anyway, build again next time
    return index


def _record_graph(home: Home, folder: Path, graph: Path, want: dict) -> None:
    """Give `graph` its name (rows' fingerprint and its own sha256), describe it in
    hnsw.json, and remove the graphs no description names any more. Raises OSError on a
    home that cannot be written."""
    from embedsearch.fileio import file_digest, pid_alive

    sha256 = file_digest(graph, "sha256")
    named = folder / f"hnsw-{want['fingerprint'][:16]}-{sha256[:16]}.bin"
    home.commit_file(graph, named)
    home.write_text(folder / "hnsw.json", json.dumps({**want, "file": named.name, "sha256": sha256}))
    for old in folder.glob("hnsw*.bin"):  # graphs of other rows, or of a build that lost a race
        if old != named:
            old.unlink(missing_ok=True)
    for temp in folder.glob(".hnsw.*.bin"):  # a killed build's graph, never saved under its name
        if not pid_alive(temp.name.split(".")[2]):
            temp.unlink(missing_ok=True)


@dataclass
class Neighbour:
    key: str
    row: int
    cosine: float

    def as_dict(self) -> dict:
        return {"key": self.key, "row": self.row, "cosine": round(self.cosine, 6)}


def query_vector(table: Table, key: str | None, vector: Sequence[float] | None) -> tuple[np.ndarray, int | None]:
    """(d,) unit query and the row it came from (to leave out of the answers), from a key or
    from numbers the user gave."""
    if (key is None) == (vector is None):
        raise EmbedsearchError("give a key or --vector, not both" if key is not None else
                               "give a key (or --vector with the numbers of a row) to find the neighbours of")
    if key is not None:
        row = table.row_of(key)
        return table.unit()[row], row
    v = np.asarray(vector, dtype=np.float32)
    if v.ndim != 1 or len(v) != table.dim:
        raise EmbedsearchError(f"the vector has {v.size} values; table {table.name!r} has dimension {table.dim}")
    if not np.isfinite(v).all() or not np.any(v):
        raise EmbedsearchError("the vector must be finite and not all zeros")
    return normalise(v[None, :])[0], None


def neighbours(table: Table, key: str | None = None, vector: Sequence[float] | None = None, k: int = 10,
               exact: bool = False, home: Path | None = None,
               progress: Callable[[int], Callable[[int], None]] | None = None) -> list[Neighbour]:
    """The k keys nearest by cosine to a key (itself left out) or to a vector."""
    if k < 1:
        raise EmbedsearchError(f"-k must be at least 1, got {k}")
    q, skip = query_vector(table, key, vector)
    want = min(k + (skip is not None), len(table))
    if exact or home is None:
        ids, scores = exact_query(table.unit(), q, want)
    else:
        ids, scores = hnsw_query(hnsw_for(table, home, progress=progress), q, want)
    out = [Neighbour(table.keys[i], int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != skip]
    return out[:k]


# ---------------------------------------------------------------- analogies


@dataclass
class Analogy:
    """a - b + c, answered two ways (Levy & Goldberg 2014)."""

    inputs: tuple[str, str, str]
    add: list[Neighbour]  # 3CosAdd: cos(x, a) - cos(x, b) + cos(x, c)
    mul: list[Neighbour]  # 3CosMul: cos'(x, a) * cos'(x, c) / (cos'(x, b) + eps), cos' = (cos + 1) / 2

    def as_dict(self) -> dict:
        """For JSON: `cos_add` and `cos_mul`, each a list of {key, row, score}; a score, not a
        cosine (cos(x, a) - cos(x, b) + cos(x, c), and the 3CosMul ratio)."""
        def ranked(found: list[Neighbour]) -> list[dict]:
            return [{"key": n.key, "row": n.row, "score": round(n.cosine, 6)} for n in found]

        return {"a": self.inputs[0], "b": self.inputs[1], "c": self.inputs[2],
                "cos_add": ranked(self.add), "cos_mul": ranked(self.mul)}


MUL_EPS = 1e-3


def analogy_scores(unit: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                   methods: Sequence[str] = ("add", "mul")) -> dict[str, np.ndarray]:
    """Scores of every row of `unit` (n, d) for a batch of questions "a - b + c", given the
    questions' unit vectors a, b, c, each (q, d).

    3CosAdd needs one matrix product (the three cosines add up to the cosine with the summed
    query, up to a positive factor per question, so the ranking is the same); 3CosMul needs
    the three cosines separately. Returns {method: (q, n) scores}; the input rows are not
    excluded here."""
    out: dict[str, np.ndarray] = {}
    if "mul" in methods:
        cos = np.stack([a, b, c]) @ unit.T  # (3, q, d) @ (d, n) -> (3, q, n)
        if "add" in methods:
            out["add"] = cos[0] - cos[1] + cos[2]  # (q, n)
        cos += 1.0
        cos *= 0.5  # cosines shifted into [0, 1], as 3CosMul needs
        out["mul"] = cos[0] * cos[2] / (cos[1] + MUL_EPS)  # (q, n)
    elif "add" in methods:
        out["add"] = (a - b + c) @ unit.T  # (q, d) @ (d, n) -> (q, n)
    else:
        raise EmbedsearchError(f"unknown analogy methods {list(methods)}; use add and/or mul")
    return out


def analogy(table: Table, a: str, b: str, c: str, k: int = 5, restrict: int | None = None) -> Analogy:
    """a - b + c (king - man + woman): the top k keys by 3CosAdd and by 3CosMul, leaving out the
    three input keys, over the first `restrict` rows (the most frequent words in GloVe)."""
    if k < 1:
        raise EmbedsearchError(f"-k must be at least 1, got {k}")
    rows = [table.row_of(w) for w in (a, b, c)]
    n = min(restrict or len(table), len(table))
    unit = table.unit()
    scores = analogy_scores(unit[:n], *(unit[r][None, :] for r in rows))
    result = {}
    for method, s in scores.items():
        s = s[0].copy()  # (n,)
        for r in rows:
            if r < n:
                s[r] = -np.inf
        top = np.argsort(-s, kind="stable")[:k]
        result[method] = [Neighbour(table.keys[i], int(i), float(s[i])) for i in top if np.isfinite(s[i])]
    return Analogy((table.keys[rows[0]], table.keys[rows[1]], table.keys[rows[2]]), result["add"], result["mul"])


def analogy_best(unit: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, exclude: np.ndarray,
                 methods: Sequence[str] = ("add",), block: int = 8192) -> dict[str, np.ndarray]:
    """The best row of `unit` (n, d) for each question "a - b + c" (a, b, c: (q, d) unit
    vectors), never one of the rows in `exclude` (q, 3); {method: (q,) rows}.

    The vocabulary is scanned in blocks with a running maximum, so the (q, block) scores stay
    in cache instead of writing (q, n) matrices to memory: that is what makes a batched
    evaluation of 20,000 questions over 300,000 words fast on two cores."""
    q = len(a)
    mul = "mul" in methods
    best = {m: np.full(q, -np.inf, dtype=np.float32) for m in methods}
    arg = {m: np.zeros(q, dtype=np.int64) for m in methods}
    query = np.stack([a, b, c]) if mul else (a - b + c)  # (3, q, d) or (q, d)
    rows = np.arange(q)
    for s0 in range(0, len(unit), block):
        u = unit[s0:s0 + block]  # (nb, d)
        scored: dict[str, np.ndarray] = {}
        if mul:
            cos = query @ u.T  # (3, q, nb)
            if "add" in methods:
                scored["add"] = cos[0] - cos[1] + cos[2]  # (q, nb)
            cos += 1.0
            cos *= 0.5
            cos[1] += MUL_EPS
            np.multiply(cos[0], cos[2], out=cos[0])
            np.divide(cos[0], cos[1], out=cos[0])
            scored["mul"] = cos[0]  # (q, nb)
        else:
            scored["add"] = query @ u.T  # (q, nb)
        inside = (exclude >= s0) & (exclude < s0 + len(u))  # (q, 3)
        for m, s in scored.items():
            for col in range(exclude.shape[1]):
                hit = inside[:, col]
                s[rows[hit], exclude[hit, col] - s0] = -np.inf
            top = s.argmax(axis=1)  # (q,)
            val = s[rows, top]
            better = val > best[m]
            best[m][better] = val[better]
            arg[m][better] = top[better] + s0
    return arg


# ---------------------------------------------------------------- gensim's verbs


def similarity(table: Table, a: str, b: str) -> float:
    """Cosine of two keys' rows (gensim's `wv.similarity`)."""
    unit = table.unit()
    return float(unit[table.row_of(a)] @ unit[table.row_of(b)])


@dataclass
class OddOneOut:
    """doesnt_match's answer: the key least like the others, and each key's cosine to the
    mean of all of them (the odd one has the lowest)."""

    odd: str
    cosines: list[tuple[str, float]]  # (key, cosine to the mean), as given

    def as_dict(self) -> dict:
        return {"odd_one_out": self.odd, "cosines": [{"key": k, "cosine": round(c, 6)} for k, c in self.cosines]}


def doesnt_match(table: Table, keys: Sequence[str]) -> OddOneOut:
    """The key furthest from the mean of all the keys' unit rows (gensim's
    `wv.doesnt_match`): "breakfast cereal dinner lunch" -> cereal."""
    if len(keys) < 3:
        raise EmbedsearchError(f"give at least three keys to find the odd one out, got {len(keys)}")
    unit = table.unit()
    rows = [table.row_of(k) for k in keys]
    mean = normalise(unit[rows].mean(axis=0)[None, :])[0]  # (d,)
    cos = unit[rows] @ mean  # (m, d) @ (d,) -> (m,)
    names = [table.keys[r] for r in rows]
    return OddOneOut(names[int(np.argmin(cos))], [(n, float(c)) for n, c in zip(names, cos)])


def most_similar(table: Table, positive: Sequence[str] = (), negative: Sequence[str] = (), k: int = 10,
                 cosmul: bool = False) -> list[Neighbour]:
    """gensim's `most_similar(positive, negative)`: the k keys nearest to the mean of the
    positive keys' unit rows minus the negative ones' (3CosAdd when it is king, woman /
    man), or with `cosmul` the product form (`most_similar_cosmul`, Levy & Goldberg's
    3CosMul); the input keys are never answers."""
    if k < 1:
        raise EmbedsearchError(f"-k must be at least 1, got {k}")
    if not positive and not negative:
        raise EmbedsearchError("give at least one --pos or --neg key")
    unit = table.unit()
    pos, neg = [table.row_of(p) for p in positive], [table.row_of(n) for n in negative]
    if cosmul:
        if not pos:
            raise EmbedsearchError("--cosmul needs at least one --pos key")
        shifted = lambda rows: (unit @ unit[rows].T + 1.0) / 2.0  # (n, d) @ (d, m) -> (n, m), in [0, 1]
        scores = shifted(pos).prod(axis=1) / (shifted(neg).prod(axis=1) + MUL_EPS) if neg else shifted(pos).prod(axis=1)
    else:
        query = unit[pos].sum(axis=0) - unit[neg].sum(axis=0)  # (d,)
        if not np.any(query):
            raise EmbedsearchError("the positive and negative keys cancel out: no direction is left to search")
        scores = unit @ normalise(query[None, :])[0]  # (n, d) @ (d,) -> (n,)
    scores = np.asarray(scores, dtype=np.float64)
    scores[pos + neg] = -np.inf
    top = np.argsort(-scores, kind="stable")[:k]
    return [Neighbour(table.keys[i], int(i), float(scores[i])) for i in top if np.isfinite(scores[i])]
