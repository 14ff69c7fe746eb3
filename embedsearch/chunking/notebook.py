"""Jupyter notebooks (.ipynb), one chunk per cell: code and Markdown cells, with the cell's
number as its location (`path:3` is the third cell) and its type in the metadata. Outputs
are not indexed: they are results, not what anyone wrote."""

from __future__ import annotations

import json

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
        out.append(Chunk(path, number, number, "cell", name, source, meta=meta))
    return out
