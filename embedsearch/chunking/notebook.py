"""Jupyter notebooks (.ipynb), one chunk per cell: code and Markdown cells, named by their
number (`cell 3: ...`), located at the line of the notebook file where the cell begins (so
`path:line` from `--format grep` opens the editor at the cell), with the cell number and
type in the metadata. Outputs are not indexed: they are results, not what anyone wrote."""

from __future__ import annotations

import json
import re

from embedsearch.chunking import Chunk

NAME_CHARS = 60


def chunk(path: str, text: str) -> list[Chunk]:
    """Chunks for a notebook's cells; ValueError when the file is not a notebook (the
    caller then falls back to windows, as for a file that does not parse)."""
    try:
        notebook = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not valid notebook JSON: {exc}") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise ValueError("a notebook without a list of cells")
    metadata = notebook.get("metadata")
    kernel = metadata.get("kernelspec") if isinstance(metadata, dict) else None
    language = str(kernel.get("language") or "python") if isinstance(kernel, dict) else "python"
    starts = _cell_lines(text, len(cells))
    out = []
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if not source.strip():
            continue
        kind = str(cell.get("cell_type", "code"))
        first = next(line.strip() for line in source.splitlines() if line.strip())
        title = first.lstrip("#").strip() if kind == "markdown" else first
        name = f"cell {number}: " + (title if len(title) <= NAME_CHARS else title[:NAME_CHARS - 1] + "…")
        meta = {"cell": number, "cell_type": kind}
        if kind == "code":
            meta["language"] = language
        line = starts[number - 1] if starts else number
        out.append(Chunk(path, line, line, "cell", name, source, meta=meta))
    return out


_CELL_KEY = re.compile(r'(?<!\\)"cell_type"\s*:')  # a key, never the escaped text of a source


def _cell_lines(text: str, count: int) -> list[int] | None:
    """The file line where each cell's `"cell_type"` key stands (one per cell, in order), or
    None when they cannot be matched one to one (then a cell is located by its number)."""
    lines = [text.count("\n", 0, m.start()) + 1 for m in _CELL_KEY.finditer(text)]
    return lines if len(lines) == count else None
