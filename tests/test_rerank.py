"""The re-ranker: its features, the candidates it reads, and what it gains on real code
nobody fitted it on."""

from __future__ import annotations

from pathlib import Path

import pluggy

from embedsearch.evaluate.codesearch import DEFAULT, Method, evaluate
from embedsearch.indexing import LEXICAL_WEIGHT
from embedsearch.representation import NAMED
from embedsearch.rerank import FEATURES, WEIGHTS, Candidate, features, query_stems, rerank, stem
from embedsearch.search import candidates, query_encoder
from embedsearch.store import Index, Item


def _item(i: int, name: str, text: str = "def f(): pass") -> Item:
    return Item(i, "/x/m.py", 1, 1, "method", name, "h", text, {})


def test_stems_meet_across_verb_forms():
    assert {stem(w) for w in ("returns", "return", "returned", "returning")} == {"return"}
    assert {stem(w) for w in ("parse", "parsed", "parses", "parsing")} == {"pars"}
    assert [stem(w) for w in ("is", "class", "status", "use", "uses")] == ["is", "class", "status", "use", "use"]


def test_features_say_whether_the_name_says_what_is_asked():
    stems = query_stems("Return the plugin registered under the given name.")
    cand = Candidate(1, 0.8, 0.8, lexical=0.5, dense_rank=0, lexical_rank=2)
    f = dict(zip(FEATURES, features(stems, cand, _item(1, "PluginManager.get_plugin"))))
    assert f["name_cover"] == 0.5  # "plugin" asked, "get" not
    assert f["qualname_cover"] == 1 / 3  # plugin, manager, get
    assert f["first_word"] == 0.0 and f["name_any"] == 1.0
    assert f["dense_rrf"] == 1 / 10 and f["lexical_rrf"] == 1 / 12
    f = dict(zip(FEATURES, features(stems, Candidate(2, 0.8, 0.8), _item(2, "Registry.return_plugin"))))
    assert f["first_word"] == 1.0 and f["name_cover"] == 1.0 and f["lexical_rrf"] == 0.0
    assert len(WEIGHTS) == len(FEATURES) and WEIGHTS[FEATURES.index("cosine")] == 1.0


def test_rerank_reorders_the_head_and_keeps_the_tail():
    ranked = [Candidate(i, 1 - i / 10, 0.5, dense_rank=i) for i in range(4)]
    items = [_item(0, "Box.close"), _item(1, "Box.open")]  # only the first two are re-ranked
    out = rerank("Open the box and return its contents", ranked, items)
    assert [c.id for c in out] == [1, 0, 2, 3]
    assert out[2:] == ranked[2:]


def test_candidates_carry_both_ranks(stdlib_index):
    home, name, _ = stdlib_index
    index = Index(home, name)
    try:
        query = "copy the permission bits of a file"
        found = candidates(index, query, query_encoder(index).encode([query])[0], 50, LEXICAL_WEIGHT, exact=True)
    finally:
        index.close()
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    by_cosine = sorted(found, key=lambda c: -c.cosine)
    assert [c.dense_rank for c in by_cosine] == list(range(len(found)))
    lexical = sorted((c for c in found if c.lexical_rank is not None), key=lambda c: c.lexical_rank)
    assert lexical and lexical[0].lexical == 1.0  # the best BM25 match scales to 1
    assert [c.lexical for c in lexical] == sorted((c.lexical for c in lexical), reverse=True)
    assert all(abs(c.score - (c.cosine + LEXICAL_WEIGHT * c.lexical)) < 1e-9 for c in found)


def test_reranking_gains_on_a_package_it_was_not_fitted_on(tmp_path):
    """pluggy (pytest's plugin system) was never used to fit the weights."""
    before = Method("without re-ranking", NAMED, LEXICAL_WEIGHT, clean_queries=True, fold_nested=True)
    without, default = evaluate([str(Path(pluggy.__file__).parent)], home=tmp_path, index_name="pluggy",
                                methods=(before, DEFAULT))
    assert default.queries == without.queries > 40
    assert default.mrr_at_10 >= without.mrr_at_10 + 0.02
    assert default.recall_at_10 >= without.recall_at_10
