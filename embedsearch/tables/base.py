"""The Table: named keys, one float32 row per key.

Every embedding space the tool handles (GloVe, the encoder's token table, CF factors, code
index vectors, a user's word2vec file) becomes one of these, so lookup, neighbours,
analogies, comparison and export are written once. Row i of `vectors` is what the one-hot
vector of key i picks out of the matrix.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from embedsearch.errors import EmbedsearchError, UnknownName, did_you_mean


@dataclass
class TableInfo:
    """What `embedsearch tables` shows without loading the rows."""

    name: str
    kind: str  # words | tokens | cf-items | cf-users | index | file | derived
    count: int | None
    dim: int | None
    source: str

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "keys": self.count, "dim": self.dim, "source": self.source}


@dataclass(repr=False)
class Table:
    """A lookup table: keys[i] names vectors[i].

    `vectors` may be a read-only memmap; `unit()` gives the L2-normalised copy that cosine
    searches use. `labels` optionally maps a key to categories (a movie's genres), which
    `compare` uses for genre agreement and colouring. `resolver`, when set, turns what a
    person typed into a row more leniently than exact match (movie titles without the year).
    """

    name: str
    keys: list[str]
    vectors: np.ndarray  # (n, d) float32
    source: str
    kind: str = "file"
    labels: dict[str, list[str]] | None = None
    resolver: Callable[[str, Sequence[str]], int] | None = None
    _rows: dict[str, int] | None = field(default=None, repr=False)
    _folded: dict[str, list[int]] | None = field(default=None, repr=False)
    _unit: np.ndarray | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list, repr=False)  # what a lookup chose for the user

    def __repr__(self) -> str:  # a summary: a REPL must not print 400,000 keys
        return f"Table({self.name!r}, {len(self.keys):,} keys x {self.vectors.shape[1]} dims, kind={self.kind!r})"

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2:
            raise EmbedsearchError(f"table {self.name!r}: vectors must be 2-D, got shape {self.vectors.shape}")
        if len(self.keys) != len(self.vectors):
            raise EmbedsearchError(
                f"table {self.name!r} has {len(self.keys)} keys but {len(self.vectors)} rows")

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def rows(self) -> dict[str, int]:
        """key -> row; the first row wins if a key repeats."""
        if self._rows is None:
            rows: dict[str, int] = {}
            for i, k in enumerate(self.keys):
                rows.setdefault(k, i)
            self._rows = rows
        return self._rows

    def info(self) -> TableInfo:
        return TableInfo(self.name, self.kind, len(self.keys), self.dim, self.source)

    def unit(self) -> np.ndarray:
        """(n, d) float32 rows scaled to length 1 (zero rows stay zero); computed once."""
        if self._unit is None:
            from embedsearch.ann import normalise

            self._unit = normalise(self.vectors)
        return self._unit

    def fingerprint(self) -> str:
        """A digest of keys and rows: a cached HNSW graph is reused only for the same table."""
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{len(self.keys)}x{self.dim}".encode())
        h.update("\n".join(self.keys).encode("utf-8", "surrogatepass"))
        v = np.ascontiguousarray(self.vectors, dtype=np.float32)
        step = 1 << 16
        for s in range(0, len(v), step):
            h.update(v[s:s + step].tobytes())
        return h.hexdigest()

    def row_of(self, key: str) -> int:
        """The row of a key. A key that is only there in another case ("Paris" in GloVe's
        lower-cased vocabulary) falls back to that key, the first (most frequent) if several,
        with a note in `notes` for the user; otherwise an error with suggestions."""
        row = self.rows.get(key)
        if row is not None:
            return row
        if self.resolver is not None:
            return self.resolver(key, self.keys)
        folded = self.folded().get(key.casefold())
        if folded:
            note = f"{key!r} is not in table {self.name!r}; using {self.keys[folded[0]]!r}"
            if note not in self.notes:
                self.notes.append(note)
            return folded[0]
        raise self.unknown_key(key)

    def row(self, key: str) -> np.ndarray:
        """(d,) float32: the row for a key."""
        return np.asarray(self.vectors[self.row_of(key)], dtype=np.float32)

    def folded(self) -> dict[str, list[int]]:
        """casefold(key) -> rows, for case-insensitive lookups and suggestions."""
        if self._folded is None:
            folded: dict[str, list[int]] = {}
            for i, k in enumerate(self.keys):
                folded.setdefault(k.casefold(), []).append(i)
            self._folded = folded
        return self._folded

    def suggestions(self, key: str, n: int = 3) -> list[str]:
        """Close keys: same key ignoring case first, then spelling neighbours.

        difflib over 400,000 words takes seconds, so the fuzzy pass only looks at keys of
        similar length that share the first letter (case-folded)."""
        out = [self.keys[i] for i in self.folded().get(key.casefold(), [])]
        f = key.casefold()
        if f:
            pool = [k for k in self.keys
                    if k[:1].casefold() == f[:1] and abs(len(k) - len(key)) <= 2]
            if len(pool) > 50_000:
                pool = pool[:50_000]
            for c in difflib.get_close_matches(key, pool, n=n, cutoff=0.6):
                if c not in out:
                    out.append(c)
        return out[:n]

    def unknown_key(self, key: str) -> EmbedsearchError:
        return UnknownName(f"unknown key {key!r} in table {self.name!r}{did_you_mean(self.suggestions(key))}")

    def subset(self, keys: Sequence[str], name: str | None = None) -> "Table":
        """The rows of some keys, in the order given (keys must exist)."""
        idx = np.array([self.rows[k] for k in keys], dtype=np.int64)
        vecs = np.asarray(self.vectors[idx] if len(idx) else np.zeros((0, self.dim)), dtype=np.float32)
        labels = {k: self.labels[k] for k in keys if k in self.labels} if self.labels else None
        return Table(name or self.name, list(keys), vecs, self.source, self.kind, labels)
