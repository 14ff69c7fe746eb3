"""Sources -> chunks -> encoder -> vectors -> store, incrementally.

A re-run re-reads the sources, reuses the stored vector of every chunk whose text is
unchanged (by content hash), embeds only new or changed chunks, and writes a complete new
generation of the index in which removed chunks simply do not exist: no stale result can
ever come back.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedsearch.ann import HnswParams
from embedsearch.chunking import Chunk, chunk_text
from embedsearch.errors import EmbedsearchError
from embedsearch.codeindex.representation import REPRESENTATIONS, SUMMARISED, embed_hash, embed_texts
from embedsearch.home import MANIFEST, Home
from embedsearch.codeindex.store import Index, Item, read_manifest, write_generation
from embedsearch.walk import MAX_FILE_BYTES, discover

Progress = Callable[[int], Callable[[int], None]]  # progress(total) -> advance(n)
LEXICAL_WEIGHT = 0.3  # BM25 share in the fused score, which picks what rerank.py orders (bench/README.md)


@dataclass
class IndexSummary:
    """What one `index` run did; the CLI prints it and --json emits it."""

    name: str
    files_read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)
    chunks: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0  # chunks given new vectors
    texts_embedded: int = 0  # distinct texts encoded for them (code, and summaries of definitions)
    truncated: int = 0
    replaced_utf8: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    up_to_date: bool = False

    @property
    def chunks_per_second(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["chunks_per_second"] = round(self.chunks_per_second, 1)
        d["seconds"] = round(self.seconds, 2)
        d["embed_seconds"] = round(self.embed_seconds, 2)
        return d


def read_source(path: Path, summary: IndexSummary, skipped: Counter) -> str | None:
    """A file's text, or None with the reason counted (unreadable, binary, empty).
    Invalid UTF-8 is decoded with replacement characters and counted, not skipped."""
    try:
        data = path.read_bytes()
    except OSError:
        skipped["unreadable"] += 1
        return None
    if not data.strip():
        skipped["empty"] += 1
        return None
    if b"\x00" in data[:8192]:
        skipped["binary"] += 1
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        summary.replaced_utf8 += 1
        return data.decode("utf-8", errors="replace")


def collect_chunks(paths: list[str], text_field: str, max_file_bytes: int, exclude: list[str],
                   summary: IndexSummary, id_field: str | None = None) -> list[Chunk]:
    """Every chunk of every readable file under `paths`, counting what was skipped."""
    walk = discover(paths, max_bytes=max_file_bytes, exclude=exclude)
    chunks: list[Chunk] = []
    for path in walk.files:
        text = read_source(path, summary, walk.skipped)
        if text is None:
            continue
        try:  # bad records are counted with the walk's skips, a few kept as examples
            file_chunks = chunk_text(str(path), text, text_field, id_field, walk.skip)
        except EmbedsearchError as exc:
            walk.skip("unusable records file", str(exc))
            continue
        summary.files_read += 1
        chunks.extend(file_chunks)
    summary.skipped, summary.skipped_examples = dict(walk.skipped), walk.examples
    return chunks


def build_index(name: str, paths: list[str] | None, home: Home | Path | str, model: str | None = None,
                text_field: str | None = None, id_field: str | None = None, max_file_bytes: int | None = None,
                exclude: list[str] | None = None, rebuild: bool = False,
                hnsw: HnswParams = HnswParams(), progress: Progress | None = None,
                representation: str | None = None, lexical_weight: float | None = None,
                add: list[str] | None = None, remove: list[str] | None = None, replace: bool = False,
                confirm: Callable[[str], bool] | None = None, wait: float = 0.0,
                on_wait: Callable[[str], None] | None = None) -> IndexSummary:
    """Create or update the index `name`; returns what was done.

    What it holds: a new index holds `paths` (and `add`). An existing one keeps the sources
    it was built from: `paths` naming those same sources (or None) updates it, `add` and
    `remove` change the list, and only `replace=True` makes `paths` its whole new list (a
    replacement that would drop more than half the chunks asks `confirm(message)` first,
    when given). Options left None keep the index's recorded ones (or the defaults for a new
    index), and options given apply: `exclude` or `max_file_bytes` on a re-run re-chunk.
    `representation` and `lexical_weight` (0 turns BM25 fusion off) are the search-quality
    levers measured in bench/README.md.

    The writer's lock is held for the whole run, from reading the previous generation to
    committing the next, so a second writer (or `rm`) is refused at once, or waits for up to
    `wait` seconds (`math.inf`: until the other finishes), instead of one update silently
    replacing another that started from the same old state; the commit itself also checks
    that the generation it read is still the current one."""
    home = Home.of(home)
    folder = home.folder(name)
    with home.lock(name, wait=wait, on_wait=on_wait):
        existed = folder.exists()
        try:
            return _build(name, paths, home, model, rebuild, hnsw, progress,
                          {"text_field": text_field, "id_field": id_field, "max_file_bytes": max_file_bytes,
                           "exclude": None if exclude is None else list(exclude),
                           "representation": representation, "lexical_weight": lexical_weight},
                          list(add or []), list(remove or []), replace, confirm)
        finally:  # a first build that failed leaves no empty folder (decided under the lock)
            if not existed and folder.is_dir() and not (folder / MANIFEST).exists():
                shutil.rmtree(folder, ignore_errors=True)


def rebuild_locked(home: Home, name: str) -> IndexSummary:
    """`index --name NAME --rebuild` for a caller that already holds NAME's lock (repair,
    when no stored row can be trusted): the recorded sources, options and encoder."""
    return _build(name, None, home, None, True, HnswParams(), None, {}, [], [], False, None)


DEFAULT_OPTIONS = {"text_field": "text", "id_field": None, "max_file_bytes": MAX_FILE_BYTES, "exclude": [],
                   "representation": SUMMARISED, "lexical_weight": LEXICAL_WEIGHT}


def _absolute(path: str) -> str:
    """A source as recorded: absolute, with `.` and `..` collapsed (symlinks kept as typed)."""
    return os.path.normpath(Path(path).expanduser().absolute())


def _same(path: str) -> str:
    """What identifies a source: its real location, so `docs`, `./docs/`, `../x/docs` and a
    symlink to it are one source."""
    return str(Path(path).resolve())


def _within(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or lies inside it (by real location)."""
    inner, outer = Path(_same(path)), Path(_same(folder))
    return inner == outer or outer in inner.parents


def resolve_sources(name: str, recorded: list[str] | None, paths: list[str] | None, add: list[str],
                    remove: list[str], replace: bool) -> list[str]:
    """The sources a run indexes, from what the index recorded (None: a new index) and what
    the user asked; an ambiguous or impossible request is one error line saying what to give
    instead. Sources are compared by their real location, and each is kept once."""
    paths = [_absolute(p) for p in paths or []]
    add, remove = [_absolute(p) for p in add], [_absolute(p) for p in remove]
    if replace and not paths:
        raise EmbedsearchError("--replace needs the PATHs that replace the index's sources")
    if recorded is None:
        if add or remove:
            raise EmbedsearchError(f"index {name!r} does not exist yet; give its PATHs to create it")
        sources = paths
    elif paths and not replace and {_same(p) for p in paths} != {_same(p) for p in recorded}:
        held = ", ".join(recorded)
        raise EmbedsearchError(
            f"index {name!r} holds {held}; to change that give --add PATH, --remove PATH, or --replace "
            f"to make {', '.join(paths)} its only source(s)")
    else:
        sources = paths if replace else list(recorded)
    seen: set[str] = set()
    sources = [p for p in sources if not (_same(p) in seen or seen.add(_same(p)))]  # each once
    for p in add:  # a path inside a source is already indexed through it
        if not any(_within(p, s) for s in sources):
            sources.append(p)
    for p in remove:  # the source itself, and any source inside it
        kept = [s for s in sources if not _within(s, p)]
        if len(kept) == len(sources):
            from embedsearch.errors import did_you_mean, suggest

            raise EmbedsearchError(
                f"{p} is not a source of index {name!r}{did_you_mean(suggest(p, sources))} (its sources: "
                f"{', '.join(sources)}; to leave out part of a source, use --exclude)")
        sources = kept
    if not sources:
        if recorded is not None and remove:
            raise EmbedsearchError(f"removing every source would leave index {name!r} empty; "
                                   f"`embedsearch rm {name}` deletes it")
        raise EmbedsearchError("give at least one PATH to index")
    missing = [s for s in sources if recorded is not None and s in recorded and not os.path.lexists(s)]
    if missing:
        raise EmbedsearchError(f"{missing[0]}, a source of index {name!r}, no longer exists; "
                               f"`embedsearch index --name {name} --remove {missing[0]}` drops it")
    return sources


def _build(name: str, paths: list[str] | None, home: Home, model: str | None, rebuild: bool, hnsw: HnswParams,
           progress: Progress | None, given: dict, add: list[str], remove: list[str], replace: bool,
           confirm: Callable[[str], bool] | None) -> IndexSummary:
    """build_index's work, under the writer's lock."""
    from embedsearch.encoders import canonical_name
    from embedsearch.encoding import resolve_encoder
    from embedsearch.codeindex.store import manifest_generation

    started = time.perf_counter()
    summary = IndexSummary(name=name)
    based_on = manifest_generation(home.folder(name))  # the commit checks it is still the current one
    if rebuild:  # nothing of the old index is reused or even opened (it may be damaged), but a
        previous = None  # readable manifest still says which sources, options and encoder it had
        recorded = home.peek(name)
        if recorded is not None and recorded.get("kind", "code") != "code":
            raise EmbedsearchError(f"{name!r} is a {recorded.get('kind')} model in {home}, not an index; "
                                   "choose another --name")
        if not (recorded and isinstance(recorded.get("encoder"), dict)):
            recorded = None
            if (home.folder(name) / MANIFEST).exists() and (add or remove):
                raise EmbedsearchError(
                    f"the manifest of index {name!r} cannot be read, so its sources are unknown; give all of them "
                    f"as PATHs (with --rebuild), or run `embedsearch repair {name}` first")
    else:
        previous = _previous(home, name)
        recorded = previous.manifest if previous is not None else None
    if previous is not None and model is not None and canonical_name(model) != recorded["encoder"]["name"]:
        raise EmbedsearchError(
            f"index {name!r} was built with encoder {recorded['encoder']['name']!r}, not "
            f"{canonical_name(model)!r}; use --rebuild to re-embed everything, or another --name"
        )
    built_from = ((recorded or {}).get("options") or {}).get("from_parquet")
    if built_from:
        raise EmbedsearchError(f"index {name!r} was built from the Parquet dataset {built_from}; update the dataset "
                               f"with `embedsearch index PATHS --engine spark --out {built_from} --name {name}`, or "
                               f"rebuild from it with `--from-parquet`")
    if recorded is None and not paths and not add and not remove:  # `index --name NAME`: an update of what?
        from embedsearch.errors import UnknownName, did_you_mean, suggest

        close = suggest(name, home.names())
        if close:
            raise UnknownName(f"there is no index {name!r} to update{did_you_mean(close)} (or give the PATHs "
                              "that make it)")
    model = model or (recorded["encoder"]["name"] if recorded is not None else None)
    recorded_sources = recorded.get("sources") if recorded is not None else None
    sources = resolve_sources(name, recorded_sources if isinstance(recorded_sources, list) else None,
                              paths, add, remove, replace)
    options = dict(DEFAULT_OPTIONS)
    options.update((recorded or {}).get("options") or {})
    options.update({k: v for k, v in given.items() if v is not None})
    if options["representation"] not in REPRESENTATIONS:
        raise EmbedsearchError(f"unknown representation {options['representation']!r} "
                               f"(choose from {', '.join(REPRESENTATIONS)})")

    chunks = collect_chunks(sources, options["text_field"], options["max_file_bytes"], options["exclude"], summary,
                            options["id_field"])
    if not chunks:
        skipped = ", ".join(f"{n} {r}" for r, n in summary.skipped.items()) or "nothing found"
        raise EmbedsearchError(f"no text to index under {', '.join(sources)} ({skipped})")
    summary.chunks = len(chunks)

    hashes = [embed_hash(c, options["representation"]) for c in chunks]
    same_rows = _diff(previous, chunks, hashes, summary)
    before = previous.count if previous is not None else int((recorded or {}).get("count") or 0)
    dropped = summary.removed if previous is not None else _dropped(home, name, chunks, hashes) if replace else 0
    if replace and confirm is not None and before and dropped > before / 2 and not confirm(
            f"replacing the sources of index {name!r} drops {dropped} of its {before} chunks"):
        raise EmbedsearchError(f"index {name!r} is unchanged: replacing its sources would drop {dropped} of its "
                               f"{before} chunks (give --yes to do it anyway)")
    if same_rows and previous.manifest.get("sources") == sources and previous.manifest.get("options") == options:
        summary.up_to_date = True  # decided without loading the encoder: seconds saved
        summary.seconds = time.perf_counter() - started
        previous.close()
        return summary

    encoder = resolve_encoder(home, model, previous.manifest["encoder"] if previous is not None else None)
    old = _old_vectors(previous, encoder.info.digest)
    vectors = _embed(chunks, hashes, options["representation"], encoder, old, summary, progress)
    rows = [Item(c.path, c.start_line, c.end_line, c.kind, c.name, c.text, c.meta, id=i, hash=h)
            for i, (c, h) in enumerate(zip(chunks, hashes))]
    manifest = {
        "kind": "code",
        "encoder": encoder.info.as_dict(),
        "sources": sources,
        "options": options,
    }
    if previous is not None and not rebuild:
        manifest["created"] = previous.manifest.get("created")
        previous.close()
    summary.seconds = time.perf_counter() - started
    manifest["last_run"] = summary.as_dict()
    write_generation(home, name, manifest, vectors, rows, hnsw, based_on=based_on)
    summary.seconds = time.perf_counter() - started
    return summary


def _dropped(home: Home, name: str, chunks: list[Chunk], hashes: list[str]) -> int:
    """How many stored chunks a --rebuild --replace drops: counted on the old generation when
    it can be read, else all of them."""
    try:
        old = _previous(home, name)
    except EmbedsearchError:
        old = None
    if old is None:
        return int((home.peek(name) or {}).get("count") or 0)
    try:
        counts = IndexSummary(name=name)
        _diff(old, chunks, hashes, counts)
        return counts.removed
    finally:
        old.close()


def _previous(home: Home, name: str) -> Index | None:
    if not (home.folder(name) / MANIFEST).is_file():
        return None
    read_manifest(home, name)  # a clear error for a damaged or foreign manifest
    return Index(home, name)


def _old_vectors(previous: Index | None, digest: str) -> dict[str, np.ndarray] | None:
    """hash -> stored vector, when the previous generation used the same encoder weights."""
    if previous is None or previous.manifest["encoder"]["digest"] != digest:
        return None
    hashes = previous.hashes()
    vecs = np.asarray(previous.vectors)
    return {h: vecs[i] for i, h in enumerate(hashes)}


def _keys(items) -> dict[tuple, str]:
    """(path, kind, name, occurrence) -> content hash: how one run's chunks are matched
    with the previous run's to count added, changed and removed."""
    seen: Counter = Counter()
    out = {}
    for path, kind, name, h in items:
        base = (path, kind, name)
        out[base + (seen[base],)] = h
        seen[base] += 1
    return out


def _diff(previous: Index | None, chunks: list[Chunk], hashes: list[str], summary: IndexSummary) -> bool:
    """Count added, changed, removed and unchanged chunks; True when the stored rows are
    exactly these chunks (same text at the same lines), so there is nothing to write."""
    rows = [(c.path, c.start_line, c.end_line, c.kind, c.name, h) for c, h in zip(chunks, hashes)]
    old_rows = [] if previous is None else previous.spans()
    new = _keys((r[0], r[3], r[4], r[5]) for r in rows)
    old = _keys((r[0], r[3], r[4], r[5]) for r in old_rows)
    summary.added = sum(1 for k in new if k not in old)
    summary.removed = sum(1 for k in old if k not in new)
    summary.changed = sum(1 for k, h in new.items() if k in old and old[k] != h)
    summary.unchanged = len(new) - summary.added - summary.changed
    return previous is not None and rows == old_rows


def _embed(chunks: list[Chunk], hashes: list[str], representation: str, encoder, old: dict | None,
           summary: IndexSummary, progress: Progress | None) -> np.ndarray:
    """Vectors for all chunks: reused where the embedded texts are unchanged, the rest
    embedded (each distinct text once) and blended (see chunk_vectors)."""
    vectors = np.zeros((len(chunks), encoder.info.dim), dtype=np.float32)
    todo = []
    for i, (c, h) in enumerate(zip(chunks, hashes)):
        if old is not None and h in old:
            vectors[i] = old[h]
        else:
            todo.append(i)
    if todo:
        t0 = time.perf_counter()
        new, texts = chunk_vectors([chunks[i] for i in todo], representation, encoder, progress, summary)
        summary.embed_seconds = time.perf_counter() - t0
        summary.embedded, summary.texts_embedded = len(todo), texts
        vectors[todo] = new
    return vectors


def chunk_vectors(chunks: list[Chunk], representation: str, encoder, progress: Progress | None = None,
                  summary: IndexSummary | None = None) -> tuple[np.ndarray, int]:
    """(vectors (n, dim), distinct texts embedded) for `chunks`: each chunk's vector is the
    normalised sum of the vectors of its embed_texts (one text for most representations,
    the code and its summary under SUMMARISED), so a cosine with it is the mean of the
    cosines with each text, rescaled. Indexing and repair both call this, so a repaired
    index holds the vectors a fresh build would."""
    from embedsearch.ann import normalise

    per_chunk = [embed_texts(c, representation) for c in chunks]
    distinct = list(dict.fromkeys(t for texts in per_chunk for t in texts))
    if summary is not None:
        summary.truncated = sum(n > encoder.info.max_seq_length for n in encoder.token_counts(distinct))
    advance = progress(len(distinct)) if progress else None
    encoded = encoder.encode(distinct, progress=advance)  # (distinct, dim)
    row = {t: j for j, t in enumerate(distinct)}
    blended = np.zeros((len(chunks), encoded.shape[1]), dtype=np.float32)  # (chunks, dim)
    for i, texts in enumerate(per_chunk):
        blended[i] = encoded[[row[t] for t in texts]].sum(axis=0)
    return normalise(blended), len(distinct)
