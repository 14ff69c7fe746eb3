"""Property-based tests: whatever text a file holds, chunking never raises, never yields an
empty chunk, stays inside the file, and covers every non-blank line."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedsearch.chunking import chunk_text
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
    lines = text.splitlines()
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


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000))
def test_windows_and_tree_sitter_chunkers(text):
    assert_well_formed(text, chunk_text("x.zig", text))
    assert_well_formed(text, chunk_text("x.js", text))


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
