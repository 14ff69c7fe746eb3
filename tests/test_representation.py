"""What stands for a chunk, and hybrid (dense + BM25) ranking on a real index."""

from __future__ import annotations

import json
import shutil

from embedsearch.chunking import Chunk
from embedsearch.representation import PLAIN, embed_hash, embed_text, lexical_query, words
from embedsearch.search import search


def test_identifiers_split_into_words():
    assert words("parse_qsl") == "parse qsl"
    assert words("readLine") == "read line"
    assert words("HTTPServer.handle_one_request") == "http server handle one request"
    assert words("getHTTPResponseCode") == "get http response code"
    assert words("__init__") == "init"


def test_lexical_query_keeps_content_words_only():
    assert lexical_query("Return the `parse_qsl` of a URL") == '"parse" OR "qsl" OR "url"'
    assert lexical_query("the of a") is None
    assert lexical_query('quote " and OR NOT') == '"quote" OR "not"'


def test_named_representation_and_its_hash():
    c = Chunk("/x/m.py", 1, 2, "method", "TextWrapper._split_chunks", "def _split_chunks(self, text):\n    pass")
    assert embed_text(c) == "method text wrapper split chunks\n" + c.text
    assert embed_text(c, PLAIN) == c.text
    assert embed_hash(c) != embed_hash(c, PLAIN)
    record = Chunk("/x/d.jsonl", 1, 1, "record", "Intro", "How to install")
    assert embed_text(record) == "How to install"


def test_hybrid_ranking_finds_names_and_reports_both_scores(stdlib_index):
    home, name, _ = stdlib_index
    hits = search(home, name, ["copymode"], k=3)[0]
    assert hits[0].name == "copymode"
    assert hits[0].score > hits[0].cosine  # the lexical match added to the dense score
    dense = search(home, name, ["copymode"], k=3, lexical_weight=0)[0]
    assert all(h.score == h.cosine for h in dense)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_old_index_format_is_refused_clearly(stdlib_index, cli, tmp_path):
    home, name, _ = stdlib_index
    old = tmp_path / "home"
    shutil.copytree(home / name, old / "old")
    manifest = json.loads((old / "old" / "manifest.json").read_text())
    manifest["format"] = 1
    (old / "old" / "manifest.json").write_text(json.dumps(manifest))
    r = cli("--home", old, "search", "old", "copy")
    assert r.exit_code == 1 and "format 1" in r.output and "--rebuild" in r.output
