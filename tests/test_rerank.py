"""The re-ranker: its features, the candidates it reads, and what it gains on real code
nobody fitted it on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pluggy

from embedsearch.evaluate.codesearch import DEFAULT, Method, evaluate, strip_docstrings
from embedsearch.indexing import LEXICAL_WEIGHT
from embedsearch.representation import SUMMARISED
from embedsearch.rerank import FEATURES, WEIGHTS, Candidate, features, query_stems, rerank, stem
from embedsearch.ann import exact_query
from embedsearch.search import answer, candidates, query_encoder
from embedsearch.store import Index, Item


def _item(i: int, name: str, text: str = "def f(): pass") -> Item:
    return Item(i, "/x/m.py", 1, 1, "method", name, "h", text, {})


def test_stems_meet_across_verb_forms():
    assert {stem(w) for w in ("returns", "return", "returned", "returning")} == {"return"}
    assert len({stem(w) for w in ("parse", "parsed", "parses", "parsing")}) == 1
    assert stem("class") != stem("clas") and stem("uses") == stem("use")


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


def test_rerank_lifts_the_candidate_whose_name_says_it():
    head = [Candidate(0, 0.9, 0.5, dense_rank=0), Candidate(1, 0.8, 0.5, dense_rank=1)]
    out = rerank("Open the box and return its contents", head, [_item(0, "Box.close"), _item(1, "Box.open")])
    assert [c.id for c in out] == [1, 0] and out[0].score > out[1].score


def test_candidates_carry_both_ranks_and_exact_cosines(stdlib_index):
    home, name, _ = stdlib_index
    index = Index(home, name)
    try:
        vector = query_encoder(index).encode(["copymode"])[0]
        found = candidates(index, "copymode", vector, 50, LEXICAL_WEIGHT, exact=False)
        exact_first = int(exact_query(index.vectors, vector[None, :], 1)[0][0][0])
        rows = np.asarray(index.vectors, dtype=np.float32)
        names = {c.id: item.name for c, item in zip(found, index.items([c.id for c in found]))}
    finally:
        index.close()
    best_lexical = next(c for c in found if c.lexical_rank == 0)
    assert names[best_lexical.id] == "copymode" and best_lexical.lexical == 1.0
    assert next(c for c in found if c.dense_rank == 0).id == exact_first
    for c in found:  # lexical-only candidates get their exact cosine from the graph
        assert abs(c.cosine - float(rows[c.id] @ vector)) < 1e-4


def test_answer_scores_fall_down_the_list_and_dense_only_is_not_reranked(stdlib_index):
    home, name, _ = stdlib_index
    index = Index(home, name)
    try:
        query = "recursively delete a directory tree"
        vector = query_encoder(index).encode([query])[0]
        hits = answer(index, query, vector, 30, LEXICAL_WEIGHT)
        dense = answer(index, query, vector, 5, 0.0)
    finally:
        index.close()
    assert len(hits) == 30 and len({h.id for h in hits}) == 30
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].name == "rmtree"
    assert all(h.score == h.cosine for h in dense)


def test_reranking_gains_on_a_package_it_was_not_fitted_on(tmp_path):
    """pluggy (pytest's plugin system, whichever version pytest brought) was never used to
    fit the weights."""
    root = Path(pluggy.__file__).parent
    documented = sum(len(strip_docstrings(f.read_text())[1]) for f in root.rglob("*.py"))
    before = Method("without re-ranking", SUMMARISED, LEXICAL_WEIGHT, clean_queries=True, fold_nested=True)
    without, default = evaluate([str(root)], home=tmp_path, index_name="pluggy", methods=(before, DEFAULT))
    assert default.queries == without.queries == documented > 20
    assert default.mrr_at_10 >= without.mrr_at_10 + 0.02
    assert default.recall_at_10 >= without.recall_at_10


def test_explain_adds_up_to_each_score(stdlib_index, cli):
    """--explain is exact: what each feature added sums to the score shown."""
    import json

    from embedsearch.rerank import FEATURES
    from embedsearch.search import search

    home, name, _ = stdlib_index
    hits = search(home, name, ["recursively delete a directory tree"], k=5, explain=True)[0]
    for h in hits:
        assert set(h.explain) == set(FEATURES)
        assert abs(sum(h.explain.values()) - h.score) < 1e-3
        assert h.explain["cosine"] == h.cosine  # cosine's weight is 1
    dense = search(home, name, ["recursively delete a directory tree"], k=3, explain=True, lexical_weight=0)[0]
    assert all(h.explain == {"cosine": h.cosine, "bm25": 0.0} for h in dense)
    assert "explain" not in search(home, name, ["copy a file"], k=1)[0][0].as_dict()
    r = cli("--home", home, "search", name, "recursively delete a directory tree", "-k", "2", "--explain")
    assert r.exit_code == 0 and f"#1 {hits[0].name} {hits[0].score:.3f} = " in r.output
    assert "cosine" in r.output and "dense rank" in r.output
    r = cli("--home", home, "search", name, "recursively delete a directory tree", "-k", "2", "--explain", "--json")
    first = json.loads(r.output.splitlines()[0])
    assert abs(sum(first["explain"].values()) - first["score"]) < 1e-3
