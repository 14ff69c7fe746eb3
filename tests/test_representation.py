"""What stands for a chunk, and hybrid (dense + BM25) ranking on a real index."""

from __future__ import annotations

import json
import shutil

from embedsearch.chunking import Chunk
from embedsearch.codeindex.indexing import build_index
from embedsearch.codeindex.representation import PLAIN, clean_query, embed_hash, embed_text, lexical_query, words
from embedsearch.codeindex.search import search
from embedsearch.codeindex.store import Index


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


def test_summary_says_what_a_definition_is_for():
    from embedsearch.codeindex.representation import SUMMARISED, embed_texts, summary_text

    method = Chunk("/x/m.py", 10, 16, "method", "JSONEncoder.encode",
                   '    def encode(self, o, *, indent=None):\n'
                   '        """Return a JSON string\n        of ``o``.\n\n        Details nobody reads.\n        """\n'
                   '        return o\n')
    assert summary_text(method) == "method json encoder encode: Return a JSON string of o."
    bare = Chunk("/x/m.py", 1, 2, "function", "parse_qs", "def parse_qs(qs, keep_blank_values=False):\n    pass")
    assert summary_text(bare) == "function parse qs (qs keep blank values)"
    cls = Chunk("/x/m.py", 1, 3, "class", "Sniffer", 'class Sniffer(object):\n    "Guess the dialect."\n    x = 1')
    assert summary_text(cls) == "class sniffer: Guess the dialect."
    long_doc = Chunk("/x/m.py", 1, 3, "function", "f", 'def f():\n    """' + "word " * 100 + '"""')
    assert len(summary_text(long_doc).split(":", 1)[1].split()) == 60
    # the code (named) and its summary are blended; records and windows have one text
    assert embed_texts(method, SUMMARISED) == (embed_text(method), summary_text(method))
    record = Chunk("/x/d.jsonl", 1, 1, "record", "Intro", "How to install")
    assert embed_texts(record, SUMMARISED) == ("How to install",)
    assert embed_hash(method, SUMMARISED) != embed_hash(method)


def test_named_hashes_did_not_change():
    """Indexes built before summaries existed keep their vectors (no re-embedding)."""
    import hashlib

    c = Chunk("/x/m.py", 1, 2, "function", "f", "def f():\n    pass")
    old = hashlib.sha256(f"named-v1\0{embed_text(c)}".encode()).hexdigest()[:32]
    assert embed_hash(c) == old


def test_chunk_vectors_blend_code_and_summary():
    """A chunk's vector is the normalised sum of its texts' vectors: its cosine with a query
    is the mean of the two cosines, rescaled."""
    import numpy as np

    from embedsearch.codeindex.indexing import chunk_vectors
    from embedsearch.codeindex.representation import SUMMARISED, embed_texts

    class Spy:  # a fake encoder: the encoder is not what this checks
        asked: list[str] = []

        def encode(self, texts, progress=None):
            self.asked.extend(texts)
            return np.stack([np.eye(8, dtype=np.float32)[len(t) % 8] for t in texts])

    method = Chunk("/x/m.py", 1, 2, "function", "f", 'def f(a):\n    """Add one."""\n    return a + 1')
    record = Chunk("/x/d.jsonl", 1, 1, "record", "r", "plain text")
    spy = Spy()
    vectors, n = chunk_vectors([method, record, method], SUMMARISED, spy)
    code, summary = embed_texts(method, SUMMARISED)
    assert spy.asked == [code, summary, "plain text"] and n == 3  # each distinct text once
    expected = np.eye(8)[len(code) % 8] + np.eye(8)[len(summary) % 8]
    assert np.allclose(vectors[0], expected / np.linalg.norm(expected)) and np.allclose(vectors[2], vectors[0])
    assert np.allclose(vectors[1], np.eye(8)[len("plain text") % 8])


def test_the_chunker_and_the_stored_text_give_the_same_summary():
    """Indexing takes a definition's docstring and parameters from the chunker's parse;
    repair has only the stored text. Both must write the same summary, or a repaired index
    would hold other vectors than a fresh build (methods with a string reaching column 0
    included, where dedenting alone cannot parse them)."""
    from embedsearch.chunking import chunk_text
    from embedsearch.codeindex.representation import summary_text
    from tests.conftest import STDLIB

    tricky = ('class A:\n    def f(self, x, *, y=1):\n        """Do the thing.\n\n        More."""\n'
              '        s = """\nflush left"""\n        return s\n')
    chunks = chunk_text("a.py", tricky)
    for name in ("textwrap.py", "shlex.py", "csv.py"):
        chunks += chunk_text(str(STDLIB / name), (STDLIB / name).read_text())
    defs = [c for c in chunks if c.kind in ("function", "method", "class")]
    assert len(defs) > 50 and all(c.doc is not None for c in defs)
    for c in defs:
        rebuilt = Chunk(c.path, c.start_line, c.end_line, c.kind, c.name, c.text)
        assert summary_text(rebuilt) == summary_text(c), c.name
    assert summary_text(chunks[1]) == "method a f: Do the thing."
