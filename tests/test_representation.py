"""What stands for a chunk, and hybrid (dense + BM25) ranking on a real index."""

from __future__ import annotations

import json
import shutil

from embedsearch.chunking import Chunk
from embedsearch.indexing import build_index
from embedsearch.representation import PLAIN, clean_query, embed_hash, embed_text, lexical_query, words
from embedsearch.search import search
from embedsearch.store import Index


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


def test_queries_lose_their_markup_only():
    assert clean_query("Handles ``encoding`` in binary mode.") == "Handles encoding in binary mode."
    assert clean_query("Like :meth:`find_object` but for :class:`~click.Context`.") == \
        "Like find_object but for click.Context."
    assert clean_query("Parse it. .. versionadded:: 3.2 the flag") == "Parse it."
    assert clean_query("split an iterable into chunks of n") == "split an iterable into chunks of n"
    assert clean_query("``") == "``"  # nothing would be left: the query stays as typed


NESTED = """\
import functools


def retry_on_timeout(attempts):
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for attempt in range(attempts):
                try:
                    return func(*args, **kwargs)
                except TimeoutError:
                    if attempt == attempts - 1:
                        raise
        return wrapper
    return decorate


class Client:
    def fetch(self, url):
        def on_timeout(exc):
            raise TimeoutError(url) from exc
        return self.get(url, on_timeout)


def parse_header(line):
    key, _, value = line.partition(":")
    return key.strip().lower(), value.strip()
"""


def test_nested_functions_fold_into_their_outermost_function(tmp_path):
    """A closure answers for the function that owns it: the closure's chunk never shows,
    its enclosing function takes its place (and the better of the two scores)."""
    src = tmp_path / "src" / "net.py"
    src.parent.mkdir()
    src.write_text(NESTED)
    home = tmp_path / "home"
    build_index("nested", [str(src.parent)], home)
    index = Index(home, "nested")
    try:
        ids = {item.name: item.id for item in index.all_items()}
        outer = index.outermost_functions(list(ids.values()))
    finally:
        index.close()
    assert outer == {ids["retry_on_timeout.decorate"]: ids["retry_on_timeout"],
                     ids["retry_on_timeout.decorate.wrapper"]: ids["retry_on_timeout"],
                     ids["Client.fetch.on_timeout"]: ids["Client.fetch"]}
    hits = search(home, "nested", ["call the function again when it times out, a few attempts"], k=5)[0]
    names = [h.name for h in hits]
    assert names[0] == "retry_on_timeout" and not any(n.startswith("retry_on_timeout.") for n in names)
    assert len(names) == len(set(names))
    hits = search(home, "nested", ["parse_header"], k=5)[0]
    assert hits[0].name == "parse_header"


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
