"""`eval codesearch`: queries from docstrings, code without them, standard metrics."""

from __future__ import annotations

import ast
import json

from embedsearch.evaluate.codesearch import evaluate, read_questions, strip_docstrings
from embedsearch.codeindex.representation import first_paragraph
from tests.conftest import copy_stdlib
from tests.fake_encoder import FAKE

SRC = '''"""Module docstring."""


def documented(a):
    """Add one to a number and return it.

    More detail here.
    """
    return a + 1


def only_doc():
    """Does nothing at all, on purpose."""


def short():
    """Tiny."""
    return 0


class Box:
    """A box."""

    def open(self):
        """Open the box and return its contents."""
        return self.contents
'''


def test_strip_docstrings_removes_every_docstring_and_keeps_valid_code():
    stripped, queries = strip_docstrings(SRC)
    ast.parse(stripped)
    for text in ("Module docstring", "Add one", "More detail", "Does nothing", "Tiny", "A box", "Open the box"):
        assert text not in stripped
    assert "return a + 1" in stripped and "return self.contents" in stripped
    assert dict(queries) == {
        "documented": "Add one to a number and return it.",
        "only_doc": "Does nothing at all, on purpose.",
        "Box.open": "Open the box and return its contents.",
    }  # "Tiny." is under three words: not a query


def test_first_paragraph_joins_lines():
    assert first_paragraph("  Split the\n  text.\n\n  Rest.") == "Split the text."


def test_evaluate_on_real_modules_matches_an_independent_count(tmp_path, home, cli):
    corpus = copy_stdlib(tmp_path / "src", ["textwrap.py", "shlex.py"])
    expected_queries = 0
    for f in corpus.glob("*.py"):
        expected_queries += len(strip_docstrings(f.read_text())[1])
    (report,) = evaluate([str(corpus)], home=home, index_name="cs", misses=3)
    assert report.queries == expected_queries > 10
    assert 0 < report.recall_at_1 <= report.mrr_at_10 <= report.recall_at_10 <= 1
    assert report.candidates > report.queries
    (exact,) = evaluate([str(corpus)], home=home, index_name="cs", exact=True)
    assert abs(exact.mrr_at_10 - report.mrr_at_10) < 0.02  # HNSW loses (almost) nothing
    r = cli("eval", "codesearch", corpus, "--index", "cs", "--json", "--baseline")
    assert r.exit_code == 0
    baseline, default = (json.loads(line) for line in r.output.splitlines()[-2:])
    assert baseline["representation"] == "plain" and baseline["lexical_weight"] == 0
    assert default["queries"] == expected_queries and default["mrr_at_10"] == report.mrr_at_10
    assert default["mrr_at_10"] > baseline["mrr_at_10"]
    r = cli("eval", "codesearch", corpus, "--index", "cs", "--baseline")
    assert "MRR@10" in r.output and "over the baseline" in r.output


QUESTIONS = """# root: two stdlib modules
remove common leading whitespace from every line\ttextwrap.py:dedent
split a command line into arguments like a unix shell\tshlex.py:split
escape a string so the shell treats it as one word\tshlex.py:quote
wrap a long paragraph into lines of fixed width\ttextwrap.py:wrap,TextWrapper.wrap
"""


def test_questions_are_asked_of_the_code_as_it_is(tmp_path, home, cli):
    corpus = copy_stdlib(tmp_path / "src", ["textwrap.py", "shlex.py"])
    questions = tmp_path / "q.tsv"
    questions.write_text(QUESTIONS)
    r = cli("eval", "codesearch", corpus, "--questions", questions, "--index", "q", "--json", "--baseline")
    assert r.exit_code == 0, r.output
    baseline, default = (json.loads(line) for line in r.output.splitlines()[-2:])
    assert default["queries"] == baseline["queries"] == 4
    assert default["queries_from"] == str(questions)
    assert default["recall_at_10"] == 1.0 and default["mrr_at_10"] >= 0.75  # real encoder, real code
    # the docstrings were kept: the indexed text of dedent still holds its docstring
    from embedsearch.codeindex.store import Index

    index = Index(home, "q-questions-summarised-v1")
    try:
        (text,) = [r[0] for r in index.db.execute("SELECT text FROM items WHERE name = 'dedent'")]
    finally:
        index.close()
    assert '"""' in text
    r = cli("eval", "codesearch", corpus, "--questions", questions, "--index", "q")
    assert "4 questions" in r.output and "MRR@10" in r.output


def test_questions_file_mistakes_are_named(tmp_path, home, cli):
    corpus = copy_stdlib(tmp_path / "src", ["shlex.py"])
    bad = tmp_path / "bad.tsv"
    bad.write_text("split a command line\tshlex.py:split\nno tab here shlex.py:split\n\nx\tshlex.py\n")
    r = cli("eval", "codesearch", corpus, "--questions", bad)
    assert r.exit_code == 1 and "line(s) 2, 4" in r.output and "question<TAB>path:name" in r.output
    bom = tmp_path / "bom.tsv"
    bom.write_bytes("# saved by a Windows editor\r\nsplit a command line\tshlex.py:split\r\n".encode("utf-8-sig"))
    (q,) = read_questions(bom)
    assert (q.text, q.path, q.names) == ("split a command line", "shlex.py", ("split",))
    typo = tmp_path / "typo.tsv"
    typo.write_text("split a command line\tshlex.py:splitt\nquote for the shell\tshlex.py:quote\n")
    r = cli("eval", "codesearch", corpus, "--questions", typo, "--index", "t", "--model", FAKE)  # names, not ranking
    assert r.exit_code == 1 and "shlex.py:splitt" in r.output and "1 answer(s)" in r.output


def test_scores_are_computed_as_by_hand():
    """Three queries whose right answers come 1st, 4th and not at all: MRR@10 = (1 + 1/4
    + 0) / 3, Recall@1 = 1/3, Recall@10 = 2/3; a query with two right names counts its
    first one found."""
    from types import SimpleNamespace

    from embedsearch.evaluate.codesearch import Query, _score

    def hits(*ids):
        return [SimpleNamespace(rank=r, id=i, name=f"f{i}") for r, i in enumerate(ids, 1)]

    queries = [Query("a", "m.py", ("f1",)), Query("b", "m.py", ("f4", "f5")), Query("c", "m.py", ("f9",))]
    got = [hits(1, 2, 3), hits(7, 8, 6, 5, 4), hits(1, 2, 3)]
    mrr, r1, r10, missed, ranks = _score(queries, got, [{1}, {4, 5}, {9}], 10, misses=5)
    assert ranks == [1, 4, None]
    assert (mrr, r1, r10) == (round((1 + 1 / 4) / 3, 4), round(1 / 3, 4), round(2 / 3, 4))
    assert missed == [{"query": "c", "wanted": "f9", "got": ["f1", "f2", "f3"]}]
