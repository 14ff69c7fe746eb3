"""What the home keeps only to be fast, and can make again: the encoder's ONNX exports,
the HNSW graphs of tables, table rows parsed from a file that is still there or read from
the packaged model, and downloaded data sets. `embedsearch cache` lists them and
`cache clear` removes them (under the writers' locks); nothing that is the only copy of
something is ever listed (an index, a CF model, a derived table's rows, the rows of a
table whose file is gone)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from embedsearch.home import Home

KINDS = ("onnx", "table-graph", "table-rows", "dataset")


@dataclass
class CacheEntry:
    kind: str  # one of KINDS
    name: str
    paths: list[Path]
    bytes: int
    rebuilt: str  # what makes it again when it is gone

    def as_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "paths": [str(p) for p in self.paths], "bytes_on_disk": self.bytes,
                "rebuilt": self.rebuilt}


def _size(path: Path) -> int:
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def list_caches(home: Home | str | os.PathLike | None, kinds: tuple[str, ...] = KINDS) -> list[CacheEntry]:
    """Every cache entry of the home (and the user's downloaded data sets), biggest first."""
    home = Home.of(home)
    out: list[CacheEntry] = []
    if "onnx" in kinds:
        out.extend(_onnx(home))
    if "table-graph" in kinds or "table-rows" in kinds:
        out.extend(e for e in _tables(home) if e.kind in kinds)
    if "dataset" in kinds:
        out.extend(_datasets())
    return sorted(out, key=lambda e: (-e.bytes, e.kind, e.name))


def clear_caches(home: Home | str | os.PathLike | None, kinds: tuple[str, ...] = KINDS) -> list[CacheEntry]:
    """Remove the cache entries of these kinds; returns what was removed. ONNX exports go
    under the cache's lock and table files under the registry's, so no writer of either is
    cut short (a reader that has an export open keeps reading it: the files stay until it
    closes them)."""
    home = Home.of(home)
    removed: list[CacheEntry] = []
    if "onnx" in kinds and home.cache("onnx").is_dir():
        with home.cache_lock("onnx"):
            removed.extend(_remove(_onnx(home)))
    if ("table-graph" in kinds or "table-rows" in kinds) and home.tables_root.is_dir():
        with home.registry_lock():
            removed.extend(_remove([e for e in _tables(home) if e.kind in kinds]))
    if "dataset" in kinds:
        removed.extend(_remove(_datasets()))
    return removed


def _remove(entries: list[CacheEntry]) -> list[CacheEntry]:
    for e in entries:
        for p in e.paths:
            if p.is_symlink() or p.is_file():
                p.unlink(missing_ok=True)
            elif p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
    return entries


def _onnx(home: Home) -> list[CacheEntry]:
    folder = home.cache("onnx")
    out = []
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not p.is_dir() or p.is_symlink():
            continue
        if p.name.startswith("."):  # a killed export's temporaries (the next export collects them too)
            out.append(CacheEntry("onnx", f"(unfinished export {p.name})", [p], _size(p), "(a leftover)"))
            continue
        try:
            name = json.loads((p / "encoder.json").read_text())["encoder"]["name"]
        except (OSError, ValueError, KeyError, TypeError):
            name = "(incomplete)"
        out.append(CacheEntry("onnx", f"{name} ({p.name[:12]})", [p], _size(p),
                              "exported again on next use"))
    return out


def _tables(home: Home) -> list[CacheEntry]:
    from embedsearch.stamps import STAMPS
    from embedsearch.tables.registry import TOKENS, read_registry

    try:
        registry = read_registry(home)
    except Exception:  # a damaged registry: only graphs are surely rebuildable
        registry = {}
    out = []
    root = home.tables_root
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not home.owns_table_rows(folder):
            continue
        graphs = [p for p in folder.iterdir() if not p.is_symlink() and (  # hnsw.json, graphs, temps, stamps
            p.name.startswith(("hnsw.", "hnsw-", ".hnsw.")) or p.name == STAMPS)]
        if graphs:
            out.append(CacheEntry("table-graph", folder.name, graphs, sum(_size(p) for p in graphs),
                                  "built again on next use"))
        entry = registry.get(folder.name) or {}
        source = Path(entry.get("path", "")) if entry.get("kind") == "file" else None
        if folder.name == TOKENS:
            rebuilt = "read again from the model"
        elif source is not None and source.is_file():
            rebuilt = f"parsed again from {source.name}"
        else:
            continue  # a derived table's rows, or a file table whose file is gone: the only copy
        rows = [p for p in folder.iterdir() if p not in graphs]
        out.append(CacheEntry("table-rows", folder.name, [folder], sum(_size(p) for p in rows), rebuilt))
    return out


def _datasets() -> list[CacheEntry]:
    from embedsearch.downloads import datasets_dir

    folder = datasets_dir()
    return [CacheEntry("dataset", p.name, [p], _size(p), "downloaded again on next use")
            for p in sorted(folder.iterdir()) if not p.is_symlink()] if folder.is_dir() else []
