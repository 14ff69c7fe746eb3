"""`check` and `repair`: is an index whole, and make it whole again.

An index keeps two copies of every vector (vectors-G.npy and inside the HNSW graph) and
the full text of every chunk (SQLite), so most damage can be undone without the sources:
a damaged vectors file is restored from the graph (or the graph from the vectors), and if
both are gone the stored texts are embedded again with the recorded encoder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from embedsearch.errors import Damaged, EmbedsearchError, UnknownName, unknown
from embedsearch.codeindex.shards import is_sharded, shards
from embedsearch.home import MANIFEST, Home
from embedsearch.codeindex.store import (Item, item_ids, manifest_generation, read_info, read_items, sha256_file,
                                         write_generation)


@dataclass
class CheckReport:
    name: str
    problems: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {"ok": self.ok, **asdict(self)}


FILTERED_SHARE = 0.1  # check --recall also measures a filter keeping this share of the rows


def check(home: Home | Path | str, name: str, recall: bool = False, sample: int = 200, k: int = 10) -> CheckReport:
    """Verify manifest, metadata, vectors and HNSW agree; collect every problem found."""
    from embedsearch.ann import exact_query, hnsw_query, load_hnsw

    home = Home.of(home)
    if is_sharded(home, name):
        return _check_shards(home, name, recall, sample, k)
    report = CheckReport(name)
    manifest = _manifest_or_none(home, name, report)
    if manifest is None:
        return report
    folder = home.folder(name)
    files, count, dim = manifest["files"], int(manifest["count"]), int(manifest["encoder"]["dim"])
    report.facts.update(generation=manifest.get("generation"), items=count, dim=dim)
    intact = {role: _file_ok(folder, role, entry, report) for role, entry in files.items()}

    vectors = None
    if intact["vectors"]:
        vectors = np.load(folder / files["vectors"]["file"])
        if vectors.shape != (count, dim):
            report.problems.append(f"vectors are {vectors.shape}, the manifest says ({count}, {dim})")
        elif not np.isfinite(vectors).all():
            report.problems.append("vectors contain NaN or infinite values")
        elif not np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3):
            report.problems.append("some vectors are not unit length")
    if intact["items"]:
        ids = _item_ids(folder / files["items"]["file"], report)
        if ids is not None and ids != list(range(count)):
            report.problems.append(f"metadata holds {len(ids)} items with ids that are not 0..{count - 1}")
        if ids is not None:  # the manifest against the copy the writer put in the metadata DB
            recorded = _recorded_manifest(folder / files["items"]["file"])
            for key in ("encoder", "sources", "options"):
                if recorded is not None and key in recorded and recorded[key] != manifest.get(key):
                    report.problems.append(f"the manifest's {key} is not what the writer recorded in the metadata "
                                           f"({json.dumps(manifest.get(key))[:80]} against "
                                           f"{json.dumps(recorded[key])[:80]}); `embedsearch repair {name}` restores it")
    if intact["hnsw"]:
        try:
            graph = load_hnsw(folder / files["hnsw"]["file"], dim, count, int(manifest["hnsw"]["ef_search"]))
        except EmbedsearchError as exc:
            report.problems.append(str(exc))
            graph = None
        if graph is not None and recall and vectors is not None and count:
            queries = held_out_queries(np.asarray(vectors), sample)
            approx, _ = hnsw_query(graph, queries, k)
            exact, _ = exact_query(vectors, queries, k)
            hits = sum(len(set(a) & set(e)) for a, e in zip(approx.tolist(), exact.tolist()))
            report.facts[f"recall_at_{k}"] = round(hits / exact.size, 4)
            report.facts["recall_sample"] = len(queries)
            keep = np.random.default_rng(1).random(count) < FILTERED_SHARE  # as a selective filter would
            passing = np.flatnonzero(keep)
            if len(passing) >= k:  # hnswlib's filtered walk, as search takes it, against exact over the rows kept
                approx, _ = hnsw_query(graph, queries, k, allowed=keep)
                exact, _ = exact_query(np.asarray(vectors)[passing], queries, k)
                hits = sum(len(set(a) & set(passing[e])) for a, e in zip(approx.tolist(), exact.tolist()))
                report.facts[f"filtered_recall_at_{k}"] = round(hits / exact.size, 4)
            report.facts["filtered_rows"] = len(passing)  # (under k rows: too few to measure a filtered walk)
    leftovers = _leftovers(folder, files, int(manifest.get("generation", 0)) - 1)
    if leftovers:
        report.facts["unnamed_files"] = leftovers
    return report


def held_out_queries(vectors: np.ndarray, sample: int, seed: int = 0) -> np.ndarray:
    """Up to `sample` query vectors that are not rows of `vectors` but lie among them: each
    the normalised midpoint of a random row and its nearest other row. A row itself would
    find itself first and flatter HNSW's recall."""
    from embedsearch.ann import exact_query, normalise

    rng = np.random.default_rng(seed)
    rows = vectors[rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False)]  # (s, d)
    if len(vectors) < 2:
        return rows
    nearest, _ = exact_query(vectors, rows, 2)  # (s, 2): each row itself, then its neighbour
    return normalise(rows + vectors[nearest[:, 1]])


def _check_shards(home: Home, name: str, recall: bool, sample: int, k: int) -> CheckReport:
    """A sharded index is whole when the set is consistent and every shard checks out."""
    report = CheckReport(name)
    try:
        names = shards(home, name)
    except EmbedsearchError as exc:
        report.problems.append(str(exc))
        return report
    items = 0
    for shard in names:
        part = check(home, shard, recall, sample, k)
        report.problems += [f"shard {shard}: {p}" for p in part.problems]
        items += int(part.facts.get("items") or 0)
    report.facts.update(shards=len(names), items=items, generation=home.manifest(name).get("generation"))
    return report


def repair(home: Home | Path | str, name: str, wait: float = 0.0,
           on_wait: Callable[[str], None] | None = None) -> dict:
    """Write a new, whole generation from whatever is intact; returns what was done. Under
    the writer's lock (waiting up to `wait` seconds for a running writer). A sharded index
    is repaired shard by shard."""
    home = Home.of(home)
    if is_sharded(home, name):
        return _repair_shards(home, name, wait, on_wait)
    folder = home.folder(name)
    if not folder.is_dir() and not wait:
        raise unknown("index", name, home.names())
    with home.lock(name, wait=wait, on_wait=on_wait):
        if not folder.is_dir():  # (checked again: a writer we waited for may have removed it)
            raise unknown("index", name, home.names())
        try:
            manifest, db_path = _best_metadata(folder)
        except _NoTrustedMetadata as exc:
            return _from_sources(home, name, str(exc))
        rows = read_items(db_path)
        generation = _generation_of(db_path)
        newest = max([_generation_of(p) for p in _generation_files(folder, "items", "sqlite")] +
                     [int(manifest.get("generation") or 0), generation])
        older = "" if generation >= newest else (
            f"; the newest metadata was damaged, so this is generation {generation}'s content: "
            f"`embedsearch index --name {name}` brings it up to date")
        current = ((manifest.get("files") or {}).get("items") or {}).get("file") == db_path.name
        vectors, how = _best_vectors(folder, manifest, len(rows), generation, current)
        why, encoder = "", None
        if vectors is not None:  # kept vectors are checked against their texts, re-encoded
            try:
                encoder = _encoder(home, name, manifest)
            except EmbedsearchError:  # not loadable here: the digest-verified pairing stands
                encoder = None
            if encoder is not None and not _sample_agrees(encoder, manifest, rows, vectors):
                vectors, why = None, "the kept vectors disagreed with their re-encoded texts, so "
        if vectors is None:  # nothing trustworthy for exactly these rows: embed their texts again
            vectors = _embed_rows(encoder or _encoder(home, name, manifest), manifest, rows)
            how = why + "re-embedded the stored texts"
        from embedsearch.ann import HnswParams

        try:
            params = HnswParams.from_dict(manifest.get("hnsw") or HnswParams().as_dict())
        except (KeyError, TypeError, ValueError):  # a damaged manifest's parameters: the defaults
            params = HnswParams()
        base = {k: manifest[k] for k in ("kind", "encoder", "sources", "options", "created", "shard_of")
                if k in manifest}
        written = write_generation(home, name, base, vectors, rows, params)
    return {"name": name, "items": len(rows), "vectors": how + older, "from_generation": generation,
            "generation": written["generation"]}


def _repair_shards(home: Home, name: str, wait: float, on_wait) -> dict:
    """Repair every shard, then record their new generations in the set's manifest (under
    the set's lock), so the repaired set is consistent again."""
    from embedsearch.codeindex.shards import record

    with home.lock(name, wait=wait, on_wait=on_wait):
        parent = home.manifest(name)
        done = {shard: repair(home, shard, wait, on_wait) for shard in parent.get("shards") or {}}
        written = record(home, name, {s: d["generation"] for s, d in done.items()},
                         sum(d["items"] for d in done.values()), parent)
    return {"name": name, "items": written["count"], "from_generation": parent.get("generation"),
            "generation": written["generation"], "shards": done,
            "vectors": "; ".join(f"{s}: {d['vectors']}" for s, d in done.items())}


def _from_sources(home: Home, name: str, why: str) -> dict:
    """When no stored row can be trusted, the index is made again from the sources its
    manifest records (what `index --name NAME --rebuild` does), which guesses nothing; without
    a readable manifest naming existing sources, one line says what to do."""
    from embedsearch.codeindex.indexing import rebuild_locked

    recorded = home.peek(name) or {}
    sources = recorded.get("sources")
    if not (isinstance(sources, list) and sources and isinstance(recorded.get("encoder"), dict)
            and all(Path(s).exists() for s in sources)):
        raise EmbedsearchError(f"{why}, and its sources are not known or gone; build it again with "
                               f"`embedsearch index PATH... --name {name} --rebuild`")
    summary = rebuild_locked(home, name)
    return {"name": name, "items": summary.chunks, "from_generation": None,
            "vectors": f"{why}, so its recorded sources were read and embedded again",
            "generation": manifest_generation(home.folder(name))}


SAMPLE_ROWS = 16  # rows re-encoded to prove kept vectors belong to their texts
SAMPLE_COSINE = 0.99  # ONNX and torch agree to 0.9999; another chunk's vector is far below


def _encoder(home: Home, name: str, manifest: dict):
    """The encoder that wrote the index (the recorded one, refused if other weights)."""
    from embedsearch.encoding import resolve_encoder

    return resolve_encoder(home, built=manifest["encoder"], for_queries=True, index_name=name)


def _embed_rows(encoder, manifest: dict, rows: list[Item], only: list[int] | None = None) -> np.ndarray:
    """The vectors of stored items (all, or those at `only`), embedded as the writer did:
    its encoder and the recorded representation."""
    from embedsearch.codeindex.indexing import chunk_vectors
    from embedsearch.codeindex.representation import NAMED

    picked = rows if only is None else [rows[i] for i in only]
    vectors, _ = chunk_vectors(picked, manifest.get("options", {}).get("representation", NAMED), encoder)
    return vectors


def _sample_agrees(encoder, manifest: dict, rows: list[Item], vectors: np.ndarray) -> bool:
    """Whether kept vectors are their rows' own: a sample of rows is re-encoded and compared,
    so repair never keeps a pairing it has not checked."""
    if not rows:
        return True
    picked = sorted(np.random.default_rng(0).choice(len(rows), size=min(SAMPLE_ROWS, len(rows)), replace=False))
    fresh = _embed_rows(encoder, manifest, rows, [int(i) for i in picked])
    return float((np.asarray(vectors)[picked] * fresh).sum(axis=1).min()) >= SAMPLE_COSINE


def _manifest_or_none(home: Home, name: str, report: CheckReport) -> dict | None:
    from embedsearch.codeindex.store import read_manifest

    try:
        return read_manifest(home, name)
    except UnknownName:
        raise
    except EmbedsearchError as exc:
        report.problems.append(str(exc))
        return None


def _file_ok(folder: Path, role: str, entry: dict, report: CheckReport) -> bool:
    path = folder / entry["file"]
    if not path.is_file():
        report.problems.append(f"{role} file {entry['file']} is missing")
        return False
    if path.stat().st_size != entry["bytes"]:
        report.problems.append(f"{role} file {entry['file']} has {path.stat().st_size} bytes, "
                               f"the manifest says {entry['bytes']} (truncated?)")
        return False
    if sha256_file(path) != entry["sha256"]:
        report.problems.append(f"{role} file {entry['file']} does not match its sha256 (corrupted)")
        return False
    return True


def _item_ids(path: Path, report: CheckReport) -> list[int] | None:
    try:
        return item_ids(path)
    except Damaged as exc:
        report.problems.append(f"metadata database {exc}")
        return None


def _leftovers(folder: Path, files: dict, previous: int) -> list[str]:
    """Generation files that are neither current nor the previous generation (which is kept
    on purpose for readers that opened it just before the switch)."""
    named = {e["file"] for e in files.values()}
    out = []
    for p in folder.iterdir():
        m = re.fullmatch(r"(vectors|items|hnsw)-(\d+)\.(npy|sqlite|bin)", p.name)
        if m and p.name not in named and int(m.group(2)) != previous:
            out.append(p.name)
    return sorted(out)


def _generation_files(folder: Path, role: str, suffix: str) -> list[Path]:
    """This role's files, newest generation first."""
    found = [(int(m.group(1)), p) for p in folder.glob(f"{role}-*.{suffix}")
             if (m := re.fullmatch(rf"{role}-(\d+)\.{suffix}", p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def _best_metadata(folder: Path) -> tuple[dict, Path]:
    """The newest metadata DB that passes SQLite's integrity check, and the manifest as its
    writer recorded it there (encoder, sources, options; the rest from manifest.json)."""
    manifest = None
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        named = folder / manifest["files"]["items"]["file"]
        candidates = [named] + [p for p in _generation_files(folder, "items", "sqlite") if p != named]
    except (OSError, ValueError, KeyError, TypeError):
        manifest = None
        candidates = _generation_files(folder, "items", "sqlite")
    own = ((manifest or {}).get("files") or {}).get("items") or {}
    for path in candidates:
        report = CheckReport(folder.name)
        if path.name == own.get("file") and path.is_file() and sha256_file(path) != own.get("sha256"):
            continue  # sound to SQLite, but not the bytes the writer committed: some row was altered
        if path.is_file() and _item_ids(path, report) is not None:
            recorded = _recorded_manifest(path) or {}
            # what the writer recorded wins over an edited manifest (encoder, sources, options)
            merged = {**(manifest or {}), **recorded}
            if isinstance(merged.get("encoder"), dict) and "name" in merged["encoder"]:
                return merged, path
            # neither the manifest nor this DB says which encoder made the vectors: not usable
    raise _NoTrustedMetadata(f"index {folder.name!r} has no metadata left that passes its checks")


class _NoTrustedMetadata(EmbedsearchError):
    """No items DB can be trusted: repair then re-reads the recorded sources, or refuses."""


def _recorded_manifest(db_path: Path) -> dict | None:
    """What the writer recorded of the manifest in the metadata DB (encoder, sources, options)."""
    return read_info(db_path, "manifest")


def _generation_of(path: Path) -> int:
    return int(re.fullmatch(r"items-(\d+)\.sqlite", path.name).group(1))


def _vouched(folder: Path, entry) -> Path | None:
    """The file a manifest's entry names, when the entry is whole (a file name and a sha256:
    an edited manifest may have lost either) and the file hashes to that digest."""
    if not (isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("sha256"), str)):
        return None
    path = folder / Path(entry["file"]).name
    return path if path.is_file() and sha256_file(path) == entry["sha256"] else None


def _best_vectors(folder: Path, manifest: dict, n_rows: int, generation: int,
                  current: bool) -> tuple[np.ndarray | None, str]:
    """A trustworthy copy of the vectors of exactly the metadata DB's generation, row for
    row; None when there is none, and the stored texts must be embedded again.

    For the manifest's own generation, its digests decide: the vectors file, else the copy
    inside the HNSW graph. For another generation (the manifest's DB was damaged, or the
    manifest is gone) no digest is left, so that generation's own two copies must be there
    and agree (shape, unit norms, the same rows); one copy alone is not trusted. Vectors of
    another generation are never paired with these rows: ids shift between generations."""
    from embedsearch.ann import load_hnsw

    dim = int(manifest["encoder"]["dim"])
    files = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    if current:
        path = _vouched(folder, files.get("vectors"))
        if path is not None:
            vectors = np.load(path)
            if vectors.shape == (n_rows, dim):
                return vectors, "kept the intact vectors file"
        path = _vouched(folder, files.get("hnsw"))
        if path is not None:
            try:
                vectors = _graph_vectors(load_hnsw(path, dim, n_rows, 10))
            except EmbedsearchError:  # a graph of another row count: not these rows' vectors
                vectors = None
            if vectors is not None and vectors.shape == (n_rows, dim):
                return vectors, "restored the vectors from the HNSW graph"
        return None, ""
    # another generation's files, which no manifest vouches for: only a vectors file whose
    # digest that generation's own metadata DB recorded is used (an unverified HNSW graph is
    # never loaded: hnswlib trusts its file and can crash on a damaged one)
    recorded = read_info(folder / f"items-{generation}.sqlite", "vectors") or {}
    path = folder / f"vectors-{generation}.npy"
    if recorded.get("file") != path.name or not path.is_file() or sha256_file(path) != recorded.get("sha256"):
        return None, ""
    try:
        vectors = np.load(path, allow_pickle=False)
    except Exception:  # numpy's header parser raises all kinds on damage
        return None, ""
    if vectors.shape == (n_rows, dim) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3):
        return vectors.astype(np.float32), f"kept vectors-{generation}.npy (its digest is recorded with its rows)"
    return None, ""


def _graph_vectors(graph) -> np.ndarray:
    ids = np.arange(graph.get_current_count())
    return np.asarray(graph.get_items(ids), dtype=np.float32)
