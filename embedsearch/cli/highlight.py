"""Colour for Python previews with the standard library's tokenizer.

On a terminal, search results show the head of each hit in colour. rich's Syntax with
pygments' Python lexer costs ~65 ms of a cold query (importing pygments and compiling the
lexer's regular expressions); Python's own tokenizer colours six lines in well under a
millisecond. Previews of other languages still go through rich's Syntax.
"""

from __future__ import annotations

import io
import keyword
import tokenize

from rich.text import Text

KEYWORD, NAME, STRING, NUMBER, COMMENT, DECORATOR = (
    "bold magenta", "bold green", "yellow", "cyan", "dim italic", "blue")
# Python 3.12+ splits f-strings into start, middle and end tokens
STRINGS = {tokenize.STRING, *(getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
                              if hasattr(tokenize, n))}


def python_text(code: str) -> Text:
    """`code` as a rich Text, coloured token by token. Previews are cut to a few lines and
    may end inside a string or bracket; what was read before that point keeps its colours."""
    text = Text(code, no_wrap=True, overflow="crop")
    starts = [0]
    for line in code.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    prev = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            style = _style(tok, prev)
            if style:
                text.stylize(style, starts[tok.start[0] - 1] + tok.start[1], starts[tok.end[0] - 1] + tok.end[1])
            if tok.type in (tokenize.NAME, tokenize.OP, tokenize.NUMBER, *STRINGS):
                prev = tok
    except tokenize.TokenError as exc:  # cut inside a string (colour it to the end) or a bracket
        if "string" in exc.args[0]:
            line, col = exc.args[1]
            text.stylize(STRING, starts[line - 1] + col, len(code))
    except SyntaxError:  # e.g. a dedent that matches no outer level in a cut-out snippet
        pass
    return text


def _style(tok: tokenize.TokenInfo, prev: tokenize.TokenInfo | None) -> str | None:
    if tok.type == tokenize.NAME:
        if prev is not None and prev.string in ("def", "class"):
            return NAME
        if prev is not None and prev.string == "@":
            return DECORATOR
        return KEYWORD if keyword.iskeyword(tok.string) else None
    if tok.type == tokenize.OP and tok.string == "@" and (prev is None or prev.start[0] != tok.start[0]):
        return DECORATOR
    if tok.type in STRINGS:
        return STRING
    return {tokenize.NUMBER: NUMBER, tokenize.COMMENT: COMMENT}.get(tok.type)
