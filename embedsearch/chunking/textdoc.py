"""Markdown and prose: one chunk per section (heading path as its name), long sections
split at paragraph breaks so each chunk stays near what an encoder can read."""

from __future__ import annotations

import re

from embedsearch.chunking import Chunk, lines_of

MAX_LINES = 30
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
UNDERLINE = re.compile(r"^ {0,3}(=+|-{2,}|~{3,}|\^{3,}|\*{3,})\s*$")  # setext (Markdown) or reStructuredText titles


def _heading(lines: list[str], i: int) -> tuple[int, str] | None:
    """(level, title) when line i (1-based) starts a heading: `## Title`, or a title line
    underlined by the next one (`Title` over `=====`: level 1, `-----`: level 2)."""
    line = lines[i - 1]
    m = HEADING.match(line)
    if m:
        return len(m.group(1)), m.group(2)
    if i < len(lines) and line.strip() and not line.lstrip().startswith(("-", "*", "+", ">", "|")) \
            and (i == 1 or not lines[i - 2].strip()):
        under = UNDERLINE.match(lines[i])
        if under:
            return (1 if under.group(1)[0] in "=*" else 2), line.strip()
    return None


def chunk(path: str, text: str) -> list[Chunk]:
    lines = lines_of(text)
    out: list[Chunk] = []
    for start, end, title in sections(lines):
        for a, b in paragraphs(lines, start, end):
            body = "\n".join(lines[a - 1:b])
            if body.strip():
                out.append(Chunk(path, a, b, "section", title or f"lines {a}-{b}", body))
    return out


def sections(lines: list[str]):
    """(first line, last line, heading path) per Markdown section; prose is one section."""
    trail: list[tuple[int, str]] = []
    start, title, in_fence = 1, "", False
    for i, line in enumerate(lines, 1):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        heading = None if in_fence else _heading(lines, i)
        if heading and i > start:
            yield start, i - 1, title
            start = i
        if heading:
            level, text = heading
            trail = [(lv, t) for lv, t in trail if lv < level] + [(level, text)]
            title = " > ".join(t for _, t in trail)
    if start <= len(lines):
        yield start, len(lines), title


def paragraphs(lines: list[str], start: int, end: int):
    """Split lines start..end into runs of whole paragraphs of at most MAX_LINES lines
    (a single longer paragraph is cut into MAX_LINES pieces)."""
    a = start
    last_break = None
    for i in range(start, end + 1):
        if not lines[i - 1].strip():
            last_break = i
        if i - a + 1 >= MAX_LINES:
            cut = last_break if last_break and last_break > a else i
            yield a, cut
            a, last_break = cut + 1, None
    if a <= end:
        yield a, end
