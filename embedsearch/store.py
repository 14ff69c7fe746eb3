"""The on-disk index folder, and how it changes without ever being half-written.

    HOME/NAME/
      manifest.json          the commit point: names the generation's files, with sizes
                             and digests, the encoder identity, HNSW parameters, counts
      vectors-G.npy          float32 unit rows; row i is item id i
      items-G.sqlite         one row per item: id, path, lines, kind, name, hash, text, meta
      hnsw-G.bin             hnswlib index over vectors-G.npy (label = item id)
      .lock                  held by a writer

A writer builds generation G+1 beside G, fsyncs it, and then atomically replaces
manifest.json. A reader opens manifest.json first and only the files it names, so it sees
G or G+1 whole, never a mix. Generation G is kept until G+2 is written, so a reader that
opened G just before the switch can finish.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedsearch.errors import EmbedsearchError, unknown

FORMAT = 1
MANIFEST = "manifest.json"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

SCHEMA = """
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    text TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX items_by_path ON items (path, start_line);
"""


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise EmbedsearchError(
            f"invalid index name {name!r}: use letters, digits, '.', '_' and '-' (not starting with '.' or '-')"
        )
    return name


def index_names(home: Path, kind: str | None = None) -> list[str]:
    """Names of the folders under home that hold a manifest (of the given kind)."""
    if not home.is_dir():
        return []
    names = []
    for d in sorted(home.iterdir()):
        m = d / MANIFEST
        if m.is_file():
            if kind is None or _peek_kind(m) == kind:
                names.append(d.name)
    return names


def _peek_kind(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def read_manifest(home: Path, name: str, kind: str | None = "code") -> dict:
    """The manifest of an existing index, or a clear error (unknown name, damaged file)."""
    folder = home / check_name(name)
    path = folder / MANIFEST
    if not path.is_file():
        if folder.is_dir():
            raise EmbedsearchError(f"index {name!r} at {folder} has no {MANIFEST}: it is incomplete or not an index")
        raise unknown("index", name, index_names(home))
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EmbedsearchError(f"index {name!r} is damaged: {path} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or "format" not in manifest:
        raise EmbedsearchError(f"index {name!r} is damaged: {path} is not an embedsearch manifest")
    if manifest["format"] != FORMAT:
        raise EmbedsearchError(
            f"index {name!r} has format {manifest['format']}, this version reads format {FORMAT}; rebuild it"
        )
    if kind and manifest.get("kind") != kind:
        raise EmbedsearchError(f"{name!r} is a {manifest.get('kind')} model, not a {kind} index")
    return manifest


@dataclass
class Item:
    """One stored chunk, as a search shows it."""

    id: int
    path: str
    start_line: int
    end_line: int
    kind: str
    name: str
    hash: str
    text: str
    meta: dict


class Index:
    """An open, read-only generation of an index: manifest, vectors, metadata, HNSW."""

    def __init__(self, home: Path, name: str):
        self.home, self.name = home, name
        self.folder = home / name
        self.manifest = read_manifest(home, name)
        files = self.manifest["files"]
        for role, entry in files.items():
            p = self.folder / entry["file"]
            if not p.is_file():
                raise EmbedsearchError(f"index {name!r} is damaged: {entry['file']} is missing")
            if p.stat().st_size != entry["bytes"]:
                raise EmbedsearchError(
                    f"index {name!r} is damaged: {entry['file']} has {p.stat().st_size} bytes, "
                    f"the manifest says {entry['bytes']} (truncated or overwritten)"
                )
        self.count = int(self.manifest["count"])
        try:
            self.vectors = np.load(self.folder / files["vectors"]["file"], mmap_mode="r")
        except (ValueError, OSError) as exc:
            raise EmbedsearchError(f"index {name!r} is damaged: cannot read vectors ({exc})") from None
        dim = int(self.manifest["encoder"]["dim"])
        if self.vectors.shape != (self.count, dim):
            raise EmbedsearchError(
                f"index {name!r} is damaged: vectors are {self.vectors.shape}, expected ({self.count}, {dim})"
            )
        self.db = sqlite3.connect(f"file:{self.folder / files['items']['file']}?mode=ro", uri=True)
        self.db.row_factory = sqlite3.Row
        self._hnsw = None

    @property
    def hnsw(self):
        if self._hnsw is None:
            from embedsearch.ann import load_hnsw

            params = self.manifest["hnsw"]
            self._hnsw = load_hnsw(self.folder / self.manifest["files"]["hnsw"]["file"],
                                   int(self.manifest["encoder"]["dim"]), self.count, int(params["ef_search"]))
        return self._hnsw

    def items(self, ids: list[int]) -> list[Item]:
        """Items by id, in the order asked."""
        if not ids:
            return []
        try:
            rows = self.db.execute(
                f"SELECT * FROM items WHERE id IN ({','.join('?' * len(ids))})", [int(i) for i in ids]
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise EmbedsearchError(f"index {self.name!r} is damaged: metadata unreadable ({exc})") from None
        by_id = {r["id"]: _item(r) for r in rows}
        missing = [i for i in ids if int(i) not in by_id]
        if missing:
            raise EmbedsearchError(f"index {self.name!r} is damaged: no metadata for item ids {missing[:5]}")
        return [by_id[int(i)] for i in ids]

    def all_items(self) -> list[Item]:
        return [_item(r) for r in self.db.execute("SELECT * FROM items ORDER BY id")]

    def item_at(self, path: str, line: int) -> Item | None:
        """The innermost item of `path` that contains `line`."""
        row = self.db.execute(
            "SELECT * FROM items WHERE path = ? AND start_line <= ? AND end_line >= ? "
            "ORDER BY end_line - start_line LIMIT 1", (path, line, line)).fetchone()
        return _item(row) if row else None

    def has_path(self, path: str) -> bool:
        return self.db.execute("SELECT 1 FROM items WHERE path = ? LIMIT 1", (path,)).fetchone() is not None

    def close(self) -> None:
        self.db.close()


def _item(r: sqlite3.Row) -> Item:
    return Item(r["id"], r["path"], r["start_line"], r["end_line"], r["kind"], r["name"], r["hash"],
                r["text"], json.loads(r["meta"] or "{}"))


def lock(home: Path, name: str, timeout: float = 0):
    """The writer's lock on an index; a second writer fails fast with a clear message."""
    from filelock import FileLock, Timeout

    folder = home / check_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    fl = FileLock(str(folder / ".lock"), timeout=timeout)

    class _Guard:
        def __enter__(self):
            try:
                fl.acquire()
            except Timeout:
                raise EmbedsearchError(
                    f"index {name!r} is being written by another process; try again when it finishes"
                ) from None
            return fl

        def __exit__(self, *exc):
            fl.release()

    return _Guard()


def write_generation(home: Path, name: str, manifest: dict, vectors: np.ndarray, items: list[tuple],
                     hnsw_params) -> dict:
    """Write a complete new generation and switch the manifest to it. Call under lock().

    `items` are (path, start_line, end_line, kind, name, hash, text, meta_json) in vector-row
    order. Returns the manifest written."""
    from embedsearch.ann import build_hnsw

    folder = home / name
    old = _current_generation(folder)
    gen = old + 1
    names = {"vectors": f"vectors-{gen}.npy", "items": f"items-{gen}.sqlite", "hnsw": f"hnsw-{gen}.bin"}
    for f in names.values():  # leftovers of an interrupted earlier attempt at this generation
        (folder / f).unlink(missing_ok=True)

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    with open(folder / names["vectors"], "wb") as fh:
        np.save(fh, vectors)
        _sync(fh)
    _write_items(folder / names["items"], items)
    index = build_hnsw(vectors, hnsw_params)
    index.save_index(str(folder / names["hnsw"]))
    _fsync_path(folder / names["hnsw"])

    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    manifest = dict(manifest)
    manifest.update(
        format=FORMAT, name=name, generation=gen, count=len(items), updated=now,
        files={role: {"file": f, "bytes": (folder / f).stat().st_size, "sha256": _sha256(folder / f)}
               for role, f in names.items()},
        hnsw=hnsw_params.as_dict(),
    )
    manifest.setdefault("created", now)
    _atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2))
    _remove_old_generations(folder, keep={gen, old})
    return manifest


def remove_index(home: Path, name: str) -> None:
    read_manifest(home, name, kind=None)
    with lock(home, name):
        # the manifest goes first, so a crash half-way leaves a folder no one mistakes for an index
        (home / name / MANIFEST).unlink()
    shutil.rmtree(home / name)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def _current_generation(folder: Path) -> int:
    try:
        return int(json.loads((folder / MANIFEST).read_text()).get("generation", 0))
    except (OSError, ValueError, AttributeError):
        gens = [int(m.group(1)) for p in folder.glob("*-*.*") if (m := re.search(r"-(\d+)\.", p.name))]
        return max(gens, default=0)


def _remove_old_generations(folder: Path, keep: set[int]) -> None:
    for p in folder.iterdir():
        m = re.fullmatch(r"(vectors|items|hnsw)-(\d+)\.(npy|sqlite|bin)", p.name)
        if m and int(m.group(2)) not in keep:
            p.unlink(missing_ok=True)


def _write_items(path: Path, items: list[tuple]) -> None:
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA)
        db.executemany(
            "INSERT INTO items (id, path, start_line, end_line, kind, name, hash, text, meta) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((i, *row) for i, row in enumerate(items)),
        )
        db.commit()
    finally:
        db.close()
    _fsync_path(path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sync(fh) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        _sync(fh)
    os.replace(tmp, path)
    _fsync_path(path.parent)
