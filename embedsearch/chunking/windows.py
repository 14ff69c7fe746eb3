"""Overlapping windows of lines: the chunker for text no grammar understands."""

from __future__ import annotations

from embedsearch.chunking import Chunk, lines_of

WINDOW = 40
OVERLAP = 10


def chunk(path: str, text: str, first_line: int = 1, kind: str = "window",
          window: int = WINDOW, overlap: int = OVERLAP) -> list[Chunk]:
    """Windows of `window` lines sharing `overlap` lines; blank-only windows are dropped."""
    lines = lines_of(text)
    step = max(window - overlap, 1)
    out: list[Chunk] = []
    start = 0
    while start < len(lines):
        end = min(start + window, len(lines))
        body = "\n".join(lines[start:end])
        if body.strip():
            a, b = first_line + start, first_line + end - 1
            out.append(Chunk(path, a, b, kind, f"lines {a}-{b}", body))
        if end == len(lines):
            break
        start += step
    return out


def spans(path: str, lines: list[str], ranges: list[tuple[int, int]], kind: str) -> list[Chunk]:
    """Window chunks over the given 1-based inclusive line ranges of a file (e.g. the
    module-level code between functions), so a file's lines are all covered."""
    out: list[Chunk] = []
    for a, b in ranges:
        out.extend(chunk(path, "\n".join(lines[a - 1:b]), first_line=a, kind=kind))
    return out


def uncovered(n_lines: int, covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The 1-based inclusive line ranges of 1..n_lines not inside any covered range."""
    mask = [False] * (n_lines + 2)
    for a, b in covered:
        for i in range(max(a, 1), min(b, n_lines) + 1):
            mask[i] = True
    out, start = [], None
    for i in range(1, n_lines + 1):
        if not mask[i] and start is None:
            start = i
        if mask[i] and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, n_lines))
    return out
