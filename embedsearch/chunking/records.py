"""JSONL and CSV/TSV: one chunk per row, its text from one column, the other columns kept
as metadata (shown in search results and --json output)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from embedsearch.chunking import Chunk
from embedsearch.errors import EmbedsearchError

NAME_FIELDS = ("title", "name", "id", "key")


def chunk(path: str, text: str, text_field: str = "text") -> list[Chunk]:
    """Rows with a non-empty `text_field`; a file where no row has it is refused, naming
    the columns it does have. Malformed JSON lines are refused with their line number."""
    rows = _jsonl_rows(path, text) if Path(path).suffix.lower() in {".jsonl", ".ndjson"} else _csv_rows(path, text)
    out: list[Chunk] = []
    seen_fields: set[str] = set()
    for line_a, line_b, row in rows:
        seen_fields.update(row)
        value = row.get(text_field)
        if value is None or not str(value).strip():
            continue
        meta = {k: v for k, v in row.items() if k != text_field}
        name = next((str(row[f]) for f in NAME_FIELDS if row.get(f) not in (None, "")), f"row {line_a}")
        out.append(Chunk(path, line_a, line_b, "record", name, str(value), meta))
    if not out and seen_fields:
        fields = ", ".join(sorted(seen_fields)[:12])
        raise EmbedsearchError(f"{path}: no row has a {text_field!r} field (fields: {fields}); choose one with --text-field")
    return out


def _jsonl_rows(path: str, text: str):
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EmbedsearchError(f"{path}:{i}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise EmbedsearchError(f"{path}:{i}: expected a JSON object, found {type(row).__name__}")
        yield i, i, row


def _csv_rows(path: str, text: str):
    delimiter = "\t" if Path(path).suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 2
    try:
        for row in reader:
            row = {k: v for k, v in row.items() if k is not None}
            yield start, reader.line_num, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise EmbedsearchError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None
