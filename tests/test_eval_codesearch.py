"""`eval codesearch`: queries from docstrings, code without them, standard metrics."""

from __future__ import annotations

import ast
import json

from embedsearch.evaluate.codesearch import evaluate, first_paragraph, strip_docstrings
from tests.conftest import copy_stdlib

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
