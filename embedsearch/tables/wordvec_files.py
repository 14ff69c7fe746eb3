"""Reading word-vector files: word2vec text, word2vec binary, GloVe text.

Each file is read once, streaming: rows go straight into a float32 array (preallocated
from the word2vec header, grown in blocks for GloVe), never into a list of Python floats
and never read a second time. The parsed table is then cached under the index home as
.npy + keys, so later commands memory-map it instead of parsing again. Every malformed
line is reported with its line number (row number for binary files, which have no lines).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedsearch.errors import Damaged, EmbedsearchError

FORMATS = ("auto", "word2vec", "word2vec-binary", "glove")
_BLOCK = 65536


@dataclass
class ParsedFile:
    keys: list[str]
    vectors: np.ndarray  # (n, d) float32
    format: str
    duplicates: int  # repeated keys dropped (the first occurrence is kept)


def detect_format(path: Path) -> str:
    """word2vec (a "count dim" header) text or binary, else GloVe text (no header)."""
    with open(path, "rb") as f:
        first = f.readline(4096)
        parts = first.split()
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            sample = f.read(4096)
            try:
                sample.decode("utf-8")
                printable = all(b >= 32 or b in (9, 10, 13) for b in sample)
            except UnicodeDecodeError:
                # a cut in the middle of a multi-byte character is still text
                printable = _decodes_mostly(sample)
            return "word2vec" if printable else "word2vec-binary"
    return "glove"


def _decodes_mostly(sample: bytes) -> bool:
    try:
        sample[:-4].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(b >= 32 or b in (9, 10, 13) for b in sample[:-4])


def read_vectors(path: str | Path, fmt: str = "auto",
                 progress: Callable[[int], None] | None = None) -> ParsedFile:
    """Parse a word-vector file into keys and an (n, d) float32 array, in one pass."""
    path = Path(path).expanduser()
    if fmt not in FORMATS:
        raise EmbedsearchError(f"unknown vectors format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise EmbedsearchError(f"no such vectors file: {path}")
    if path.stat().st_size == 0:
        raise EmbedsearchError(f"{path} is empty")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "word2vec-binary":
        return _read_binary(path, progress)
    return _read_text(path, fmt, progress)


class _Rows:
    """Keys and a growing (n, d) float32 array (preallocated when the count is known, else
    doubled); a repeated key keeps its first row and is counted in `duplicates`."""

    def __init__(self, dim: int, expected: int | None):
        self.dim = dim
        self.data = np.empty((max(expected or 1024, 1), dim), dtype=np.float32)
        self.n = 0
        self.keys: list[str] = []
        self.seen: set[str] = set()
        self.duplicates = 0

    def add(self, key: str, row: np.ndarray) -> bool:
        """Append a row; False (and nothing stored) when the key was seen before."""
        if key in self.seen:
            self.duplicates += 1
            return False
        self.seen.add(key)
        self.keys.append(key)
        if self.n == len(self.data):
            grown = np.empty((len(self.data) * 2, self.dim), dtype=np.float32)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n] = row
        self.n += 1
        return True

    def done(self) -> np.ndarray:
        return self.data[: self.n] if self.n == len(self.data) else self.data[: self.n].copy()


def _header(line: str, path: Path) -> tuple[int, int]:
    parts = line.split()
    try:
        count, dim = int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        raise EmbedsearchError(f"{path}:1: expected a word2vec header 'COUNT DIM', got {line.strip()[:60]!r}") from None
    if len(parts) != 2 or count < 0 or dim < 1:
        raise EmbedsearchError(f"{path}:1: expected a word2vec header 'COUNT DIM', got {line.strip()[:60]!r}")
    size = path.stat().st_size
    if count * dim > size:  # every value takes at least one byte, text or binary: a header that lies
        raise EmbedsearchError(f"{path}:1: the header announces {count:,} vectors of {dim:,} values, more than "
                               f"the file's {size:,} bytes can hold")
    return count, dim


def _read_text(path: Path, fmt: str, progress) -> ParsedFile:
    rows: _Rows | None = None
    count = dim = None
    with open(path, "r", encoding="utf-8", errors="strict", newline="") as f:
        number = 0
        try:
            for number, line in enumerate(f, start=1):
                if number == 1 and fmt == "word2vec":
                    count, dim = _header(line, path)
                    rows = _Rows(dim, count)
                    continue
                stripped = line.rstrip("\r\n").rstrip(" ")
                if not stripped.strip():
                    continue  # blank lines (e.g. a trailing newline) carry nothing
                word, _, rest = stripped.partition(" ")
                if not word or not rest:
                    raise EmbedsearchError(f"{path}:{number}: expected a word followed by numbers, got {stripped[:60]!r}")
                values = np.array(rest.split(" "), dtype=np.float32) if rest else np.zeros(0, np.float32)
                if rows is None:  # GloVe: the first row decides the dimension
                    dim = len(values)
                    rows = _Rows(dim, None)
                if len(values) != dim:
                    raise EmbedsearchError(
                        f"{path}:{number}: {word!r} has {len(values)} values, expected {dim} "
                        f"(dimension mismatch with {'the header' if fmt == 'word2vec' else 'line 1'})")
                if not np.isfinite(values).all():
                    raise EmbedsearchError(f"{path}:{number}: {word!r} has a value that is not a finite number")
                if rows.add(word, values) and progress and rows.n % _BLOCK == 0:
                    progress(_BLOCK)
        except ValueError as exc:
            if isinstance(exc, UnicodeDecodeError):
                raise EmbedsearchError(f"{path}:{number + 1}: not UTF-8 text ({exc.reason}); "
                                       "is it a binary word2vec file? try --format word2vec-binary") from None
            raise EmbedsearchError(f"{path}:{number}: a value is not a number ({exc})") from None
    if rows is None or rows.n == 0:
        raise EmbedsearchError(f"{path}: no vectors found")
    if count is not None and rows.n + rows.duplicates != count:
        raise EmbedsearchError(f"{path}: the header says {count} vectors, the file holds {rows.n + rows.duplicates}")
    if progress:
        progress(rows.n % _BLOCK)
    return ParsedFile(rows.keys, rows.done(), fmt, rows.duplicates)


def _read_binary(path: Path, progress) -> ParsedFile:
    """word2vec's C binary format: header line, then per row `word<space>` and dim float32s."""
    with open(path, "rb") as f:
        count, dim = _header(f.readline().decode("utf-8", "replace"), path)
        rows = _Rows(dim, count)
        width = 4 * dim
        buf = b""
        for n in range(1, count + 1):
            # read up to the space that ends the word (words may start with a newline left
            # over from the previous row)
            while True:
                space = buf.find(b" ")
                if space >= 0:
                    break
                more = f.read(_BLOCK)
                if not more:
                    raise Damaged(f"{path}: row {n} of {count}: file ends before the word (truncated?)")
                buf += more
            word_bytes = buf[:space].lstrip(b"\n")
            buf = buf[space + 1:]
            while len(buf) < width:
                more = f.read(max(_BLOCK, width))
                if not more:
                    raise Damaged(
                        f"{path}: row {n} of {count} ({word_bytes[:40]!r}): file ends inside its {dim} values (truncated?)")
                buf += more
            values = np.frombuffer(buf[:width], dtype="<f4")
            buf = buf[width:]
            try:
                word = word_bytes.decode("utf-8")
            except UnicodeDecodeError:
                raise EmbedsearchError(f"{path}: row {n}: the word is not UTF-8 ({word_bytes[:40]!r})") from None
            if not word:
                raise EmbedsearchError(f"{path}: row {n}: empty word")
            if not np.isfinite(values).all():
                raise EmbedsearchError(f"{path}: row {n} ({word!r}) has a value that is not a finite number")
            if rows.add(word, values) and progress and n % _BLOCK == 0:
                progress(_BLOCK)
        rest = buf + f.read(16)
        if rest.strip():
            raise EmbedsearchError(f"{path}: data after the {count} rows the header announces (wrong header count?)")
    if progress:
        progress(count % _BLOCK)
    return ParsedFile(rows.keys, rows.done(), "word2vec-binary", rows.duplicates)


def write_word2vec(path: Path, keys: list[str], vectors: np.ndarray, binary: bool = False) -> int:
    """Write word2vec text (or binary); keys with whitespace get '_' instead. Returns how many
    keys had to be changed so."""
    changed = 0
    safe = []
    for k in keys:
        s = "_".join(k.split()) or "_"
        changed += s != k
        safe.append(s)
    vectors = np.asarray(vectors, dtype=np.float32)
    row_fmt = " ".join(["%.9g"] * vectors.shape[1])  # 9 significant digits round-trip float32
    with open(path, "wb") as f:
        f.write(f"{len(keys)} {vectors.shape[1]}\n".encode())
        for k, v in zip(safe, vectors):
            if binary:
                f.write(k.encode("utf-8") + b" " + v.astype("<f4").tobytes() + b"\n")
            else:
                f.write((k + " " + row_fmt % tuple(v.tolist()) + "\n").encode("utf-8"))
    return changed
