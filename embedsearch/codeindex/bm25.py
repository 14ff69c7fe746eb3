"""SQLite FTS5's BM25 over an index's `lexical` table, held in memory for a long-lived reader.

A one-off search asks FTS5 (store.Index.lexical): nothing to load. A server asks thousands
of queries of the same generation, and FTS5 spends about 7 ms a query on the 24,045-chunk
standard-library index computing `bm25()` row by row for every row that matches any word.
`Postings` reads the same index once (the fts5vocab view of it: every token of every row,
so the tokens are FTS5's own) and then answers in well under a millisecond with numpy.

The scores are FTS5's, term for term (fts5_aux.c, fts5Bm25Function): for each query
term t in a row D,

    idf(t) · f·(k1 + 1) / (f + k1·(1 − b + b·|D| / avgdl)),   k1 = 1.2, b = 0.75

where f is the count of t in D with each column's count multiplied by its weight, |D| is
D's token count over all columns (unweighted), avgdl the mean of |D| over all rows, and
idf(t) = ln((N − n(t) + 0.5) / (n(t) + 0.5)), or 1e-6 where that is not positive (n(t): rows
holding t). FTS5 returns the negated sum; `search` returns it positive, as Index.lexical
does. tests/test_bm25.py holds the two to the same ranking and scores.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

K1, B = 1.2, 0.75


class Postings:
    """For each term, the rows holding it and its column-weighted count in each, plus each
    row's length: all that BM25 reads."""

    def __init__(self, rows: int, lengths: np.ndarray, postings: dict[str, tuple[np.ndarray, np.ndarray]]):
        self.rows = rows  # N: rows of the FTS5 table
        avgdl = float(lengths.sum()) / rows if rows else 1.0
        self._norm = K1 * (1 - B + B * lengths / (avgdl or 1.0))  # (N,) per-row denominator term
        self._postings = postings  # term -> ((n,) int64 row ids, (n,) float64 weighted counts)

    @classmethod
    def read(cls, items_db: Path, table: str, weights: tuple[float, ...], columns: tuple[str, ...]) -> "Postings":
        """Read the FTS5 table `table` of the SQLite file `items_db` (read-only, on a
        connection of its own, so it may run on any thread). `weights` are the columns'
        BM25 weights, in `columns` order, as passed to bm25()."""
        db = sqlite3.connect(f"file:{items_db}?mode=ro", uri=True)
        try:
            vocab = "embedsearch_vocab"  # in this connection's temp schema, gone at close
            db.execute(f"CREATE VIRTUAL TABLE temp.{vocab} USING fts5vocab(main, '{table}', 'instance')")
            weight_of = " ".join(f"WHEN '{c}' THEN {float(w)!r}" for c, w in zip(columns, weights))
            rows = int(db.execute(f"SELECT count(*) FROM {table}_docsize").fetchone()[0])
            last = int(db.execute(f"SELECT coalesce(max(id), -1) FROM {table}_docsize").fetchone()[0])
            lengths = np.zeros(max(last + 1, 0), dtype=np.float64)
            postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            term, docs, freqs = None, [], []
            # instance rows come ordered by term, then row: one pass, grouped in SQLite
            for t, doc, f, n in db.execute(
                    f"SELECT term, doc, sum(CASE col {weight_of} ELSE 1.0 END), count(*) FROM temp.{vocab} "
                    "GROUP BY term, doc ORDER BY term, doc"):
                if t != term:
                    if term is not None:
                        postings[term] = (np.array(docs, dtype=np.int64), np.array(freqs, dtype=np.float64))
                    term, docs, freqs = t, [], []
                docs.append(doc)
                freqs.append(f)
                lengths[doc] += n
            if term is not None:
                postings[term] = (np.array(docs, dtype=np.int64), np.array(freqs, dtype=np.float64))
        finally:
            db.close()
        return cls(rows, lengths, postings)

    def search(self, terms: list[str], limit: int) -> list[tuple[int, float]]:
        """(row id, BM25 score, higher is better) of the `limit` best rows holding any of
        `terms`, best first (ties by row id): what `Index.lexical` answers through FTS5."""
        found = [self._postings[t] for t in dict.fromkeys(terms) if t in self._postings]
        if not found or limit <= 0:
            return []
        scores = np.zeros(len(self._norm), dtype=np.float64)
        for docs, f in found:
            n = len(docs)
            idf = np.log((self.rows - n + 0.5) / (n + 0.5))
            if idf <= 0.0:
                idf = 1e-6
            scores[docs] += idf * (f * (K1 + 1.0)) / (f + self._norm[docs])
        matched = np.flatnonzero(scores)  # (m,) sorted row ids: every term adds more than 0
        s = scores[matched]
        if len(matched) > limit:
            kth = np.partition(s, len(s) - limit)[len(s) - limit]  # the limit-th best score
            keep = s >= kth  # every row tied with it too, so that ties are cut by row id below
            matched, s = matched[keep], s[keep]
        order = np.lexsort((matched, -s))[:limit]
        return [(int(i), float(v)) for i, v in zip(matched[order], s[order])]
