"""Split a file's text into chunks: the items an index stores and a search returns.

One module per kind of source: `python` (ast), `treesitter` (other languages with an
installed grammar), `textdoc` (Markdown and prose), `records` (JSONL/CSV rows),
`notebook` (Jupyter cells) and `windows` (overlapping line windows, the fallback for
everything else: configuration files, Makefiles, Dockerfiles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Chunk:
    """A span of a source file, or one record of a data file.

    `text` is the full span for display; what the encoder sees may be cut to its maximum
    sequence length, but the stored text never is.
    """

    path: str
    start_line: int
    end_line: int
    kind: str
    name: str
    text: str
    meta: dict = field(default_factory=dict)
    # What the chunker's parser already knows of a definition, so nothing parses it twice:
    # its docstring's text ("" when it has none) and its parameter names. None: not known
    # (a chunk rebuilt from stored rows; representation.summary_text then reads the text).
    doc: str | None = None
    params: tuple[str, ...] | None = None


def lines_of(text: str) -> list[str]:
    """A file's lines as editors and parsers number them: split at "\n" only (a CRLF line
    loses its "\r"). Not str.splitlines, which also splits at form feeds, U+2028 and
    record separators, so its line 12 can be an editor's line 11, and a JSONL record
    holding a U+2028 would break in two."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


PYTHON_SUFFIXES = {".py", ".pyi"}
TEXT_SUFFIXES = {".md", ".markdown", ".rst", ".txt"}
RECORD_SUFFIXES = {".jsonl", ".ndjson", ".csv", ".tsv"}
NOTEBOOK_SUFFIXES = {".ipynb"}
TEXT_NAMES = {"README", "LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS", "CHANGELOG", "CHANGES",
              "CONTRIBUTING", "HISTORY", "NEWS", "INSTALL"}  # prose without a suffix (any case)
CONFIG_NAMES = {"Makefile", "Dockerfile", "CMakeLists.txt", "Justfile"}  # build files, read as line windows


def is_prose_name(name: str) -> bool:
    """Whether a file named without a suffix is prose by its name (`README`, `LICENSE`)."""
    return "." not in name and name.upper() in TEXT_NAMES


def chunk_text(path: str, text: str, text_field: str = "text", id_field: str | None = None,
               skip=None) -> list[Chunk]:
    """Chunks for one file's decoded text, chosen by the file's suffix (or name). Records
    that cannot be used are passed to `skip(reason, "file:line: detail")` (records.Skip)."""
    from embedsearch.chunking import notebook, python, records, textdoc, treesitter, windows

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in PYTHON_SUFFIXES:
        return python.chunk(path, text)
    if suffix in TEXT_SUFFIXES or is_prose_name(p.name):
        return textdoc.chunk(path, text)
    if suffix in RECORD_SUFFIXES:
        return records.chunk(path, text, text_field, id_field, skip)
    if suffix in NOTEBOOK_SUFFIXES:
        try:
            return notebook.chunk(path, text)
        except ValueError:  # not a notebook after all: its lines, like a file that does not parse
            return windows.chunk(path, text)
    if treesitter.supports(path):
        return treesitter.chunk(path, text)
    return windows.chunk(path, text)
