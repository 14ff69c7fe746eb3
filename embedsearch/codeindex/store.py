"""The on-disk index folder, and how it changes without ever being half-written.

    HOME/NAME/
      manifest.json          the commit point: names the generation's files, with sizes
                             and digests, the encoder identity, HNSW parameters, counts
      vectors-G.npy          float32 unit rows; row i is item id i
      items-G.sqlite         one row per item: id, path, lines, kind, name, hash, text, meta
      hnsw-G.bin             hnswlib index over vectors-G.npy (label = item id)
    HOME/.NAME.lock          held by a writer (home.Home.lock: beside the folder, not in it)

A writer builds generation G+1 beside G, fsyncs it, and then atomically replaces
manifest.json. A reader opens manifest.json first and only the files it names, so it sees
G or G+1 whole, never a mix. Generation G is kept until G+2 is written, so a reader that
opened G just before the switch can finish.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedsearch.chunking import Chunk
from embedsearch.errors import Busy, Damaged, EmbedsearchError
from embedsearch.fileio import file_digest, fsync_path
from embedsearch.home import MANIFEST, Home
from embedsearch.codeindex.representation import fts_query, lexical_fields
from embedsearch.stamps import digest_matches

FORMAT = 2  # 2: items DB gained the `lexical` FTS5 table
NAME_WEIGHT = 5.0  # BM25 weight of the name column against path and body (bench/README.md)
LEXICAL_COLUMNS = ("name", "path", "body")  # of the FTS5 table, in order
HELD_LEXICAL_MAX = 500_000  # items: above this a server keeps asking FTS5 (memory, load time)

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
CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE VIRTUAL TABLE lexical USING fts5 (name, path, body, content='');
"""


def read_manifest(home: Home | Path | str, name: str, kind: str | None = "code") -> dict:
    """The manifest of an existing index (of the given kind), or one clear error (unknown
    name with close matches, damaged file, another format, missing fields)."""
    home = Home.of(home)
    manifest = home.manifest(name)
    path = home.folder(name) / MANIFEST
    if manifest.get("kind") == "code" and manifest["format"] != FORMAT:
        raise EmbedsearchError(
            f"index {name!r} has format {manifest['format']}, this version reads format {FORMAT}; "
            f"rebuild it with `embedsearch index PATH... --name {name} --rebuild`"
        )
    if kind and manifest.get("kind") != kind:
        raise EmbedsearchError(f"{name!r} is a {manifest.get('kind')} model, not a {kind} index")
    if manifest.get("kind") == "code":
        missing = _missing_fields(manifest)
        if missing:
            raise Damaged(f"index {name!r} is damaged: {path} lacks {', '.join(missing)}; "
                          f"run `embedsearch repair {name}`")
    return manifest


def describe(home: Home | Path | str, name: str) -> dict:
    """Counts, encoder, HNSW parameters, size on disk and build times of one index (what
    `embedsearch info` shows; for a CF model, what its manifest says in the same shape)."""
    home = Home.of(home)
    m = read_manifest(home, name, kind=None)
    info = {
        "name": name,
        "kind": m.get("kind"),
        "folder": str(home.folder(name).absolute()),
        "items": m.get("count"),
        "generation": m.get("generation"),
        "created": m.get("created"),
        "updated": m.get("updated"),
        "bytes_on_disk": folder_bytes(home.folder(name)) + sum(
            folder_bytes(home.folder(s)) for s in m.get("shards") or {} if home.folder(s).is_dir()),
    }
    for key in ("encoder", "hnsw", "sources", "options", "shards"):
        if key in m:
            info[key] = m[key]
    last = m.get("last_run") or {}
    if last:
        info["last_run"] = {k: last[k] for k in ("files_read", "chunks", "added", "changed", "removed",
                                                 "embedded", "seconds", "chunks_per_second") if k in last}
    return info


def _missing_fields(manifest: dict) -> list[str]:
    """The fields a code index's manifest must have that this one lacks or has malformed."""
    missing = [k for k, t in (("files", dict), ("encoder", dict), ("count", int), ("hnsw", dict))
               if not isinstance(manifest.get(k), t)]
    files = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    for role in ("vectors", "items", "hnsw") if "files" not in missing else ():
        entry = files.get(role)
        if not (isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("bytes"), int)
                and isinstance(entry.get("sha256"), str)):
            missing.append(f"files.{role}")
    encoder = manifest.get("encoder") if isinstance(manifest.get("encoder"), dict) else {}
    if "encoder" not in missing:
        missing += [f"encoder.{k}" for k in ("name", "dim", "digest") if k not in encoder]
    hnsw = manifest.get("hnsw") if isinstance(manifest.get("hnsw"), dict) else {}
    if "hnsw" not in missing:
        missing += [f"hnsw.{k}" for k in ("M", "ef_construction", "ef_search") if not isinstance(hnsw.get(k), int)]
    return missing


@dataclass(kw_only=True, repr=False)
class Item(Chunk):
    """A chunk as an index stores it: its row `id` (the row of its vector) and the `hash` of
    what was embedded (representation.embed_hash), by which an update knows which chunks it
    can keep. The one record of an item: indexing writes these, repair reads them back,
    search returns them with a rank and scores (search.Hit)."""

    id: int
    hash: str

    def __repr__(self) -> str:  # where it is and what it is; the text and metadata are attributes
        return f"{type(self).__name__}(id={self.id}, {self.kind} {self.name!r} at {self.path}:{self.start_line}-{self.end_line})"


class StaleSnapshot(Exception):
    """The generation a manifest named was replaced while we opened it: read again."""


class Index:
    """An open, read-only generation of an index: manifest, vectors, metadata, HNSW.

    Opening checks every file against the manifest (sizes, and the sha256 of the HNSW graph,
    so a damaged file is reported here rather than crashing hnswlib); the sha256 of the
    vectors is checked when they are first used (exact search, `similar`, updates), which a
    plain search never does. A file found intact before and unchanged since is not hashed
    again (stamps.py). If a writer switches generations meanwhile, the new manifest is read
    and opening starts over.
    """

    def __init__(self, home: Home | Path | str, name: str):
        self.home, self.name = Home.of(home), name
        self.folder = self.home.folder(name)
        for _ in range(5):
            try:
                self._open()
                return
            except StaleSnapshot:
                continue
        raise EmbedsearchError(f"index {name!r} changed five times while being opened; try again")

    def _open(self) -> None:
        from embedsearch.ann import load_hnsw

        self.manifest = read_manifest(self.home, self.name)
        self._postings = None  # bm25.Postings once hold_lexical has read them
        self._definitions: bool | None = None  # has_definitions, once asked of this generation
        files = self.manifest["files"]
        self.count = int(self.manifest["count"])
        dim = int(self.manifest["encoder"]["dim"])
        try:
            # the graph is verified before hnswlib reads it; the vectors file (not needed to
            # answer a plain HNSW search) is opened and size-checked now, and its digest is
            # checked the first time `vectors` is used, from this open file
            self._verify("vectors", files["vectors"], digest=False)
            self._verify("hnsw", files["hnsw"])
            vectors_path = self.folder / files["vectors"]["file"]
            self._vectors_fh = open(vectors_path, "rb")
            self._vectors_checked = False
            try:
                self._vectors = np.load(vectors_path, mmap_mode="r")
            except Exception as exc:  # numpy parses the header with ast and tokenize: damage raises anything
                raise Damaged(f"index {self.name!r} is damaged: cannot read vectors ({type(exc).__name__}: {exc}); "
                              f"run `embedsearch repair {self.name}`") from None
            if self._vectors.shape != (self.count, dim):
                raise Damaged(
                    f"index {self.name!r} is damaged: vectors are {self._vectors.shape}, expected ({self.count}, {dim})")
            self._verify("items", files["items"])  # a flipped byte in a chunk's text must not be served
            self.db = _read_only(self.folder / files['items']['file'])
            self.db.row_factory = sqlite3.Row
            self.hnsw = load_hnsw(self.folder / files["hnsw"]["file"], dim, self.count,
                                  int(self.manifest["hnsw"]["ef_search"]))
        except (FileNotFoundError, sqlite3.OperationalError) as exc:
            if self._moved_on():
                raise StaleSnapshot() from None
            raise Damaged(f"index {self.name!r} is damaged: {exc}") from None
        except (ValueError, OSError) as exc:
            raise Damaged(f"index {self.name!r} is damaged: cannot read vectors ({exc})") from None

    @property
    def vectors(self) -> np.ndarray:
        """The stored unit rows (memory-mapped), checked against the manifest's sha256 on
        first use; a damaged file is reported here, as it would have been at open."""
        if not self._vectors_checked:
            self._check_digest(self._vectors_fh, "vectors", self.manifest["files"]["vectors"])
            self._vectors_checked = True
        return self._vectors

    def rows(self, ids: list[int]) -> np.ndarray:
        """(len(ids), dim) stored rows: from the vectors file once it has been checked (a long-
        lived reader checks it once), else from the HNSW graph, verified at open (so a single
        search never reads and hashes the whole vectors file)."""
        if self._vectors_checked:
            return np.asarray(self._vectors[np.asarray(ids, dtype=np.int64)], dtype=np.float32)
        return np.asarray(self.hnsw.get_items(ids), dtype=np.float32)

    def _verify(self, role: str, entry: dict, digest: bool = True) -> None:
        path = self.folder / entry["file"]
        size = path.stat().st_size  # FileNotFoundError: missing, or replaced by a writer
        if size != entry["bytes"]:
            raise Damaged(
                f"index {self.name!r} is damaged: {entry['file']} has {size} bytes, the manifest says "
                f"{entry['bytes']} (truncated or overwritten); run `embedsearch repair {self.name}`")
        if digest:
            with open(path, "rb") as fh:
                self._check_digest(fh, role, entry)

    def _check_digest(self, fh, role: str, entry: dict) -> None:
        if not digest_matches(fh, entry["sha256"], self.folder):
            raise Damaged(
                f"index {self.name!r} is damaged: the {role} file {entry['file']} does not match its "
                f"digest (corrupted on disk); run `embedsearch repair {self.name}`")

    def _moved_on(self) -> bool:
        try:
            return read_manifest(self.home, self.name).get("generation") != self.manifest.get("generation")
        except EmbedsearchError:
            return False

    def items(self, ids: list[int]) -> list[Item]:
        """Items by id, in the order asked."""
        if not ids:
            return []
        try:
            rows = self.db.execute(
                f"SELECT * FROM items WHERE id IN ({','.join('?' * len(ids))})", [int(i) for i in ids]
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise Damaged(f"index {self.name!r} is damaged: metadata unreadable ({exc})") from None
        by_id = {r["id"]: _item(r) for r in rows}
        missing = [i for i in ids if int(i) not in by_id]
        if missing:
            raise Damaged(f"index {self.name!r} is damaged: no metadata for item ids {missing[:5]}")
        return [by_id[int(i)] for i in ids]

    def lexical(self, terms: list[str], limit: int) -> list[tuple[int, float]]:
        """(item id, BM25 score, higher is better) of the `limit` best items holding any of
        `terms` (representation.lexical_terms); names weigh most. Asked of FTS5, or of the
        same scores held in memory once `hold_lexical` has read them."""
        terms = list(dict.fromkeys(terms))  # a word asked twice counts once, in FTS5 and in memory
        if not terms:
            return []
        if self._postings is not None:
            return self._postings.search(terms, limit)
        rows = self.db.execute(
            f"SELECT rowid, bm25(lexical, {NAME_WEIGHT}, 1.0, 1.0) AS s FROM lexical WHERE lexical MATCH ? "
            "ORDER BY s LIMIT ?", (fts_query(terms), limit)).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows]

    def hold_lexical(self) -> None:
        """Read the BM25 postings into memory (bm25.Postings; about 4 s and 30 MB for 24,000
        chunks) so that `lexical` stops asking FTS5: for a long-lived reader, which may call
        this on another thread (it reads on a connection of its own). Indexes of more than
        HELD_LEXICAL_MAX items stay on FTS5."""
        from embedsearch.codeindex.bm25 import Postings

        if self.count > HELD_LEXICAL_MAX:
            return
        self._postings = Postings.read(self.folder / self.manifest["files"]["items"]["file"], "lexical",
                                       (NAME_WEIGHT, 1.0, 1.0), LEXICAL_COLUMNS)

    def outermost_functions(self, ids: list[int]) -> dict[int, int]:
        """For each of `ids` that is a function or method nested inside another function or
        method of its file, the id of the outermost such function (by line ranges)."""
        if not ids:
            return {}
        rows = self.db.execute(
            "SELECT c.id, (SELECT p.id FROM items p WHERE p.path = c.path AND p.kind IN ('function', 'method') "
            "AND p.start_line <= c.start_line AND p.end_line >= c.end_line AND p.id != c.id "
            "ORDER BY p.end_line - p.start_line DESC LIMIT 1) FROM items c "
            f"WHERE c.id IN ({','.join('?' * len(ids))}) AND c.kind IN ('function', 'method')",
            [int(i) for i in ids]).fetchall()
        return {int(c): int(p) for c, p in rows if p is not None}

    def allowed(self, filters) -> np.ndarray:
        """(count,) bool: which items pass `filters` (filters.Filters) row by row."""
        mask = np.zeros(self.count, dtype=bool)
        for r in self.db.execute("SELECT id, path, kind, meta FROM items"):
            meta = json.loads(r[3] or "{}") if filters.where else {}
            mask[r[0]] = filters.admits(r[1], r[2], meta)
        return mask

    def meta_fields(self) -> set[str]:
        """The metadata fields any item has (a record's columns), for `--where`."""
        return {r[0] for r in self.db.execute(
            "SELECT DISTINCT j.key FROM items, json_each(CASE WHEN json_valid(items.meta) THEN items.meta "
            "ELSE '{}' END) AS j")}

    def has_definitions(self) -> bool:
        """Whether the index holds functions, methods or classes (code), not only records,
        sections and windows: the re-ranker and the query adapter were fit on code and are
        applied only to code. Asked once per open generation (a records index answers it
        by reading every row)."""
        if self._definitions is None:
            self._definitions = self.db.execute(
                "SELECT 1 FROM items WHERE kind IN ('function', 'method', 'class') LIMIT 1").fetchone() is not None
        return self._definitions

    def all_items(self) -> list[Item]:
        return [_item(r) for r in self.db.execute("SELECT * FROM items ORDER BY id")]

    def hashes(self) -> list[str]:
        """Each item's embed hash, in id order (an update keeps the vectors of unchanged ones)."""
        return [r[0] for r in self.db.execute("SELECT hash FROM items ORDER BY id")]

    def spans(self) -> list[tuple[str, int, int, str, str, str]]:
        """(path, start_line, end_line, kind, name, hash) of each item, in id order: what an
        update compares with the chunks it read to count what changed."""
        return [tuple(r) for r in self.db.execute(
            "SELECT path, start_line, end_line, kind, name, hash FROM items ORDER BY id")]

    def definitions(self) -> list[tuple[int, str, str]]:
        """(id, path, name) of every function, method and class."""
        return [tuple(r) for r in self.db.execute(
            "SELECT id, path, name FROM items WHERE kind IN ('function', 'method', 'class') ORDER BY id")]

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
        self._vectors_fh.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Current:
    """Index NAME's current generation kept open for a long-lived reader (a `with CodeIndex`
    block, the server's Workspace). `get()` answers with the kept Index while the manifest
    is the file it was opened at, and reopens when another process has committed, or removed
    the index and built it again (Home.manifest_identity: the generation number alone repeats
    after a rebuild). `prepare` runs on each generation opened (the server checks its vectors
    once). The Index's SQLite connection belongs to the thread that opened it."""

    def __init__(self, home: Home, name: str, prepare: Callable[[Index], object] | None = None):
        self.home, self.name, self.prepare = home, name, prepare
        self.index: Index | None = None
        self._identity = None

    def is_current(self) -> bool:
        """Whether an Index is kept and the manifest is still the file it was opened at."""
        return self.index is not None and self.home.manifest_identity(self.name) == self._identity

    def get(self) -> Index:
        identity = self.home.manifest_identity(self.name)  # read before opening: a commit in between reopens
        if self.index is not None and identity is not None and identity == self._identity:
            return self.index
        self.close()
        index = Index(self.home, self.name)
        try:
            if self.prepare is not None:
                self.prepare(index)
        except BaseException:
            index.close()
            raise
        self.index, self._identity = index, identity
        return index

    def close(self) -> None:
        index, self.index, self._identity = self.index, None, None
        if index is not None:
            index.close()


def _read_only(db_path: Path) -> sqlite3.Connection:
    """An items DB opened read-only (whichever manifest names it, or none)."""
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)


def _item(r: sqlite3.Row) -> Item:
    return Item(r["path"], r["start_line"], r["end_line"], r["kind"], r["name"], r["text"],
                json.loads(r["meta"] or "{}"), id=r["id"], hash=r["hash"])


ITEM_COLUMNS = "id, path, start_line, end_line, kind, name, text, meta, hash"


def read_items(db_path: Path) -> list[Item]:
    """Every item of an items DB, in id order, read-only (repair reads a generation's DB this
    way, whichever manifest names it). Raises sqlite3.Error for an unreadable file."""
    db = _read_only(db_path)
    try:
        db.row_factory = sqlite3.Row
        return [_item(r) for r in db.execute(f"SELECT {ITEM_COLUMNS} FROM items ORDER BY id")]
    finally:
        db.close()


def item_ids(db_path: Path) -> list[int]:
    """The ids of an items DB, in order, after SQLite's own quick check and a parse of every
    row's metadata (what read_items will need); raises Damaged ("fails its integrity check:
    ...", "is unreadable: ...") otherwise."""
    try:
        db = _read_only(db_path)
        try:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise Damaged(f"fails its integrity check: {verdict}")
            ids = []
            for item_id, meta in db.execute("SELECT id, meta FROM items ORDER BY id"):
                try:
                    json.loads(meta or "{}")
                except (ValueError, TypeError):
                    raise Damaged(f"fails its integrity check: item {item_id}'s metadata is not JSON") from None
                ids.append(item_id)
            return ids
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise Damaged(f"is unreadable: {exc}") from None


def read_info(db_path: Path, key: str) -> dict | None:
    """A JSON object an items DB keeps in its `info` table ('manifest': what the manifest
    said of the index; 'vectors': its generation's vectors file and digest); None when it is
    missing or unreadable."""
    try:
        db = _read_only(db_path)
        try:
            row = db.execute("SELECT value FROM info WHERE key = ?", (key,)).fetchone()
        finally:
            db.close()
        value = json.loads(row[0]) if row else None
        return value if isinstance(value, dict) else None
    except (sqlite3.Error, ValueError):
        return None


def write_generation(home: Home | Path | str, name: str, manifest: dict, vectors: np.ndarray, items: list[Item],
                     hnsw_params, based_on: int | None | bool = False) -> dict:
    """Write a complete new generation and switch the manifest to it. Call under
    `home.lock(name)`.

    `items` are in vector-row order: item i is stored with id i (whatever its `id` said,
    so a subset of another generation's items can be written as a shard). A failure (disk full, read-only folder, interruption) before the manifest is
    replaced removes the partial files and leaves the previous generation in place. The
    rename of the manifest is the commit point: after it nothing is rolled back. An
    interruption then still ends the call, with the new generation whole; an error (the
    folder's fsync failing) only warns, since the index is written. Returns the manifest.

    `based_on`, when given, is the generation (None: no manifest) the writer read its
    previous state from: the commit is refused if another generation was committed since
    (compare-and-swap; under the lock that cannot happen, so it guards against a writer
    that bypassed the lock)."""
    home = Home.of(home)
    folder = home.folder(name)
    if based_on is not False and manifest_generation(folder) != based_on:
        raise Busy(f"index {name!r} was changed by another process while this run worked (generation "
                   f"{manifest_generation(folder)}, not {based_on}); nothing was written: run it again")
    old = _current_generation(folder)
    gen = old + 1
    names = {"vectors": f"vectors-{gen}.npy", "items": f"items-{gen}.sqlite", "hnsw": f"hnsw-{gen}.bin"}
    manifest = dict(manifest)
    try:
        vectors_sha256 = _write_files(folder, names, manifest, vectors, items, hnsw_params)
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        manifest.update(  # (the vectors, tens of MB, were hashed once, for the items DB)
            format=FORMAT, name=name, generation=gen, count=len(items), updated=now,
            files={role: {"file": f, "bytes": (folder / f).stat().st_size,
                          "sha256": vectors_sha256 if role == "vectors" else sha256_file(folder / f)}
                   for role, f in names.items()},
            hnsw=hnsw_params.as_dict(),
        )
        if not manifest.get("created"):
            manifest["created"] = now
        home.write_text(folder / MANIFEST, json.dumps(manifest, indent=2))
    except BaseException as exc:
        if manifest_generation(folder) == gen:  # past the commit point: keep every file
            if not isinstance(exc, (OSError, sqlite3.Error)):
                raise
            import warnings

            warnings.warn(f"index {name!r} was written (generation {gen}), but flushing its folder to disk "
                          f"failed: {getattr(exc, 'strerror', None) or exc}", RuntimeWarning, stacklevel=2)
            return manifest
        for f in [*names.values(), MANIFEST + ".tmp"]:
            try:
                (folder / f).unlink(missing_ok=True)
            except OSError:  # a read-only folder refuses even this; nothing of ours is there then
                pass
        if isinstance(exc, (OSError, sqlite3.Error)):
            raise EmbedsearchError(
                f"cannot write index {name!r} in {folder}: {getattr(exc, 'strerror', None) or exc}; "
                "the previous version of the index is unchanged") from None
        raise
    _remove_old_generations(folder, keep={gen, old})
    return manifest


def _write_files(folder: Path, names: dict, manifest: dict, vectors: np.ndarray, items: list[Item],
                 hnsw_params) -> str:
    """Write a generation's three files, fsynced; returns the vectors file's sha256."""
    from embedsearch.ann import build_hnsw, load_hnsw

    folder.mkdir(parents=True, exist_ok=True)
    for f in names.values():  # leftovers of an interrupted earlier attempt at this generation
        (folder / f).unlink(missing_ok=True)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    with open(folder / names["vectors"], "wb") as fh:
        np.save(fh, vectors)
        fh.flush()
        os.fsync(fh.fileno())
    described = {k: manifest[k] for k in ("kind", "encoder", "sources", "options", "created") if k in manifest}
    # the items DB records its generation's vectors digest, so repair can trust those vectors
    # for these rows even when the manifest that named them is gone
    vectors_sha256 = sha256_file(folder / names["vectors"])
    _write_items(folder / names["items"], items, described, {"file": names["vectors"], "sha256": vectors_sha256})
    index = build_hnsw(vectors, hnsw_params)
    index.save_index(str(folder / names["hnsw"]))
    fsync_path(folder / names["hnsw"])
    try:  # hnswlib does not report failed writes: read the file back before committing to it
        load_hnsw(folder / names["hnsw"], vectors.shape[1], len(items), hnsw_params.ef_search)
    except EmbedsearchError:
        raise OSError(errno.ENOSPC, "the HNSW file was not written completely (disk full?)") from None
    return vectors_sha256


def remove_index(home: Home | Path | str, name: str, wait: float = 0.0,
                 on_wait: Callable[[str], None] | None = None) -> None:
    """Delete index NAME's folder, under the writer's lock (waiting up to `wait` seconds
    for a running writer). A folder that is a symlink is refused: removing it would delete
    files wherever it points."""
    home = Home.of(home)
    folder = home.folder(name)
    if folder.is_symlink():
        raise EmbedsearchError(f"{folder} is a symbolic link, not an index folder of this home; "
                               "remove the link itself if that is what you want")
    if not folder.is_dir() and not wait:
        read_manifest(home, name, kind=None)  # the unknown-name error, with close matches
    if (home.peek(name) or {}).get("kind") == "sharded":  # shards.py: the set's manifest goes first, then each shard
        shard_list = list((home.peek(name) or {}).get("shards") or {})
        with home.lock(name, wait=wait, on_wait=on_wait):
            (folder / MANIFEST).unlink(missing_ok=True)
            shutil.rmtree(folder)
        for shard in shard_list:
            if home.folder(shard).is_dir():
                remove_index(home, shard, wait=wait, on_wait=on_wait)
        return
    with home.lock(name, wait=wait, on_wait=on_wait):  # (waiting, an index's first build may be under way)
        try:  # under the lock: a writer we waited for may have changed it
            read_manifest(home, name, kind=None)
        except Damaged:
            pass  # a damaged index can still be removed: it is an index folder all the same
        except EmbedsearchError:
            if not (folder.is_dir() and _only_index_files(folder)):
                raise
        # the manifest goes first, so a crash half-way leaves a folder no one mistakes for an index
        (folder / MANIFEST).unlink(missing_ok=True)
        shutil.rmtree(folder)


def _only_index_files(folder: Path) -> bool:
    """Whether a folder without a readable manifest holds nothing but what an index writes
    (an interrupted first build's generation files), so removing it loses nothing else."""
    pattern = re.compile(r"(vectors|items|hnsw)-\d+\.(npy|sqlite|bin)|manifest\.json(\.tmp)?|\.verified\.json.*|items-\d+\.sqlite-(journal|wal|shm)")
    return all(pattern.fullmatch(p.name) and p.is_file() for p in folder.iterdir())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def manifest_generation(folder: Path) -> int | None:
    """The generation the manifest on disk names, None when there is no readable one."""
    try:
        return int(json.loads((folder / MANIFEST).read_text()).get("generation"))
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def _current_generation(folder: Path) -> int:
    """The manifest's generation, else (no readable manifest) the newest generation file's."""
    generation = manifest_generation(folder)
    if generation is None:
        gens = [int(m.group(1)) for p in folder.glob("*-*.*") if (m := re.search(r"-(\d+)\.", p.name))]
        return max(gens, default=0)
    return generation


def _remove_old_generations(folder: Path, keep: set[int]) -> None:
    for p in folder.iterdir():
        m = re.fullmatch(r"(vectors|items|hnsw)-(\d+)\.(npy|sqlite|bin)", p.name)
        if m and int(m.group(2)) not in keep:
            p.unlink(missing_ok=True)


def _write_items(path: Path, items: list[Item], described: dict, vectors: dict | None = None) -> None:
    """The metadata DB, with a copy of what the manifest says about the index (encoder,
    sources, options) so `repair` can rebuild a lost manifest."""
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA)
        db.execute("INSERT INTO info (key, value) VALUES ('manifest', ?)", (json.dumps(described),))
        if vectors is not None:
            db.execute("INSERT INTO info (key, value) VALUES ('vectors', ?)", (json.dumps(vectors),))
        db.executemany(
            "INSERT INTO items (id, path, start_line, end_line, kind, name, hash, text, meta) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((i, it.path, it.start_line, it.end_line, it.kind, it.name, it.hash, it.text,
              json.dumps(it.meta, ensure_ascii=False, default=str)) for i, it in enumerate(items)),
        )
        db.executemany("INSERT INTO lexical (rowid, name, path, body) VALUES (?, ?, ?, ?)",
                       ((i, *lexical_fields(it.path, it.name, it.text)) for i, it in enumerate(items)))
        db.commit()
    finally:
        db.close()
    fsync_path(path)


def sha256_file(path: Path) -> str:
    return file_digest(path, "sha256")
