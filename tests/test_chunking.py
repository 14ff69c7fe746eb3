"""Chunkers: what a file becomes before it is embedded (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

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
    skipped = []
    chunks = chunk_text("d.jsonl", '{"text": "x"}\n{oops\n[1, 2]\n{"title": "no text"}\n{"text": "y"}\n',
                        skip=lambda reason, where: skipped.append((reason, where)))
    assert [c.text for c in chunks] == ["x", "y"]  # a bad line costs that line, never the file
    assert [(r, w.split(": ")[0]) for r, w in skipped] == [
        ("bad record", "d.jsonl:2"), ("bad record", "d.jsonl:3"), ("record without text", "d.jsonl:4")]
    assert "not valid JSON" in skipped[0][1] and "expected a JSON object, found list" in skipped[1][1]


def test_records_join_text_fields_and_take_ids_from_a_field():
    text = '{"sku": "a1", "title": "Kettle", "blurb": "Boils water fast"}\n{"sku": "b2", "title": "Mug"}\n'
    chunks = chunk_text("p.jsonl", text, text_field="title,blurb", id_field="sku")
    assert [(c.name, c.text) for c in chunks] == [("a1", "Kettle\nBoils water fast"), ("b2", "Mug")]
    assert chunks[0].meta == {"sku": "a1"}
    with pytest.raises(EmbedsearchError, match="no row has an 'id' field.*sku"):
        chunk_text("p.jsonl", text, text_field="title", id_field="id")
    skipped = []
    rows = chunk_text("p.csv", 'title,text\nA,one\nB,two,extra\nC,three\n',
                      skip=lambda reason, where: skipped.append(where))
    assert [c.name for c in rows] == ["A", "C"] and skipped == ["p.csv:3: 3 columns where the header has 2"]


def test_a_stray_quote_in_a_csv_costs_one_row(tmp_path):
    """An unclosed quote makes csv read the next lines into one field; when those lines are
    rows of their own, the row is reported and reading starts again after it. Rows with
    fewer columns than the header are reported too; a real multi-line cell stays whole."""
    rows = ["id,title,body"] + [f"{i},Title {i},Body text {i}" for i in range(1, 21)]
    rows[3] = '3,"Broken title,Body text 3'
    skipped = []
    chunks = chunk_text("many.csv", "\n".join(rows) + "\n", text_field="title,body", id_field="id",
                        skip=lambda reason, where: skipped.append(where))
    assert [c.name for c in chunks] == [str(i) for i in range(1, 21) if i != 3]
    assert skipped == ["many.csv:4: a quote opened on this line is not closed before the next rows"]
    assert (chunks[2].start_line, chunks[2].end_line) == (5, 5)  # line numbers stay right after it
    skipped.clear()
    text = 'id,title,genre\n1,"A\nlong title",sci\n2,B,art\n444,Night Garden\n'
    chunks = chunk_text("b.csv", text, text_field="title", skip=lambda reason, where: skipped.append(where))
    assert [(c.text, c.start_line, c.end_line) for c in chunks] == [("A\nlong title", 2, 3), ("B", 4, 4)]
    assert skipped == ["b.csv:5: 2 columns where the header has 3"]


def test_setext_and_atx_headings_both_make_sections():
    text = "Shop Toolkit\n============\n\nIntro.\n\nRefunds\n-------\n\nHow refunds work.\n"
    assert [(c.name, c.start_line) for c in chunk_text("README.md", text)] == [
        ("Shop Toolkit", 1), ("Shop Toolkit > Refunds", 6)]


def test_records_keep_their_vectors_when_rows_move(tmp_path, cli):
    from tests.fake_encoder import FAKE

    rows = [json.dumps({"sku": f"s{i}", "text": f"product number {i}"}) for i in range(5)]
    (tmp_path / "p.jsonl").write_text("\n".join(rows) + "\n")
    home = tmp_path / "home"
    assert cli("--home", home, "index", tmp_path / "p.jsonl", "--name", "p", "--model", FAKE, "--id-field", "sku").exit_code == 0
    (tmp_path / "p.jsonl").write_text("\n".join(reversed(rows)) + "\n")
    summary = json.loads(cli("--home", home, "index", "--name", "p", "--json").output)
    assert (summary["added"], summary["changed"], summary["removed"], summary["embedded"]) == (0, 0, 0, 0)
    r = cli("--home", home, "search", "p", "product number 3", "-k", "1", "--json")
    assert json.loads(r.output)["name"] == "s3"


def test_a_bad_record_is_counted_in_the_index_summary(tmp_path, cli):
    from tests.fake_encoder import FAKE

    (tmp_path / "faq.jsonl").write_text('{"q": "a", "text": "first answer"}\nnot json\n{"text": "third"}\n')
    r = cli("--home", tmp_path / "home", "index", tmp_path / "faq.jsonl", "--name", "faq", "--model", FAKE, "--json")
    summary = json.loads(r.output)
    assert r.exit_code == 0 and summary["chunks"] == 2 and summary["skipped"] == {"bad record": 1}
    assert summary["skipped_examples"]["bad record"] == [f"{tmp_path / 'faq.jsonl'}:2: not valid JSON (Expecting value)"]


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


LANGS = Path(__file__).parent / "fixtures" / "langs"


@pytest.mark.parametrize("name,expected", [
    ("retry.ts", [("module", "lines 1-1", 1, 1), ("class", "RetryOptions", 3, 7), ("type", "Backoff", 9, 9),
                  ("function", "retry", 11, 26), ("function", "parseDuration", 28, 32),
                  ("class", "RateLimiter", 34, 47), ("method", "RateLimiter.constructor", 37, 39),
                  ("method", "RateLimiter.tryAcquire", 41, 46)]),
    ("Badge.tsx", [("module", "lines 1-1", 1, 1), ("function", "Badge", 3, 6), ("function", "Avatar", 8, 8)]),
    ("lru.cpp", [("module", "lines 1-4", 1, 4), ("class", "Lru", 6, 19), ("method", "Lru.Lru", 10, 10),
                 ("method", "Lru.get", 21, 25), ("function", "fnv1a", 27, 32), ("module", "lines 33-34", 33, 34)]),
    ("Invoice.cs", [("module", "lines 1-5", 1, 5), ("class", "Invoice", 6, 26), ("method", "Invoice.AddLine", 13, 17),
                    ("method", "Invoice.Total", 19, 25), ("class", "IPaymentGateway", 28, 31),
                    ("method", "IPaymentGateway.Charge", 30, 30), ("module", "lines 32-32", 32, 32)]),
    ("slug.rb", [("module", "lines 1-3", 1, 3), ("method", "slugify", 4, 7), ("class", "Wrapper", 9, 19),
                 ("method", "Wrapper.initialize", 11, 13), ("method", "Wrapper.wrap", 15, 18),
                 ("module", "lines 20-20", 20, 20)]),
    ("mailer.php", [("module", "lines 1-2", 1, 2), ("function", "is_valid_email", 4, 10), ("class", "Mailer", 12, 21),
                    ("method", "Mailer.queue", 14, 18), ("class", "Transport", 23, 26),
                    ("method", "Transport.deliver", 25, 25)]),
    ("Matrix.kt", [("module", "lines 1-1", 1, 1), ("class", "Matrix", 3, 12), ("method", "Matrix.times", 7, 11),
                   ("function", "identity", 14, 15), ("class", "Formats", 17, 19), ("method", "Formats.pretty", 18, 18)]),
    ("backup.sh", [("module", "lines 1-2", 1, 2), ("function", "backup_folder", 4, 8),
                   ("function", "rotate_backups", 10, 12), ("module", "lines 13-15", 13, 15)]),
])
def test_more_languages_chunk_real_files_by_definition(name, expected):
    """TypeScript/TSX (arrow functions bound to names too), C++ (templates, out-of-class
    methods as Class.method), C#, Ruby, PHP, Kotlin and Bash: each fixture's definitions by
    kind, qualified name and lines, every non-blank line covered."""
    text = (LANGS / name).read_text()
    chunks = chunk_text(str(LANGS / name), text)
    assert [(c.kind, c.name, c.start_line, c.end_line) for c in chunks] == expected
    covered = set()
    for c in chunks:
        covered.update(range(c.start_line, c.end_line + 1))
    assert covered >= {i for i, line in enumerate(text.splitlines(), 1) if line.strip()}


@pytest.mark.parametrize("name,what,doc", [
    ("retry.ts", "retry", "Retry an async call with exponential backoff."),  # /** */, up to its @tag
    ("retry.ts", "parseDuration", 'Parse a duration such as "5s" or "2m" into milliseconds.'),  # //
    ("lru.cpp", "Lru", "A least-recently-used cache of fixed capacity."),  # ///, above the template line
    ("Invoice.cs", "Invoice.AddLine", "Add a line of the given amount."),  # /// <summary>
    ("slug.rb", "Wrapper.wrap", "Wrap a paragraph of text."),  # #
    ("backup.sh", "backup_folder", "Copy a folder to a dated backup archive."),
    ("Matrix.kt", "identity", "The identity matrix of size n."),
])
def test_doc_comments_belong_to_what_they_document(name, what, doc):
    """The comment right above a definition is part of its chunk (not chunked alone) and is
    its doc, the same whether read while chunking or from the stored text (a repair)."""
    from embedsearch.chunking.treesitter import chunk_doc

    chunk = by_name(chunk_text(str(LANGS / name), (LANGS / name).read_text()))[what]
    assert chunk.doc == doc and chunk_doc(chunk.path, chunk.text) == doc
    assert chunk.text.lstrip().startswith(("/", "#"))


def test_a_file_that_sends_a_grammar_into_a_spin_becomes_windows(monkeypatch):
    """tests/fixtures/spin/spin.kt (432 bytes of fuzzed text) kept tree-sitter-kotlin 1.1.0
    busy for minutes and gigabytes; parsing stops after PARSE_SECONDS and the file is
    chunked as windows, and the parser still parses the next file."""
    from embedsearch.chunking import treesitter

    monkeypatch.setattr(treesitter, "PARSE_SECONDS", 0.3)
    spin = LANGS.parent / "spin" / "spin.kt"
    text = spin.read_text(encoding="utf-8")
    chunks = chunk_text(str(spin), text)
    assert {c.kind for c in chunks} == {"window"} and chunks[-1].end_line == len(text.splitlines())
    assert [(c.kind, c.name) for c in chunk_text("next.kt", "fun k() = 1\n")] == [("function", "k")]


def test_lines_are_counted_as_editors_count_them():
    """Only "\n" ends a line (str.splitlines also splits at U+2028, form feeds and record
    separators, which a tree-sitter row or an editor does not)."""
    js = "// \x1e odd\nfunction f() {\n  return '\u2028';\n}\n"
    assert [(c.kind, c.name, c.start_line, c.end_line) for c in chunk_text("a.js", js)] == [("function", "f", 1, 4)]
    record = json.dumps({"text": "one\u2028two"}, ensure_ascii=False) + "\n"
    assert [c.text for c in chunk_text("r.jsonl", record)] == ["one\u2028two"]  # one record, not two broken lines


def test_go_doc_comments_and_methods():
    text = 'package main\n\n// Server serves things.\ntype Server struct{}\n\n// Start starts it.\nfunc (s *Server) Start() error { return nil }\n'
    chunks = by_name(chunk_text("s.go", text))
    assert (chunks["Server.Start"].start_line, chunks["Server.Start"].doc) == (6, "Start starts it.")
    assert chunks["Server"].doc == "Server serves things."


def test_notebooks_by_cell_and_extensionless_files():
    cells = chunk_text(str(LANGS / "explore.ipynb"), (LANGS / "explore.ipynb").read_text())
    assert [(c.kind, c.meta["cell"], c.start_line, c.meta["cell_type"]) for c in cells] == [
        ("cell", 1, 3, "markdown"), ("cell", 2, 4, "code"), ("cell", 3, 6, "code")]  # the empty fourth is left out
    # (located at the file line where each cell begins, so an editor opens path:line at the cell)
    assert cells[0].name == "cell 1: Exploring ratings" and "3.53" not in "".join(c.text for c in cells)
    assert cells[1].text == "import pandas as pd\nratings = pd.read_csv('ratings.csv')"
    assert {c.kind for c in chunk_text("broken.ipynb", "{not json")} == {"window"}
    assert {c.kind for c in chunk_text("README", "# Tool\n\nWhat it does.\n")} == {"section"}
    assert {c.kind for c in chunk_text("Dockerfile", "FROM python:3.11\nRUN pip install x\n")} == {"window"}
    assert {c.kind for c in chunk_text("Rakefile", "# Run the tests.\ntask :test do\nend\n")} <= {"module", "function"}
    # a path written from the working folder gets its grammar too (`./src/a.ts`)
    assert [c.name for c in chunk_text("./src/a.ts", "function f() {}\n")] == ["f"]


def test_the_walk_reads_config_notebooks_and_named_files_but_not_lock_files(tmp_path):
    from embedsearch.walk import discover

    for name in ("package.json", "package-lock.json", "settings.yaml", "pyproject.toml", "nb.ipynb", "README",
                 "LICENSE", "Makefile", "Dockerfile", "photo.png"):
        (tmp_path / name).write_text("x = 1\n")
    walk = discover([str(tmp_path)])
    assert sorted(p.name for p in walk.files) == ["Dockerfile", "LICENSE", "Makefile", "README", "nb.ipynb",
                                                  "package.json", "pyproject.toml", "settings.yaml"]
    assert walk.skipped == {"generated lock file": 1, "unsupported file type": 1}


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
