"""Chunkers: what a file becomes before it is embedded (no model needed)."""

from __future__ import annotations

import pytest

from embedsearch.chunking import chunk_text
from embedsearch.chunking.windows import uncovered
from embedsearch.errors import EmbedsearchError

PY = '''"""Module doc."""
import os

CONSTANT = 1


@decorator
@other(arg=1)
def top(a, b):
    def inner():
        return a
    return inner() + b


class Greeter:
    """Says hello."""

    greeting = "hi"

    def hello(self, name):
        return f"{self.greeting} {name}"

    async def later(self):
        pass
'''


def by_name(chunks):
    return {c.name: c for c in chunks}


def test_python_functions_methods_classes_and_nested_are_chunks():
    chunks = by_name(chunk_text("m.py", PY))
    assert chunks["top"].kind == "function"
    assert (chunks["top"].start_line, chunks["top"].end_line) == (7, 12)  # decorators included
    assert chunks["top"].text.startswith("@decorator")
    assert chunks["top.inner"].kind == "function"
    assert (chunks["top.inner"].start_line, chunks["top.inner"].end_line) == (10, 11)
    assert chunks["Greeter"].kind == "class"
    assert chunks["Greeter.hello"].kind == "method"
    assert chunks["Greeter.later"].kind == "method"
    assert "return f" in chunks["Greeter.hello"].text


def test_python_module_level_code_is_kept_so_every_line_is_covered():
    chunks = chunk_text("m.py", PY)
    module = [c for c in chunks if c.kind == "module"]
    assert module and module[0].start_line == 1 and "CONSTANT = 1" in module[0].text
    n = len(PY.splitlines())
    nonblank = {i for i, line in enumerate(PY.splitlines(), 1) if line.strip()}
    covered = {i for c in chunks for i in range(c.start_line, c.end_line + 1)}
    assert nonblank <= covered and max(covered) <= n


def test_python_syntax_error_falls_back_to_line_windows():
    text = "def broken(:\n    pass\n" + "x = 1\n" * 100
    chunks = chunk_text("bad.py", text)
    assert chunks and all(c.kind == "window" for c in chunks)
    assert chunks[0].start_line == 1 and chunks[-1].end_line == 102
    # windows overlap so a definition cut at a border is whole in one of them
    assert chunks[1].start_line <= chunks[0].end_line


def test_python_crlf_and_tabs():
    text = "def f():\r\n\treturn 1\r\n\r\nclass A:\r\n\tdef m(self):\r\n\t\treturn 2\r\n"
    names = by_name(chunk_text("crlf.py", text))
    assert set(names) >= {"f", "A", "A.m"}
    assert names["A.m"].start_line == 5


def test_markdown_sections_carry_their_heading_path():
    md = "# Guide\nintro\n\n## Install\npip install x\n\n```\n# not a heading\n```\n\n## Use\nrun it\n"
    chunks = chunk_text("README.md", md)
    assert [c.name for c in chunks] == ["Guide", "Guide > Install", "Guide > Use"]
    assert "# not a heading" in chunks[1].text


def test_long_prose_splits_at_paragraphs():
    text = "\n\n".join(f"paragraph {i} " + "word " * 20 + "\nsecond line" for i in range(40))
    chunks = chunk_text("notes.txt", text)
    assert len(chunks) > 3
    assert all(c.end_line - c.start_line < 30 for c in chunks)
    assert all(c.text.strip() for c in chunks)


def test_jsonl_rows_keep_other_fields_as_metadata():
    text = '{"id": "a1", "text": "first doc", "lang": "en"}\n\n{"id": "a2", "text": "second", "n": 3}\n'
    chunks = chunk_text("docs.jsonl", text)
    assert [(c.name, c.text, c.start_line) for c in chunks] == [("a1", "first doc", 1), ("a2", "second", 3)]
    assert chunks[0].meta == {"id": "a1", "lang": "en"}


def test_jsonl_with_another_field_and_bad_lines():
    assert chunk_text("d.jsonl", '{"body": "x"}\n', text_field="body")[0].text == "x"
    with pytest.raises(EmbedsearchError, match="no row has a 'text' field.*body"):
        chunk_text("d.jsonl", '{"body": "x"}\n')
    with pytest.raises(EmbedsearchError, match=r"d.jsonl:2: not valid JSON"):
        chunk_text("d.jsonl", '{"text": "x"}\n{oops\n')


def test_csv_rows_with_multiline_cells_keep_line_numbers():
    text = 'title,text,year\nA,"one\ntwo",1999\nB,three,2001\n'
    chunks = chunk_text("m.csv", text)
    assert [(c.name, c.start_line, c.end_line) for c in chunks] == [("A", 2, 3), ("B", 4, 4)]
    assert chunks[1].meta == {"title": "B", "year": "2001"}


def test_tree_sitter_javascript_functions_and_methods():
    js = 'import x from "y";\n\nfunction add(a, b) {\n  return a + b;\n}\n\nclass Greeter {\n  hello(n) { return n; }\n}\n'
    names = by_name(chunk_text("app.js", js))
    assert names["add"].kind == "function" and (names["add"].start_line, names["add"].end_line) == (3, 5)
    assert names["Greeter.hello"].kind == "method"


def test_unknown_language_uses_windows():
    text = "\n".join(f"line {i}" for i in range(1, 101))
    chunks = chunk_text("script.zig", text)
    assert {c.kind for c in chunks} == {"window"}
    assert chunks[0].start_line == 1 and chunks[-1].end_line == 100


def test_uncovered_ranges():
    assert uncovered(10, [(2, 3), (5, 9)]) == [(1, 1), (4, 4), (10, 10)]
    assert uncovered(3, []) == [(1, 3)]


GO = 'package main\n\nimport "fmt"\n\ntype Server struct {\n\tport int\n}\n\nfunc (s *Server) Start() error {\n\treturn nil\n}\n\nfunc main() {\n\tfmt.Println("hi")\n}\n'
RUST = 'struct Point { x: i32 }\n\nimpl Point {\n    fn norm(&self) -> i32 {\n        self.x\n    }\n}\n\nfn main() {\n    println!("hi");\n}\n'
JAVA = ('package a;\n\npublic class Greeter {\n    public Greeter() {}\n\n'
        '    public String hello(String n) {\n        return n;\n    }\n}\n')
C = '#include <stdio.h>\n\nstatic int add(int a, int b) {\n    return a + b;\n}\n\nint main(void) {\n    return add(1, 2);\n}\n'


@pytest.mark.parametrize("path,text,expected", [
    ("server.go", GO, [("module", "lines 1-3", 1, 3), ("type", "Server", 5, 7), ("method", "Server.Start", 9, 11),
                       ("function", "main", 13, 15)]),
    ("point.rs", RUST, [("type", "Point", 1, 1), ("class", "Point", 3, 7), ("method", "Point.norm", 4, 6),
                        ("function", "main", 9, 11)]),
    ("Greeter.java", JAVA, [("module", "lines 1-1", 1, 1), ("class", "Greeter", 3, 9),
                            ("method", "Greeter.Greeter", 4, 4), ("method", "Greeter.hello", 6, 8)]),
    ("add.c", C, [("module", "lines 1-1", 1, 1), ("function", "add", 3, 5), ("function", "main", 7, 9)]),
], ids=["go", "rust", "java", "c"])
def test_tree_sitter_languages_name_their_definitions(path, text, expected):
    """Every shipped grammar: definitions by kind, qualified name (a Go method by its
    receiver type, a Rust fn inside impl as a method) and lines; every line covered."""
    chunks = chunk_text(path, text)
    assert [(c.kind, c.name, c.start_line, c.end_line) for c in chunks] == expected
    covered = set()
    for c in chunks:
        covered.update(range(c.start_line, c.end_line + 1))
    assert covered >= {i for i, line in enumerate(text.splitlines(), 1) if line.strip()}


def test_generated_python_too_deep_for_the_parser_falls_back_to_windows():
    """A 1,200-branch elif chain or a 1,500-term sum nests deeper than Python's recursion
    limit; that file becomes line windows instead of aborting the whole index run."""
    from embedsearch.evaluate.codesearch import strip_docstrings

    chain = "def f(x):\n    if x == 0:\n        return 0\n" + "".join(
        f"    elif x == {i}:\n        return {i}\n" for i in range(1, 1200))
    total = "x = " + " + ".join(str(i) for i in range(1500)) + "\n"
    for text in (chain, total):
        chunks = chunk_text("generated.py", text)
        assert chunks and {c.kind for c in chunks} == {"window"}
        assert chunks[0].start_line == 1 and chunks[-1].end_line == len(text.splitlines())
        assert strip_docstrings(text) is None
