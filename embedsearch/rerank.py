"""Re-ranking the best fused candidates with a small linear model over what a reader checks
by eye: how close the meaning is (cosine), how well the words match (BM25, and both ranks),
and whether the candidate's own name says what the question says.

Dense + BM25 fusion often leaves the right function second or third behind a sibling with
the same vocabulary (`is_registered` above `get_plugin` for "Return the plugin registered
under the given name"); the name features break such ties the way a reader would.
The weights were fit by `bench/train_reranker.py` (a listwise softmax over each query's
candidates) on the docstring queries of standard-library packages, and checked on packages
never seen while fitting (bench/README.md, "Search quality"). The cosine's weight is 1, so
score differences read roughly as cosine differences; the score itself only orders results
(the cosine is reported beside it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from embedsearch.representation import words
from embedsearch.store import Item

_SIGNATURE = re.compile(r"def\s+\w+\s*\((.*?)\)\s*(?:->[^:]*)?:", re.S)
_RETURNS_VALUE = re.compile(r"\breturn\s+\S")
POOL = 30  # how many of the best fused candidates are re-ranked

FEATURES = ("cosine", "bm25", "name_cover", "qualname_cover", "name_any", "log_length",
            "dense_rrf", "lexical_rrf", "first_word", "param_cover", "returns_asked")
# Fit by bench/train_reranker.py (see its docstring for the corpus); cosine's weight is 1.
WEIGHTS = (1.0, 0.0743, 0.1042, 0.0805, -0.0557, -0.0074, 0.9066, 1.2473, 0.0876, 0.1125, 0.1714)


@dataclass(frozen=True)
class Candidate:
    """One fused candidate for a query: what orders it and what the re-ranker reads."""

    id: int
    score: float  # what orders the list: cosine + weight × lexical, then the re-ranker's
    cosine: float
    lexical: float = 0.0  # BM25 over the query's best BM25; 0 when no word matched
    dense_rank: int = 0  # place in the cosine order, from 0
    lexical_rank: int | None = None  # place in the BM25 order, None when no word matched


def stem(word: str) -> str:
    """A crude stemmer, enough to meet "returns"/"return" and "parsed"/"parses"/"parse"."""
    if word.endswith(("ss", "us", "is")):  # class, status, this
        return word
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


def parameters(code: str) -> set[str]:
    """Stemmed words of the parameter names of the first `def` in `code` (not self, cls)."""
    match = _SIGNATURE.search(code)
    if not match:
        return set()
    names = (p.split(":")[0].split("=")[0].strip().lstrip("*") for p in match.group(1).split(","))
    return {stem(w) for n in names if n not in ("", "self", "cls") for w in words(n).split()}


def features(query_stems: list[str], candidate: Candidate, item: Item) -> list[float]:
    """The re-ranker's inputs for one candidate, in FEATURES order."""
    asked = set(query_stems)
    own = {stem(w) for w in words(item.name.rsplit(".", 1)[-1]).split()}
    qualified = {stem(w) for w in words(item.name).split()}
    params = parameters(item.text)
    return [
        candidate.cosine,
        candidate.lexical,
        len(own & asked) / max(1, len(own)),
        len(qualified & asked) / max(1, len(qualified)),
        float(bool(own & asked)),
        math.log1p(len(item.text)),
        1.0 / (10 + candidate.dense_rank),
        0.0 if candidate.lexical_rank is None else 1.0 / (10 + candidate.lexical_rank),
        float(bool(query_stems) and query_stems[0] in own),
        len(params & asked) / max(1, len(params)),
        float(bool(query_stems) and query_stems[0] in ("return", "get") and bool(_RETURNS_VALUE.search(item.text))),
    ]


def feature_rows(query: str, head: list[Candidate], items: list[Item]) -> list[list[float]]:
    """features() of each candidate of `head` with its item: what the model scores, and
    what bench/train_reranker.py fits it on."""
    stems = query_stems(query)
    return [features(stems, c, item) for c, item in zip(head, items)]


def query_stems(query: str) -> list[str]:
    """The query's words, identifiers split, stemmed, in order (the first one is read as
    the verb a docstring-style question starts with)."""
    return [stem(w) for w in words(query).split()]


def rerank(query: str, head: list[Candidate], items: list[Item]) -> list[Candidate]:
    """`head` (the best fused candidates, described by `items`) re-scored by the model and
    re-ordered. Only the head comes back: candidates after it keep fused scores, which are
    on another scale, so mixing them in could show scores rising down the list."""
    rows = feature_rows(query, head, items)
    scored = [replace(c, score=sum(w * f for w, f in zip(WEIGHTS, row))) for c, row in zip(head, rows)]
    return sorted(scored, key=lambda c: -c.score)
