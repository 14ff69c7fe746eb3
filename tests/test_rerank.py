"""The re-ranker: its features, the candidates it reads, and what it gains on real code
nobody fitted it on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pluggy

from embedsearch.evaluate.codesearch import DEFAULT, Method, evaluate, strip_docstrings
from embedsearch.codeindex.indexing import LEXICAL_WEIGHT
from embedsearch.codeindex.representation import SUMMARISED
from embedsearch.codeindex.rerank import FEATURES, WEIGHTS, Candidate, features, query_stems, rerank, stem
from embedsearch.ann import exact_query
from embedsearch.codeindex.search import answer, candidates, query_encoder
from embedsearch.codeindex.store import Index, Item


def _item(i: int, name: str, text: str = "def f(): pass") -> Item:
    return Item("/x/m.py", 1, 1, "method", name, text, {}, id=i, hash="h")


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


def test_kind_features_and_question_words():
    """A question's framing words are not asked words; what kind of thing a candidate is
    (definition or module window, private, special, documented) is read from the item."""
    assert query_stems("How do I parse the Cookie header?") == [stem(w) for w in ("parse", "the", "cookie", "header")]
    cand = Candidate(1, 0.8, 0.8)
    doc = 'def _load(self, raw):\n    """Load a cookie."""\n    return raw'

    def f(name, kind="method", text="def f(): pass"):
        item = Item("/x/m.py", 1, 3, kind, name, text, {}, id=1, hash="h")
        return dict(zip(FEATURES, features(query_stems("load cookies"), cand, item)))

    assert f("Cookie._load", text=doc)["private"] == 1.0 and f("Cookie._load", text=doc)["documented"] == 1.0
    assert f("Cookie.__init__")["dunder"] == 1.0 and f("Cookie.__init__")["private"] == 0.0
    assert f("Cookie.load")["private"] == 0.0 and f("Cookie.load")["documented"] == 0.0
    assert f("Cookie.load")["definition"] == 1.0 and f("lines 1-40", kind="module")["definition"] == 0.0
    assert f("Cookie.load")["first_word"] == 1.0  # "load" is the first word once framing is gone


def test_documented_agrees_with_the_parser_on_real_code(stdlib_index):
    """The re-ranker's quick scan for a docstring says what `ast.get_docstring` says, for
    every definition of the test corpus (textwrap, shutil, csv, json)."""
    import ast

    from embedsearch.codeindex.representation import _definition, documented

    home, name, _ = stdlib_index
    index = Index(home, name)
    try:
        items = [i for i in index.all_items() if i.kind in ("function", "method", "class")]
    finally:
        index.close()
    assert len(items) > 120
    for item in items:
        node = _definition(item.text)
        assert documented(item.text) == bool(node is not None and ast.get_docstring(node)), item.name
    assert documented('def g(): "one line"') and not documented('class A:\n    def f(self):\n        """x"""')


def test_a_folded_hit_says_which_nested_function_scored_it(tmp_path, cli):
    from embedsearch.codeindex.indexing import build_index
    from embedsearch.codeindex.search import search

    src = tmp_path / "src"
    src.mkdir()
    (src / "retry.py").write_text(
        "def with_retries(func):\n"
        "    def call_again_after_a_timeout(*args):\n"
        "        for attempt in range(3):\n"
        "            try:\n"
        "                return func(*args)\n"
        "            except TimeoutError:\n"
        "                continue\n"
        "    return call_again_after_a_timeout\n\n\n"
        "def parse_header(line):\n    return line.split(':', 1)\n")
    home = tmp_path / "home"
    build_index("fold", [str(src)], home)
    hits = search(home, "fold", ["call again after a timeout"], k=2, explain=True)[0]
    assert hits[0].name == "with_retries" and hits[0].via == "with_retries.call_again_after_a_timeout"
    assert abs(sum(hits[0].explain.values()) - hits[0].score) < 1e-3
    assert "via" not in hits[1].as_dict()
    r = cli("--home", home, "search", "fold", "call again after a timeout", "-k", "1", "--explain")
    assert "#1 with_retries (scored by its nested with_retries.call_again_after_a_timeout)" in r.output


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


def test_reranking_and_the_query_adapter_gain_on_a_package_they_were_not_fitted_on(tmp_path):
    """pluggy (pytest's plugin system, whichever version pytest brought) was never used to
    fit the weights or the query adapter: the default beats fusion without re-ranking and
    the same ranking without the adapter."""
    root = Path(pluggy.__file__).parent
    documented = sum(len(strip_docstrings(f.read_text())[1]) for f in root.rglob("*.py"))
    before = Method("without re-ranking", SUMMARISED, LEXICAL_WEIGHT, clean_queries=True, fold_nested=True)
    plain = Method("without the adapter", SUMMARISED, LEXICAL_WEIGHT, clean_queries=True, fold_nested=True,
                   rerank=True, adapt=False)
    without, unadapted, default = evaluate([str(root)], home=tmp_path, index_name="pluggy",
                                           methods=(before, plain, DEFAULT))
    assert default.queries == without.queries == documented > 20
    assert default.mrr_at_10 > without.mrr_at_10 and default.mrr_at_10 > unadapted.mrr_at_10
    assert default.recall_at_10 >= without.recall_at_10


def test_explain_adds_up_to_each_score(stdlib_index, cli):
    """--explain is exact: what each feature added sums to the score shown."""
    import json

    from embedsearch.codeindex.rerank import FEATURES
    from embedsearch.codeindex.search import search

    home, name, _ = stdlib_index
    hits = search(home, name, ["recursively delete a directory tree"], k=5, explain=True)[0]
    for h in hits:
        assert set(h.explain) == set(FEATURES)
        assert abs(sum(h.explain.values()) - h.score) < 1e-3
        assert abs(h.explain["cosine"] - h.cosine) < 1e-3  # cosine's weight is 1 (explanations are rounded)
    dense = search(home, name, ["recursively delete a directory tree"], k=3, explain=True, lexical_weight=0)[0]
    assert all(h.explain == {"cosine": round(h.cosine, 4), "bm25": 0.0} for h in dense)
    assert "explain" not in search(home, name, ["copy a file"], k=1)[0][0].as_dict()
    r = cli("--home", home, "search", name, "recursively delete a directory tree", "-k", "2", "--explain")
    assert r.exit_code == 0 and f"#1 {hits[0].name} {hits[0].score:.3f} = " in r.output
    assert "cosine" in r.output and "dense rank" in r.output
    r = cli("--home", home, "search", name, "recursively delete a directory tree", "-k", "2", "--explain", "--json")
    first = json.loads(r.output.splitlines()[0])
    assert abs(sum(first["explain"].values()) - first["score"]) < 1e-3
