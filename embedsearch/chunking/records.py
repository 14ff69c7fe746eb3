"""JSONL and CSV/TSV: one chunk per row, its text from one column (or several, joined),
the other columns kept as metadata (shown in search results and --json output, and
filtered on with --where).

A bad row (a line that is not JSON, not an object, a malformed CSV row, a row without
the text) is skipped and reported as `file:line: reason`, never the whole file; only a
file where no row has the text field at all is refused, naming the fields it does have."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from embedsearch.chunking import Chunk, lines_of
from embedsearch.errors import EmbedsearchError

NAME_FIELDS = ("title", "name", "id", "key")

Skip = Callable[[str, str], None]  # skip(reason, "file:line: detail")


def text_fields(text_field: str) -> list[str]:
    """`--text-field title,overview` -> ["title", "overview"] (joined in that order)."""
    fields = [f.strip() for f in text_field.split(",") if f.strip()]
    if not fields:
        raise EmbedsearchError("--text-field needs a field name (or several, separated by commas)")
    return fields


def chunk(path: str, text: str, text_field: str = "text", id_field: str | None = None,
          skip: Skip | None = None) -> list[Chunk]:
    """Chunks for the rows that have text in `text_field` (comma-separated fields are
    joined with newlines, in order). `id_field` names the column that identifies a record
    (its name in results, and how an update matches it with the stored one, so moving rows
    around re-embeds nothing); without it the first of title/name/id/key that a row has.
    Rows that cannot be used are passed to `skip(reason, "file:line: detail")`."""
    fields = text_fields(text_field)
    skip = skip or (lambda reason, where: None)
    jsonl = Path(path).suffix.lower() in {".jsonl", ".ndjson"}
    rows = _jsonl_rows(path, text, skip) if jsonl else _csv_rows(path, text, skip)
    out: list[Chunk] = []
    seen_fields: set[str] = set()
    lacking: list[int] = []
    for line_a, line_b, row in rows:
        seen_fields.update(row)
        parts = [str(row[f]).strip() for f in fields if row.get(f) is not None and str(row[f]).strip()]
        if not parts:
            lacking.append(line_a)
            continue
        meta = {k: v for k, v in row.items() if k not in fields}
        if id_field is not None:
            if row.get(id_field) in (None, ""):
                skip(f"record without its {id_field!r} field", f"{path}:{line_a}: no {id_field!r} value")
                continue
            name = str(row[id_field])
        else:
            name = next((str(row[f]) for f in NAME_FIELDS if row.get(f) not in (None, "")), f"row {line_a}")
        out.append(Chunk(path, line_a, line_b, "record", name, "\n".join(parts), meta))
    names, wanted = ", ".join(sorted(seen_fields)[:12]), " or ".join(repr(f) for f in fields)
    if not out and seen_fields and lacking:
        raise EmbedsearchError(f"{path}: no row has a {wanted} field (fields: {names}); choose one with --text-field")
    if id_field is not None and seen_fields and id_field not in seen_fields:
        raise EmbedsearchError(f"{path}: no row has an {id_field!r} field (fields: {names}); choose one with --id-field")
    for line in lacking:
        skip("record without text", f"{path}:{line}: no {wanted} text")
    return out


def _jsonl_rows(path: str, text: str, skip: Skip):
    for i, line in enumerate(lines_of(text), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            skip("bad record", f"{path}:{i}: not valid JSON ({exc.msg})")
            continue
        except RecursionError:
            skip("bad record", f"{path}:{i}: JSON nested too deeply")
            continue
        if not isinstance(row, dict):
            skip("bad record", f"{path}:{i}: expected a JSON object, found {type(row).__name__}")
            continue
        yield i, i, row


def _csv_rows(path: str, text: str, skip: Skip):
    """(first line, last line, row) per CSV/TSV row. A row whose column count is not the
    header's is skipped; so is a row whose quote is never closed where it should be: its
    field swallows the next lines, and when those lines read as rows on their own, the row
    is reported and reading starts again on the line after it, so one stray quote costs one
    row, not the rest of the file."""
    delimiter = "\t" if Path(path).suffix.lower() == ".tsv" else ","
    lines = lines_of(text)
    offset = 0  # lines already read before the current reader's first line

    def reader_from(line: int):
        return csv.reader(io.StringIO("\n".join(lines[line:]), newline=""), delimiter=delimiter)

    reader = reader_from(0)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        skip("bad record", f"{path}:1: malformed CSV header ({exc})")
        return
    start = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a NUL byte: this row only
            skip("bad record", f"{path}:{start}: malformed CSV ({exc})")
            start = offset + reader.line_num + 1
            continue
        end = offset + reader.line_num
        if values and end > start and _swallowed(lines[start:end], len(header), delimiter):
            skip("bad record", f"{path}:{start}: a quote opened on this line is not closed before the next rows")
            offset = start  # read again from the line after it
            reader = reader_from(offset)
            start = offset + 1
            continue
        if values and len(values) != len(header):
            skip("bad record", f"{path}:{start}: {len(values)} columns where the header has {len(header)}")
        elif values:
            yield start, end, dict(zip(header, values))
        start = end + 1


def _swallowed(inner: list[str], columns: int, delimiter: str) -> bool:
    """Whether the lines a multi-line field spans past its first (`inner`: lines 2.. of the
    row) are mostly complete rows of their own, as after a stray quote; a real multi-line
    cell holds prose, which seldom parses into exactly the header's columns."""
    if columns < 2 or not inner:
        return False
    rows = 0
    for line in inner:
        try:
            rows += len(next(csv.reader([line], delimiter=delimiter), [])) == columns
        except csv.Error:
            continue
    return rows >= 2 and rows * 2 >= len(inner)
