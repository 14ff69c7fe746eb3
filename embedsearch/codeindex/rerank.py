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

from embedsearch.codeindex.representation import CODE_KINDS, QUESTION_WORDS, documented, words
from embedsearch.codeindex.store import Item

_SIGNATURE = re.compile(r"def\s+\w+\s*\((.*?)\)\s*(?:->[^:]*)?:", re.S)
_RETURNS_VALUE = re.compile(r"\breturn\s+\S")
POOL = 30  # how many of the best fused candidates are re-ranked

FEATURES = ("cosine", "bm25", "name_cover", "qualname_cover", "name_any", "log_length",
            "dense_rrf", "lexical_rrf", "first_word", "param_cover", "returns_asked",
            "definition", "private", "dunder", "documented")
LABELS = {  # what each feature means, for `search --explain`
    "cosine": "cosine", "bm25": "BM25", "name_cover": "own name words asked",
    "qualname_cover": "qualified name words asked", "name_any": "some name word asked",
    "log_length": "length", "dense_rrf": "dense rank", "lexical_rrf": "BM25 rank",
    "first_word": "first word in name", "param_cover": "parameters asked",
    "returns_asked": "asks for a return value", "definition": "a function, method or class",
    "private": "private name", "dunder": "special method", "documented": "has a docstring"}
# Fit by bench/train_reranker.py --question-share 0.5 (see its docstring for the data and bench/README.md for
# the share) on cosines of adapted queries (adapter.py), as `search` computes them; cosine's weight is 1.
WEIGHTS = (1.0, 0.0981, 0.0582, -0.0675, -0.0477, 0.0078, 0.9968, 0.8244, 0.0488, 0.0175, 0.0644, 0.3292,
           -0.0594, -0.0834, 0.0573)


@dataclass(frozen=True)
class Candidate:
    """One fused candidate for a query: what orders it and what the re-ranker reads."""

    id: int
    score: float  # what orders the list: cosine + weight × lexical, then the re-ranker's
    cosine: float
    lexical: float = 0.0  # BM25 over the query's best BM25; 0 when no word matched
    dense_rank: int = 0  # place in the cosine order, from 0
    lexical_rank: int | None = None  # place in the BM25 order, None when no word matched
    contributions: tuple[float, ...] = ()  # weight × feature, in FEATURES order, once re-ranked
    folded_from: int | None = None  # the nested function whose score this owner took (search.fold_nested)

    def explain(self, lexical_weight: float) -> dict[str, float]:
        """What each part added to `score`: exact, since every ranking step is linear (the
        re-ranker's features when it ran, else cosine and weighted BM25)."""
        if self.contributions:
            return {f: round(c, 4) for f, c in zip(FEATURES, self.contributions)}
        return {"cosine": round(self.cosine, 4), "bm25": round(lexical_weight * self.lexical, 4)}


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
    own_name = item.name.rsplit(".", 1)[-1]
    own = {stem(w) for w in words(own_name).split()}
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
        float(item.kind in CODE_KINDS),
        float(own_name.startswith("_") and not own_name.endswith("__")),
        float(own_name.startswith("__") and own_name.endswith("__")),
        float(documented(item.text)),
    ]


def feature_rows(query: str, head: list[Candidate], items: list[Item]) -> list[list[float]]:
    """features() of each candidate of `head` with its item: what the model scores, and
    what bench/train_reranker.py fits it on."""
    stems = query_stems(query)
    return [features(stems, c, item) for c, item in zip(head, items)]


def query_stems(query: str) -> list[str]:
    """The query's words, identifiers split, stemmed, in order, without the words that
    frame a question ("how do I", "which function"): the first one left is read as the
    verb the question starts with."""
    return [stem(w) for w in words(query).split() if w not in QUESTION_WORDS]


def rerank(query: str, head: list[Candidate], items: list[Item]) -> list[Candidate]:
    """`head` (the best fused candidates, described by `items`) re-scored by the model and
    re-ordered. Only the head comes back: candidates after it keep fused scores, which are
    on another scale, so mixing them in could show scores rising down the list."""
    rows = feature_rows(query, head, items)
    scored = []
    for c, row in zip(head, rows):
        parts = tuple(w * f for w, f in zip(WEIGHTS, row))
        scored.append(replace(c, score=sum(parts), contributions=parts))
    return sorted(scored, key=lambda c: -c.score)
