"""BM25 held in memory (bm25.Postings, what `serve` uses) answers as FTS5 does."""

from __future__ import annotations

from embedsearch.codeindex.indexing import build_index
from embedsearch.codeindex.representation import lexical_terms
from embedsearch.codeindex.search import search
from embedsearch.codeindex.store import Index
from tests.conftest import copy_stdlib
from tests.fake_encoder import FAKE

QUERIES = [
    "wrap text to a given width",
    "copy a file with its permissions",
    "JSONDecodeError position line column",
    "read rows of a CSV file as dictionaries",
    "shutil rmtree onerror",
    "dedent",
    "the of a",  # nothing left to match
    "zzzz qqqq",  # no such words
    "indent indent json json",  # repeated words count once
]


def test_held_postings_rank_and_score_as_fts5(tmp_path):
    home = tmp_path / "home"
    build_index("lib", [str(copy_stdlib(tmp_path / "corpus"))], home, model=FAKE)
    with Index(home, "lib") as ix:
        asked = {q: ix.lexical(lexical_terms(q), 40) for q in QUERIES}
        ix.hold_lexical()
        assert ix._postings is not None
        for q, fts in asked.items():
            held = ix.lexical(lexical_terms(q), 40)
            assert len(held) == len(fts), q
            # the same scores in the same order (rows that tie may come in another order)
            assert [round(s, 9) for _, s in held] == [round(s, 9) for _, s in fts], q
            assert {i for i, s in held if s > fts[-1][1] + 1e-9} == {i for i, s in fts if s > fts[-1][1] + 1e-9}, q
        assert any(asked.values()) and not asked["zzzz qqqq"] and not asked["the of a"]
        # more than the limit allows
        assert len(ix.lexical(["the", "def", "return"], 5)) == 5


def test_a_search_answers_the_same_with_postings_held(tmp_path):
    """Through the whole ranking (fusion, re-ranking, folding), not only BM25."""
    home = tmp_path / "home"
    build_index("lib", [str(copy_stdlib(tmp_path / "corpus"))], home, model=FAKE)
    from embedsearch.codeindex.search import query_encoder, search_index

    before = search(home, "lib", QUERIES[:6], k=10)
    with Index(home, "lib") as ix:
        ix.hold_lexical()
        after = search_index(ix, query_encoder(ix), QUERIES[:6], k=10)
    assert [[(h.path, h.start_line, round(h.score, 6)) for h in hits] for hits in after] == \
        [[(h.path, h.start_line, round(h.score, 6)) for h in hits] for hits in before]


def test_rows_tied_at_the_limit_are_cut_by_row_id():
    """Equal scores are common (the same name and length); which of them make the cut must
    not depend on numpy's partitioning: the lower row ids, best first."""
    import numpy as np

    from embedsearch.codeindex.bm25 import Postings

    lengths = np.full(12, 10.0)
    held = Postings(12, lengths, {"parse": (np.arange(11, dtype=np.int64), np.array([1.0] * 10 + [3.0]))})
    assert [i for i, _ in held.search(["parse"], 3)] == [10, 0, 1]
    assert [i for i, _ in held.search(["parse", "parse"], 3)] == [10, 0, 1]
    assert held.search(["missing"], 3) == [] and held.search(["parse"], 0) == []
