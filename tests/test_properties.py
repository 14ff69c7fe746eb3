"""Property-based tests: whatever text a file holds, chunking never raises, never yields an
empty chunk, stays inside the file, and covers every non-blank line."""

from __future__ import annotations

import json
import os

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from embedsearch.chunking import chunk_text, lines_of
from embedsearch.errors import EmbedsearchError

PY_LINES = st.sampled_from([
    "def f(a, b):", "    return a + b", "class A:", "    def m(self):", "        pass", "@decorator",
    "async def g():", "    await x", "", "   ", "\t", "# comment", "x = '''", "'''", "if True:",
    "    def nested():", "        return 1", "lambda: 0", "\x00", "é = 1", "😀", "def broken(:", "    ",
    "try:", "except Exception:", "    raise", "\r", "import os", "from . import y",
])
MD_LINES = st.sampled_from(["# Title", "## Sub", "text line", "", "```", "# inside fence?", "```", "- item",
                            "####### too deep", "plain words here", "   ", "#", "# ", "### C ###"])


def assert_well_formed(text: str, chunks) -> None:
    lines = lines_of(text)
    for c in chunks:
        assert c.text.strip(), "empty chunk"
        assert 1 <= c.start_line <= c.end_line <= max(len(lines), 1)
    covered = {i for c in chunks for i in range(c.start_line, c.end_line + 1)}
    nonblank = {i for i, line in enumerate(lines, 1) if line.strip()}
    assert nonblank <= covered


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PY_LINES, max_size=60).map("\n".join))
def test_python_chunker_on_python_like_text(text):
    assert_well_formed(text, chunk_text("x.py", text))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_python_chunker_on_arbitrary_text(text):
    assert_well_formed(text, chunk_text("x.py", text))


@settings(max_examples=200, deadline=None)
@given(st.lists(MD_LINES, max_size=80).map("\n".join))
def test_markdown_chunker(text):
    assert_well_formed(text, chunk_text("x.md", text))


GRAMMAR_SUFFIXES = (".js", ".ts", ".tsx", ".go", ".rs", ".java", ".c", ".cpp", ".cs", ".rb", ".php", ".kt", ".sh")
CODE_LINES = st.sampled_from([
    "", "/** Does a thing. */", "/**", " * More words.", " * @param x", " */", "// a comment", "/// doc", "# note",
    "#[derive(Debug)]", "@Override", "function f(a) {", "const g = (x) => {", "}", "};", "class A {", "fn x() {}",
    "void A::b() {}", "template <typename T>", "def m", "end", "func (s *S) M() {}", "namespace n {", "<?php",
    "fun k() = 1", "f() {", "impl X {", "public void Run() { }",
]) | st.text(max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000))
def test_windows_and_tree_sitter_chunkers(text):
    assert_well_formed(text, chunk_text("x.zig", text))
    assert_well_formed(text, chunk_text("x.js", text))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CODE_LINES, max_size=40).map("\n".join))
def test_every_grammar_covers_every_line_with_well_formed_chunks(text):
    """Code-like text with doc comments, attributes and unbalanced braces, in every language:
    chunks stay inside the file, cover each non-blank line, and a chunk's doc is what its
    own text begins with."""
    from embedsearch.chunking.treesitter import chunk_doc

    for suffix in GRAMMAR_SUFFIXES:
        chunks = chunk_text("x" + suffix, text)
        assert_well_formed(text, chunks)
        for c in chunks:
            if c.doc:
                assert c.doc == chunk_doc(c.path, c.text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400) | st.builds(json.dumps, st.dictionaries(st.sampled_from(["cells", "metadata"]),
                                                                      st.lists(st.dictionaries(st.text(max_size=5),
                                                                                               st.text(max_size=10)),
                                                                               max_size=3))))
def test_notebooks_end_in_cells_or_windows(text):
    for c in chunk_text("x.ipynb", text):
        assert c.text.strip() and c.start_line >= 1 and c.kind in ("cell", "window")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_record_parsers_raise_only_clear_errors(text):
    for name in ("x.jsonl", "x.csv", "x.tsv"):
        try:
            chunks = chunk_text(name, text)
        except EmbedsearchError as exc:
            assert name in str(exc)
            continue
        for c in chunks:
            assert c.text.strip() and c.start_line >= 1 and c.end_line >= c.start_line


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([".txt", ".vec", ".bin", ".npy"]))
def test_word_vector_readers_end_in_rows_or_one_clear_error(tmp_path_factory, data, suffix):
    """Whatever bytes a word-vector file holds (a lying header, binary junk, a planted
    .npy), reading it gives rows or an EmbedsearchError, never another exception."""
    from embedsearch.tables.wordvec_files import read_vectors

    path = tmp_path_factory.mktemp("wv") / f"w{suffix}"
    path.write_bytes(data)
    try:
        parsed = read_vectors(path, "auto")
    except EmbedsearchError:
        return
    assert len(parsed.keys) == parsed.vectors.shape[0] and parsed.vectors.ndim == 2


OPS = st.sampled_from(["edit", "update", "update", "repair", "search", "search", "corrupt vectors", "corrupt items", "corrupt hnsw",
                       "corrupt manifest", "delete vectors", "delete items", "delete hnsw"])


@settings(max_examples=int(os.environ.get("EMBEDSEARCH_PROPERTY_EXAMPLES", 60)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(OPS, min_size=3, max_size=9), st.integers(0, 2**16))
def test_random_updates_damage_and_repairs_never_serve_a_wrong_vector(tmp_path_factory, ops, seed):
    """Index, then any sequence of source edits, updates, damaged or deleted files, repairs
    and searches: a search either refuses with one error, or every hit's stored vector is
    the vector of the very text it shows (re-encoded and compared). Uses the fake encoder,
    so hundreds of operations take seconds."""
    import random

    from embedsearch.chunking import Chunk
    from embedsearch.codeindex.indexing import build_index, chunk_vectors
    from embedsearch.codeindex.integrity import repair
    from embedsearch.codeindex.search import query_encoder, search
    from embedsearch.codeindex.store import Index
    from tests.fake_encoder import FAKE

    rng = random.Random(seed)
    root = tmp_path_factory.mktemp("seq")
    src, home = root / "src", root / "home"
    src.mkdir()
    words = ["parse", "quote", "split", "join", "wrap", "fill", "escape", "token", "shell", "line"]

    def function(i: int) -> str:
        a, b = rng.sample(words, 2)
        return f"def {a}_{b}_{i}(text):\n    \"\"\"{a.title()} the {b}.\"\"\"\n    return text.{a}()\n"

    files = {f"m{j}.py": [function(i) for i in range(rng.randint(2, 5))] for j in range(2)}

    def write_sources() -> None:
        for name, fns in files.items():
            (src / name).write_text("\n\n".join(fns))

    write_sources()
    build_index("seq", [str(src)], home, model=FAKE)
    for op in [*ops, "repair", "search"]:  # each sequence ends repaired and asked
        folder = home / "seq"
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            manifest = None
        if op == "edit":
            fns = files[rng.choice(sorted(files))]
            if fns and rng.random() < 0.4:
                fns.pop(rng.randrange(len(fns)))
            else:
                fns.insert(rng.randint(0, len(fns)), function(rng.randint(100, 999)))
            write_sources()
        elif op == "update":
            try:
                build_index("seq", None, home)
            except EmbedsearchError:
                pass
        elif op == "repair":
            try:
                repair(home, "seq")
            except EmbedsearchError:
                pass
        elif op.startswith(("corrupt", "delete")) and manifest is not None:
            role = op.split()[1]
            try:
                path = folder / "manifest.json" if role == "manifest" else folder / manifest["files"][role]["file"]
            except (KeyError, TypeError):  # an earlier corruption left a manifest without that entry
                continue
            if not path.exists():
                continue
            if op.startswith("delete"):
                path.unlink()
            else:
                data = bytearray(path.read_bytes())
                for i in range(rng.randrange(len(data)), len(data), max(len(data) // 7, 1)):
                    data[i] ^= 0x5A
                path.write_bytes(bytes(data))
        elif op == "search":
            query = f"{rng.choice(words)} the {rng.choice(words)}"
            try:
                hits = search(home, "seq", [query], k=5)[0]
                index = Index(home, "seq")
            except EmbedsearchError:
                event("search refused")
                continue
            with index:
                stored = np.asarray(index.hnsw.get_items([h.id for h in hits]))  # what the search ranked by
                fresh, _ = chunk_vectors([Chunk(h.path, h.start_line, h.end_line, h.kind, h.name, h.text) for h in hits],
                                         index.manifest["options"]["representation"], query_encoder(index))
            assert float((stored * fresh).sum(axis=1).min()) > 0.999, (ops, seed)
            event(f"search answered with {min(len(hits), 5)} hits")
