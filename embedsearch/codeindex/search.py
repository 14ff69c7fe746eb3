"""Answer queries against an index: plain-English search and "code like this" lookup.

HNSW gives the answer by default; `exact=True` scores every row, which is how the HNSW
answer is checked. Queries are encoded with the very encoder that built the index, and a
request for another encoder is refused, because scores across encoders mean nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from embedsearch.ann import exact_query, hnsw_query
from embedsearch.errors import EmbedsearchError, UnknownName
from embedsearch.codeindex.filters import Filters
from embedsearch.home import Home
from embedsearch.codeindex.representation import clean_query, lexical_terms
from embedsearch.codeindex.rerank import POOL as RERANK_POOL
from embedsearch.codeindex.rerank import Candidate
from embedsearch.codeindex.rerank import rerank as rerank_candidates
from embedsearch.codeindex.shards import is_sharded, shards
from embedsearch.codeindex.store import Index, Item

POOL = 100  # candidates taken from each ranking before fusing and folding
# A query is read up to here: the encoder sees 256 word pieces of it anyway, and a pasted
# megabyte would otherwise cost seconds of tokenising and stemming (1 MB: 1.5 s; now 0.37 s)
MAX_QUERY_CHARS = 10_000
# Under a filter that few rows pass, those rows are searched exactly (a matrix product over
# at most this many rows read from the verified graph) rather than through the graph
FILTER_EXACT_BELOW = 5_000
LEXICAL_LIMIT = 5_000  # BM25 matches read when a filter leaves out most of them


@dataclass(kw_only=True, repr=False)
class Hit(Item):
    """An item as a search answers with it: its `rank` (1 = best; 0 for the chunk a
    `similar` started from), its `score` and the dense part of it (`cosine`), the path to
    show, and, when asked, what each ranking feature added (`explain`)."""

    rank: int
    score: float
    display: str = ""
    cosine: float = 0.0  # the dense part of `score` (equal to it when no lexical fusion)
    explain: dict[str, float] | None = None  # what each ranking feature added to `score`, when asked
    via: str | None = None  # the nested function whose match ranked this one (see fold_nested)

    FIELDS = ("rank", "score", "id", "path", "start_line", "end_line", "kind", "name", "text", "meta", "display",
              "cosine", "explain", "via")  # as_dict's keys, in order (JSON output; `hash`, `doc`, `params` stay out)

    def __repr__(self) -> str:
        return (f"Hit(rank={self.rank}, score={self.score:.4f}, {self.kind} {self.name!r} at "
                f"{self.display or self.path}:{self.start_line}-{self.end_line})")

    def as_dict(self) -> dict:
        """The hit for JSON, scores to 4 decimals (a hit keeps them whole, so shards merge exactly)."""
        d = {key: getattr(self, key) for key in self.FIELDS}
        d["score"], d["cosine"] = round(self.score, 4), round(self.cosine, 4)
        d["meta"] = dict(self.meta)
        for key in ("explain", "via"):
            if d[key] is None:
                del d[key]
            elif key == "explain":
                d[key] = dict(d[key])
        return d


def display_path(path: str, sources: list[str] = ()) -> str:
    """A short path for people: relative to the working folder when it lies below it, else
    relative to the folder above the indexed source it came from (json/decoder.py)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        rel = path
    if not rel.startswith(".."):
        return rel
    for src in sources:
        if path == src:
            return os.path.basename(path)
        if path.startswith(src.rstrip(os.sep) + os.sep):
            return os.path.relpath(path, os.path.dirname(src.rstrip(os.sep)))
    return path


def query_encoder(index: Index, model: str | None = None, long_lived: bool = False):
    """The encoder that built `index`, refusing any other. `long_lived` (a server) prepares
    the encoder for many queries: slower to load, each query faster."""
    from embedsearch.encoding import resolve_encoder

    return resolve_encoder(index.home, model, index.manifest["encoder"], for_queries=True, index_name=index.name,
                           long_lived=long_lived)


def query_vectors(index: Index, encoder, queries: list[str], adapt: bool = True) -> np.ndarray:
    """(len(queries), dim) unit rows for plain-English queries against `index`: the
    encoder's vectors, moved by the query adapter fit for the index's encoder and
    representation when one ships (adapter.py), if the index holds code (definitions) and
    `adapt` is on. Records and prose are searched with plain vectors, as they are not
    re-ranked: both were fit and measured on code. Snippets of code (`similar --text`) are
    encoded plainly too: the adapter maps task words to code."""
    from embedsearch.codeindex.adapter import adapt_queries

    vectors = encoder.encode(queries)
    return adapt_queries(index.manifest, vectors) if adapt and index.has_definitions() else vectors


def nearest(index: Index, vectors: np.ndarray, k: int, exact: bool = False,
            exclude: set[int] | None = None, filters: Filters = Filters()) -> list[list[Hit]]:
    """Top-k hits by cosine per query vector, optionally leaving out some item ids and
    keeping only items that pass `filters`."""
    _check_k(k)
    exclude = exclude or set()
    allowed = index.allowed(filters) if filters.restricts_rows() else None
    ids, scores = _dense(index, vectors, k + len(exclude), exact, allowed)
    out = []
    for row_ids, row_scores in zip(ids.tolist(), scores.tolist()):
        ranked = [Candidate(i, s, s) for i, s in zip(row_ids, row_scores)
                  if i not in exclude and (filters.min_score is None or s >= filters.min_score)][:k]
        out.append(_hits(index, ranked))
    return out


def answer(index: Index, query: str, vector: np.ndarray, k: int, weight: float, exact: bool = False,
           fold: bool = True, rerank: bool = True, pool: int = POOL, explain: bool = False,
           filters: Filters = Filters(), allowed: np.ndarray | None = None) -> list[Hit]:
    """What `embedsearch search` returns for one (cleaned) query and its vector: the top k
    by cosine + weight × BM25 (scaled so the best lexical match scores 1; dense only when
    `weight` is 0), the best of them re-ranked (see rerank.py) unless `rerank` is off or the
    search is dense only, then functions nested in other functions folded into their
    outermost enclosing function unless `fold` is off (see fold_nested). With `explain`,
    each hit says what every ranking feature added to its score. Under `filters` only items
    that pass are candidates (`allowed`, their mask, when the caller computed it already),
    and hits scoring under `filters.min_score` are left out.

    Re-ranking takes max(RERANK_POOL, 2k) candidates and answers from those alone, so that
    folding, which merges some of them, still leaves k."""
    _check_k(k)
    if allowed is None and filters.restricts_rows():
        allowed = index.allowed(filters)
    ranked = candidates(index, query, vector, max(pool, 2 * k), weight, exact, allowed)
    read: list[Item] = []
    if rerank and weight > 0:
        head = ranked[:max(RERANK_POOL, 2 * k)]
        read = index.items([c.id for c in head])
        ranked = rerank_candidates(query, head, read)
    if fold:
        ranked = fold_nested(index, ranked, allowed)
    if filters.min_score is not None:
        ranked = [c for c in ranked if c.score >= filters.min_score]
    return _hits(index, ranked[:k], read, weight if explain else None)


def fold_nested(index: Index, ranked: list[Candidate], allowed: np.ndarray | None = None) -> list[Candidate]:
    """`ranked` (best first) with every function nested in another function or method
    replaced by the outermost one around it, which keeps the better score of the two.

    A closure (a decorator's `wrapper`, a callback) lies inside its enclosing function's
    chunk, and its few lines often match a question better than the whole; but what a
    person looks for is the function that owns it, which a result showing the closure hides
    (the enclosing lines answer as well). Measured in bench/README.md ("Search quality")."""
    outer = index.outermost_functions([c.id for c in ranked])
    folded: dict[int, Candidate] = {}
    for c in ranked:
        j = outer.get(c.id, c.id)
        if allowed is not None and not allowed[j]:  # the owner is filtered out: the nested one answers
            j = c.id
        folded.setdefault(j, c if j == c.id else replace(c, id=j, folded_from=c.id))
    return list(folded.values())


def candidates(index: Index, query: str, vector: np.ndarray, pool: int, weight: float,
               exact: bool, allowed: np.ndarray | None = None) -> list[Candidate]:
    """The `pool` best of each ranking (dense, and BM25 unless `weight` is 0), best first by
    cosine + weight × BM25/best. A lexical candidate the dense search did not return gets
    its exact cosine from its stored row (Index.rows: the HNSW graph's, read and verified at
    open, unless the vectors file was already checked), so a search never has to read and
    hash the vectors file. With `allowed` ((count,) bool),
    both rankings consider only the rows it lets through."""
    ids, scores = _dense(index, vector[None, :], pool, exact, allowed)
    cosine = dict(zip(ids[0].tolist(), scores[0].tolist()))
    terms = lexical_terms(query) if weight > 0 else []
    if terms and allowed is not None:
        lexical = [(i, s) for i, s in index.lexical(terms, LEXICAL_LIMIT) if allowed[i]][:pool]
    else:
        lexical = index.lexical(terms, pool) if terms else []
    best = max((s for _, s in lexical), default=0.0) or 1.0
    missing = [i for i, _ in lexical if i not in cosine]
    if missing:
        rows = index.rows(missing)  # (m, dim)
        cosine.update(zip(missing, (rows @ vector).tolist()))
    lexical_rank = {i: rank for rank, (i, _) in enumerate(lexical)}
    bm25 = {i: s / best for i, s in lexical}
    dense_rank = {i: rank for rank, i in enumerate(sorted(cosine, key=lambda i: -cosine[i]))}
    out = [Candidate(i, c + weight * bm25.get(i, 0.0), c, bm25.get(i, 0.0), dense_rank[i], lexical_rank.get(i))
           for i, c in cosine.items()]
    return sorted(out, key=lambda c: -c.score)


def search(home: Home | Path | str, name: str, queries: list[str] | str, k: int = 10, exact: bool = False,
           model: str | None = None, lexical_weight: float | None = None, explain: bool = False,
           filters: Filters = Filters(), rerank: bool | None = None) -> list[list[Hit]]:
    """Ranked hits for each query, in the order given. Queries lose their reST/Markdown
    markup first (representation.clean_query), and only their first MAX_QUERY_CHARS
    characters are read. The index decides how dense and lexical
    scores are fused unless `lexical_weight` says otherwise (0: dense only). With
    `explain`, each hit carries what every ranking feature added to its score. One query
    given as a string is one query, not a list of characters. `filters` (filters.Filters)
    restrict which items answer; `rerank` None re-ranks code indexes only (the re-ranker was
    fit on code: records and prose keep the fused order), False never, True always."""
    queries = _clean_queries(queries)
    _check_k(k)
    home = Home.of(home)
    if is_sharded(home, name):  # every shard opened, the encoder resolved once for all of them
        opened = [Index(home, shard) for shard in shards(home, name)]
        try:
            encoder = query_encoder(opened[0], model)
            merged = _merged([search_index(ix, encoder, queries, k, exact, lexical_weight, explain, filters, rerank,
                                           check_fields=False) for ix in opened], k)
            if not any(merged):
                _check_where_fields(filters, set().union(*(ix.meta_fields() for ix in opened)))
            return merged
        finally:
            for ix in opened:
                ix.close()
    index = Index(home, name)
    try:
        return search_index(index, query_encoder(index, model), queries, k, exact, lexical_weight, explain, filters,
                            rerank)
    finally:
        index.close()


def _merged(per_shard: list[list[list[Hit]]], k: int) -> list[list[Hit]]:
    """Each query's hits from every shard, merged by score into one top k (ranks renumbered;
    ties keep shard order): with dense scores, exactly one index's answer over the same vectors."""
    out = []
    for q in range(len(per_shard[0])):
        hits = sorted((h for shard in per_shard for h in shard[q]), key=lambda h: -h.score)[:k]
        out.append([replace(h, rank=r) for r, h in enumerate(hits, 1)])
    return out


def _clean_queries(queries: list[str] | str) -> list[str]:
    if isinstance(queries, str):
        queries = [queries]
    if not isinstance(queries, (list, tuple)) or not all(isinstance(q, str) for q in queries):
        raise EmbedsearchError(f"a query is a string (or a list of strings), got {type(queries).__name__}")
    queries = [clean_query(q.strip()[:MAX_QUERY_CHARS]) for q in queries]
    if not queries or any(not q for q in queries):
        raise EmbedsearchError("empty query: say what you are looking for")
    return queries


def search_index(index: Index, encoder, queries: list[str] | str, k: int = 10, exact: bool = False,
                 lexical_weight: float | None = None, explain: bool = False, filters: Filters = Filters(),
                 rerank: bool | None = None, check_fields: bool = True) -> list[list[Hit]]:
    """`search` on an index already open, with its query encoder already resolved: what a
    long-lived process (the server, serving.Workspace) calls, so neither is loaded again
    per query. A `--where` field that no item has is an error naming the fields there are
    (a typo would otherwise answer nothing, silently), unless `check_fields` is off (a shard
    of a set, which the set checks as a whole)."""
    queries = _clean_queries(queries)
    _check_k(k)
    vectors = query_vectors(index, encoder, queries)
    weight = index.manifest["options"].get("lexical_weight", 0.0) if lexical_weight is None else lexical_weight
    if rerank is None:
        rerank = index.has_definitions()
    allowed = index.allowed(filters) if filters.restricts_rows() else None
    if check_fields and filters.where and allowed is not None and not allowed.any():
        _check_where_fields(filters, index.meta_fields())
    return [answer(index, q, v, k, weight, exact, rerank=rerank, explain=explain, filters=filters, allowed=allowed)
            for q, v in zip(queries, vectors)]


def _check_where_fields(filters: Filters, fields: set[str]) -> None:
    """One clear line for a `--where` field no item has (with close names), instead of no hits."""
    from embedsearch.errors import did_you_mean, suggest

    for field, _ in filters.where:
        if field not in fields:
            there = f"; the items' fields: {', '.join(sorted(fields)[:12])}" if fields else "; its items have no fields"
            raise UnknownName(f"no item has the field {field!r}{did_you_mean(suggest(field, sorted(fields)))}"
                              f"{there}")


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise EmbedsearchError(f"k must be a whole number of hits, got {k!r}")
    if k < 1:
        raise EmbedsearchError("k must be at least 1")


def _dense(index: Index, vectors: np.ndarray, n: int, exact: bool,
           allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-n (ids, cosines) per query row (q, dim): HNSW, or exact with `exact`; under a
    filter mask, over the rows it lets through only (exactly when they are few)."""
    if allowed is None:
        if exact:
            return exact_query(index.vectors, vectors, n)
        return hnsw_query(index.hnsw, vectors, n)
    rows = np.flatnonzero(allowed)  # (m,)
    if exact or len(rows) <= FILTER_EXACT_BELOW:
        table = np.asarray(index.vectors)[rows] if exact else np.asarray(index.hnsw.get_items(rows.tolist()), dtype=np.float32)
        top, scores = exact_query(table, vectors, n)  # positions into rows
        return rows[top], scores
    return hnsw_query(index.hnsw, vectors, n, allowed=allowed)


def _hits(index: Index, ranked: list[Candidate], read: list[Item] = (),
          explain_weight: float | None = None) -> list[Hit]:
    """Hits for candidates, best first; items already `read` (the re-ranker's) are not
    fetched again. With `explain_weight` (the lexical weight used), hits are explained."""
    known = {item.id: item for item in read}
    wanted = [c.id for c in ranked] + [c.folded_from for c in ranked if c.folded_from is not None]
    known.update((item.id, item) for item in index.items([i for i in dict.fromkeys(wanted) if i not in known]))
    items = [known[c.id] for c in ranked]
    sources = index.manifest.get("sources", [])
    hits = [_hit(rank, c.score, c.cosine, item, sources) for rank, (c, item) in enumerate(zip(ranked, items), 1)]
    for hit, c in zip(hits, ranked):
        if c.folded_from is not None:  # its score, cosine and explanation are the nested function's
            hit.via = known[c.folded_from].name
    if explain_weight is not None:
        for hit, c in zip(hits, ranked):
            hit.explain = c.explain(explain_weight)
    return hits


def similar(home: Home | Path | str, name: str, path: str | None = None, line: int | None = None,
            text: str | None = None, k: int = 10, exact: bool = False,
            filters: Filters = Filters(), item_id: int | None = None) -> tuple[Hit | None, list[Hit]]:
    """Chunks most like the indexed chunk containing path:line, or the item with id
    `item_id` (a hit's `id`), returned as rank 0; or like a snippet of text; among those
    passing `filters`. The chunk itself is left out of its own answer."""
    if sum(x is not None for x in (path, text, item_id)) != 1:
        raise EmbedsearchError("give one of --path FILE --line N, --id N, or --text SNIPPET")
    home = Home.of(home)
    if is_sharded(home, name):
        return _similar_sharded(home, name, path, line, text, k, exact, filters, item_id)
    index = Index(home, name)
    try:
        return similar_in(index, path, line, text, k, exact, filters, item_id)
    finally:
        index.close()


def _similar_sharded(home: Home, name: str, path, line, text, k, exact, filters, item_id):
    """`similar` over every shard: the chunk (found in the shard holding it) or the snippet
    as one vector, the shards' nearest merged by cosine."""
    if item_id is not None:
        raise EmbedsearchError(f"{name!r} is sharded and ids are per shard: give --path FILE --line N or --text")
    opened = [Index(home, shard) for shard in shards(home, name)]
    try:
        item, vector, exclude = None, None, (None, None)
        if text is not None:
            if not text.strip():
                raise EmbedsearchError("empty snippet")
            vector = query_encoder(opened[0]).encode([text])
        else:
            full = str(Path(path).expanduser().absolute())
            for n, ix in enumerate(opened):
                found = ix.item_at(full, line or 1) if ix.has_path(full) else None
                if found is not None:
                    item = _hit(0, 1.0, 1.0, found, ix.manifest.get("sources", []))
                    vector, exclude = np.asarray(ix.vectors[found.id])[None, :], (n, found.id)
                    break
            if item is None:
                raise EmbedsearchError(f"no indexed chunk of {path} contains line {line} in {name!r}")
        per_shard = [[nearest(ix, vector, k, exact, exclude={exclude[1]} if exclude[0] == n else None,
                              filters=filters)[0]] for n, ix in enumerate(opened)]
        return item, _merged(per_shard, k)[0]
    finally:
        for ix in opened:
            ix.close()


def similar_in(index: Index, path: str | None = None, line: int | None = None, text: str | None = None,
               k: int = 10, exact: bool = False, filters: Filters = Filters(), item_id: int | None = None,
               encoder=None) -> tuple[Hit | None, list[Hit]]:
    """`similar` on an index already open; `encoder` (for a snippet) when already resolved."""
    name = index.name
    if sum(x is not None for x in (path, text, item_id)) != 1:
        raise EmbedsearchError("give one of --path FILE --line N, --id N, or --text SNIPPET")
    if item_id is not None:
        if not 0 <= item_id < index.count:
            raise EmbedsearchError(f"index {name!r} has no item {item_id} (ids are 0 to {index.count - 1})")
        item = index.items([item_id])[0]
        source = _hit(0, 1.0, 1.0, item, index.manifest.get("sources", []))
        vector = np.asarray(index.hnsw.get_items([item_id]), dtype=np.float32)  # (1, dim), the verified graph's row
        return source, nearest(index, vector, k, exact, exclude={item_id}, filters=filters)[0]
    if text is not None:
        if not text.strip():
            raise EmbedsearchError("empty snippet")
        return None, nearest(index, (encoder or query_encoder(index)).encode([text]), k, exact, filters=filters)[0]
    full = str(Path(path).expanduser().absolute())
    if not index.has_path(full):
        raise EmbedsearchError(f"{path} is not in index {name!r}")
    item = index.item_at(full, line or 1)
    if item is None:
        raise EmbedsearchError(f"no indexed chunk of {path} contains line {line}")
    vector = np.asarray(index.vectors[item.id])[None, :]
    source = _hit(0, 1.0, 1.0, item, index.manifest.get("sources", []))
    return source, nearest(index, vector, k, exact, exclude={item.id}, filters=filters)[0]


def _hit(rank: int, score: float, cosine: float, item: Item, sources: list[str]) -> Hit:
    return Hit(**{f.name: getattr(item, f.name) for f in fields(Item)}, rank=rank, score=float(score),
               display=display_path(item.path, sources), cosine=float(cosine))
