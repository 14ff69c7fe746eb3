"""A code index as a Table (tables/base.py): the index's vectors keyed by where each chunk
is, so the verbs written once for every table work on code too."""

from __future__ import annotations

import os

import numpy as np

from embedsearch.codeindex.store import Index
from embedsearch.errors import UnknownName, did_you_mean, suggest
from embedsearch.home import Home
from embedsearch.tables.base import Table


def index_table(home: Home | str | os.PathLike, name: str) -> Table:
    """Index NAME's vectors as a Table, so every table verb (lookup, neighbours, analogy,
    compare, align, export) works on it: one row per chunk, keyed `/abs/path.py:3-9`, found
    also by a relative path or a chunk's name (_chunk_row)."""
    home = Home.of(home)
    index = Index(home, name)
    try:
        keys, names = [], []
        seen: dict[str, int] = {}
        for it in index.all_items():
            k = f"{it.path}:{it.start_line}" if it.start_line == it.end_line else f"{it.path}:{it.start_line}-{it.end_line}"
            if k in seen:  # two chunks over the same lines (a class and its only method)
                k = f"{k}#{it.id}"
            seen[k] = it.id
            keys.append(k)
            names.append(it.name)
        vectors = np.asarray(index.vectors, dtype=np.float32)
    finally:
        index.close()
    return Table(name, keys, vectors, f"vectors of {index.manifest.get('kind')} index {name!r}", "index",
                 resolver=lambda key, ks: _chunk_row(name, key, ks, names))


def _chunk_row(index: str, key: str, keys: list[str], names: list[str]) -> int:
    """A code index's row for what a user types: its key (`/abs/path.py:3-9`), the same with
    a path relative to the working folder (as `--format grep` prints it: `src/a.py:3-9` or
    `src/a.py:3`), or a chunk's name (`Cart.add`, `slugify`) when exactly one chunk has it."""
    path, sep, lines = key.rpartition(":")
    if sep and path:
        absolute = os.path.normpath(os.path.abspath(path))
        for i, k in enumerate(keys):
            kp, _, kl = k.rpartition(":")
            if kp == absolute and (kl.split("#")[0] == lines or kl.split("-")[0] == lines):
                return i
    hits = [i for i, n in enumerate(names) if n == key]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise UnknownName(f"{len(hits)} chunks of index {index!r} are named {key!r}; give one by its key: "
                          + ", ".join(keys[i] for i in hits[:5]))
    raise UnknownName(f"unknown key {key!r} in table {index!r} (a chunk's name, or path:lines as search "
                      f"prints it){did_you_mean(suggest(key, sorted(set(names))))}")
