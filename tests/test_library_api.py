"""The Python API a user imports: `embedsearch.Home`, `CodeIndex`, `open_table`, typed errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

import embedsearch
from tests.conftest import copy_stdlib
from tests.fake_encoder import FAKE


def test_a_code_index_is_one_noun_with_the_verbs_a_user_says(tmp_path):
    corpus = copy_stdlib(tmp_path / "src", ["shlex.py"])
    home = embedsearch.Home(tmp_path / "home")
    ix = embedsearch.CodeIndex.build(home, "shl", [corpus], model=FAKE)
    assert ix.last_run.chunks == ix.last_run.embedded > 10
    one = ix.search("split a string like a shell", k=3)  # one query: one list of hits
    assert len(one) == 3 and "split" in {h.name for h in one}  # the fake encoder: ranking is not checked here
    both = ix.search(["quote a string for the shell", "split a string like a shell"], k=3)
    assert len(both) == 2 and both[1] == one
    assert ix.update().up_to_date  # the recorded sources, nothing changed
    source, like = ix.similar(path=corpus / "shlex.py", line=1, k=2)
    assert source is not None and len(like) == 2
    assert ix.check().ok and ix.info()["items"] == ix.last_run.chunks
    assert len(ix.table().keys) == ix.info()["items"]
    same = embedsearch.CodeIndex(str(tmp_path / "home"), "shl")  # a str home is the same home
    assert same.search("split a string like a shell", k=3) == one
    ix.remove()
    with pytest.raises(embedsearch.UnknownName):
        same.search("anything")
    with pytest.raises(embedsearch.EmbedsearchError, match="invalid index name"):
        embedsearch.CodeIndex(home, "../escape")


def test_inside_with_an_index_keeps_its_generation_and_encoder_and_sees_commits(tmp_path, monkeypatch):
    """`with CodeIndex(...) as ix:` answers like the plain verbs, loads the query encoder
    once for many searches, and still sees what another writer commits meanwhile."""
    import embedsearch.codeindex.search as search_module
    from embedsearch.codeindex.filters import Filters

    corpus = copy_stdlib(tmp_path / "src", ["shlex.py", "textwrap.py"])
    home = embedsearch.Home(tmp_path / "home")
    plain = embedsearch.CodeIndex.build(home, "held", [corpus / "shlex.py"], model=FAKE)
    expected = plain.search("split a string like a shell", k=3)
    loads = []
    real = search_module.query_encoder
    monkeypatch.setattr(search_module, "query_encoder", lambda *a, **kw: loads.append(1) or real(*a, **kw))
    with embedsearch.CodeIndex(home, "held") as ix:
        for _ in range(3):
            assert ix.search("split a string like a shell", k=3) == expected
        source, like = ix.similar(path=corpus / "shlex.py", line=1, k=2)
        assert source is not None and len(like) == 2
        assert len(loads) == 1
        plain.update(add=[corpus / "textwrap.py"])  # another writer commits a new generation
        assert ix.search("dedent", k=20, filters=Filters.parse(paths=["textwrap.py"]))
        assert len(loads) == 1  # the same encoder: only the generation was reopened
        plain.remove()  # removed, then built again with other sources: generation 1 once more
        with pytest.raises(embedsearch.UnknownName):
            ix.search("dedent")
        embedsearch.CodeIndex.build(home, "held", [corpus / "textwrap.py"], model=FAKE)
        assert {h.path for h in ix.search("split", k=20)} == {str(corpus / "textwrap.py")}
        with ix:  # a nested block keeps what the outer one holds
            assert ix.search("dedent", k=1)
        assert ix.search("dedent", k=1) and len(loads) == 1  # rebuilt with the same weights: encoder kept
    assert ix._held is None


def test_keyword_filters_ids_short_reprs_and_clear_errors(tmp_path):
    """What a user types at a REPL: the CLI's filters as keywords, a hit's id for `similar`,
    reprs that fit a screen, and one clear error (not a TypeError) for a wrong argument."""
    corpus = copy_stdlib(tmp_path / "src", ["shlex.py", "textwrap.py"])
    home = embedsearch.Home(tmp_path / "home")
    ix = embedsearch.CodeIndex.build(home, "kw", [corpus], model=FAKE)
    hits = ix.search("wrap text", k=5, glob="textwrap.py", kind=["function"])
    assert hits and all(h.path.endswith("textwrap.py") and h.kind == "function" for h in hits)
    assert all(h.score >= 0.2 for h in ix.search("wrap text", k=20, min_score=0.2))
    source, like = ix.similar(id=hits[0].id, k=3, kind="function")
    assert source.id == hits[0].id and len(like) == 3 and hits[0].id not in {h.id for h in like}
    assert len(repr(hits[0])) < 200 and repr(hits[0]).startswith("Hit(rank=1, score=")
    assert len(repr(ix.table())) < 200 and len(repr(embedsearch.open_table(home, "glove-6B-50d"))) < 200
    assert embedsearch.CodeIndex(home, "kw") == ix and embedsearch.CodeIndex(home, "kw").last_run is None
    for bad in ({"k": "3"}, {"k": 2.5}, {"k": 0}):
        with pytest.raises(embedsearch.EmbedsearchError, match="k must be"):
            ix.search("wrap", **bad)
    with pytest.raises(embedsearch.EmbedsearchError, match="a query is a string"):
        ix.search(None)
    with pytest.raises(embedsearch.UnknownName, match="unknown kind 'fucntion'; did you mean 'function'"):
        ix.search("wrap", kind="fucntion")


def test_sources_filters_and_table_verbs_from_python(tmp_path):
    """What the CLI offers is reachable from the library: adding and removing sources,
    filters, and gensim's verbs on a table."""
    from embedsearch.codeindex.filters import Filters
    from embedsearch.tables.ops import doesnt_match, most_similar, similarity

    corpus = copy_stdlib(tmp_path / "src", ["shlex.py", "textwrap.py"])
    home = embedsearch.Home(tmp_path / "home")
    ix = embedsearch.CodeIndex.build(home, "two", [corpus / "shlex.py"], model=FAKE)
    assert ix.update(add=[corpus / "textwrap.py"]).added > 5
    hits = ix.search("wrap text", k=5, filters=Filters.parse(paths=["textwrap.py"], kinds=["function"]))
    assert hits and all(h.path.endswith("textwrap.py") and h.kind == "function" for h in hits)
    assert ix.update(remove=[corpus / "shlex.py"]).removed > 5
    assert {h.path for h in ix.search("split", k=20)} == {str(corpus / "textwrap.py")}
    with pytest.raises(embedsearch.EmbedsearchError, match="--add PATH, --remove PATH, or --replace"):
        ix.update([corpus / "shlex.py"])
    glove = embedsearch.open_table(home, "glove-6B-50d")
    assert similarity(glove, "cat", "dog") > similarity(glove, "cat", "car")
    assert doesnt_match(glove, ["breakfast", "cereal", "dinner", "lunch"]).odd == "cereal"
    assert most_similar(glove, ["king", "woman"], ["man"], k=1)[0].key == "queen"


def test_importing_the_package_loads_nothing_heavy():
    code = ("import sys, embedsearch; embedsearch.Home; embedsearch.CodeIndex; "
            "print(sorted(m for m in ('numpy', 'torch', 'hnswlib', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    with pytest.raises(AttributeError):
        embedsearch.NoSuchThing  # noqa: B018
