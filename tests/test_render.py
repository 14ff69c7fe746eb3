"""Previews of hits: colour for Python from the standard tokenizer, plain text off a terminal."""

from __future__ import annotations

from embedsearch.cli.highlight import COMMENT, KEYWORD, NAME, NUMBER, STRING, python_text
from embedsearch.cli.render import preview


def styled(text, style: str) -> list[str]:
    return [text.plain[s.start:s.end] for s in text.spans if str(s.style) == style]


def test_python_preview_colours_keywords_names_strings_numbers_comments():
    t = python_text("def parse_qsl(qs, keep=1):\n    return qs.split('&')  # pairs\n")
    assert styled(t, KEYWORD) == ["def", "return"]
    assert styled(t, NAME) == ["parse_qsl"]
    assert styled(t, STRING) == ["'&'"]
    assert styled(t, NUMBER) == ["1"]
    assert styled(t, COMMENT) == ["# pairs"]
    assert t.plain == "def parse_qsl(qs, keep=1):\n    return qs.split('&')  # pairs\n"


def test_cut_off_snippets_keep_their_text_and_the_colours_read_so_far():
    t = python_text('def f(x):\n    """Start of a docstring\n    that the preview cuts')
    assert styled(t, NAME) == ["f"]
    assert styled(t, STRING) == ['"""Start of a docstring\n    that the preview cuts']
    for code in ("call(a,\n  b", "    x = 1\n  y = 2", "s = 'open", "\x00\ufeff", ""):
        assert python_text(code).plain == code  # never raises, never loses text


def test_preview_is_plain_off_a_terminal_and_coloured_on_one():
    code = "class Parser(Base):\n    pass\n"
    assert not preview(code, "p.py", highlight=False).spans
    assert styled(preview(code, "p.py", highlight=True), NAME) == ["Parser"]
