"""A trained model on disk: HOME/<name>/ with a manifest, weights, vocabularies, ratings.

Files: manifest.json ({"format": 2, "kind": "cf", ...} with options and metrics),
weights.pt (the state_dict), vocab.json (user ids and item titles, row order), rated.npz
(every known (user, item) pair, so recommendations skip what a user already rated, and the
per-item rating counts). `cf similar` answers from the HNSW graph of the model's items
table, which the home's table cache keeps (tables/ops.hnsw_for), as for any table.
A save is written to a temporary folder that then takes the old model's place in one
atomic exchange (Home.replace_folder), so an interrupted save leaves the old model or the
new one, never half of one and never none.
"""

from __future__ import annotations

import json
import os
import pickle
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedsearch.cf.data import Ratings
from embedsearch.errors import Damaged, EmbedsearchError
from embedsearch.fileio import pid_alive
from embedsearch.home import MANIFEST, COMMIT_WAIT, Home

FORMAT = 2  # 2: no items.hnsw (the items table's cache), and `linear` bias models (ALS); 1 still read
READS = (1, 2)
DEFAULT_NAME = "movielens"


@dataclass
class SavedModel:
    """A model loaded back from the index home, with what every command needs around it."""

    name: str
    path: Path
    manifest: dict
    model: object  # nn.Module, in eval mode
    user_keys: list[str]
    item_keys: list[str]
    rated_users: np.ndarray  # (n,) user rows of every known rating
    rated_items: np.ndarray  # (n,) item rows of every known rating
    item_counts: np.ndarray  # (n_items,) ratings per item

    @property
    def kind(self) -> str:
        return self.manifest["model"]

    def item_factors(self) -> np.ndarray:
        """The item factor (embedding) table as float32, (n_items, factors)."""
        return self.model.item_factors.weight.detach().numpy()

    def rated_by(self, user_row: int) -> np.ndarray:
        """Item rows the user has rated."""
        return self.rated_items[self.rated_users == user_row]


@dataclass
class RatedChunks:
    """Every known rating's (user row, item row), handed over in chunks: how a model
    trained on a cluster is saved without its ratings ever being in the driver's memory
    at once (cf/spark.py). `chunks()` yields ((n,) users, (n,) items) arrays, `count` in all."""

    user_keys: list[str]
    item_keys: list[str]
    count: int
    chunks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]

    def __len__(self) -> int:
        return self.count


def write_rated(path: Path, chunks: Iterable[tuple[np.ndarray, np.ndarray]], count: int, n_items: int) -> None:
    """rated.npz (users, items: int32 (count,); counts: int32 (n_items,) ratings per item)
    written chunk by chunk: each array is appended to a .npy beside `path` (its header
    written first, for `count` rows), then both go into the (uncompressed, as np.savez
    writes it) zip, so memory holds one chunk."""
    import io

    parts = {k: path.with_name(f".{path.stem}-{k}.npy") for k in ("users", "items")}
    files: dict = {}
    counts, at = np.zeros(n_items, dtype=np.int64), 0
    try:
        files = {k: open(f, "wb") for k, f in parts.items()}
        for fh in files.values():
            np.lib.format.write_array_header_1_0(fh, {"descr": "<i4", "fortran_order": False, "shape": (count,)})
        for users, items in chunks:
            n = len(users)
            if at + n > count:
                raise EmbedsearchError(f"the ratings changed while the model was saved (more than {count:,})")
            files["users"].write(np.asarray(users, dtype="<i4").tobytes())
            files["items"].write(np.asarray(items, dtype="<i4").tobytes())
            counts += np.bincount(np.asarray(items, dtype=np.int64), minlength=n_items)
            at += n
        if at != count:
            raise EmbedsearchError(f"the ratings changed while the model was saved ({at:,} of {count:,})")
        for fh in files.values():
            fh.close()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
            for k, f in parts.items():
                z.write(f, f"{k}.npy")
            buf = io.BytesIO()
            np.save(buf, counts.astype(np.int32))
            z.writestr("counts.npy", buf.getvalue())
    finally:
        for fh in files.values():
            fh.close()
        for f in parts.values():
            f.unlink(missing_ok=True)


def save_model(
    home: Home | Path | str, name: str, model, options: dict, metrics: dict, source: str,
    all_ratings: Ratings | RatedChunks,
) -> Path:
    """Write the model under home/name as one folder (fileio.replace_folder) and return it."""
    home = Home.of(home)
    target = home.folder(name, "model")
    # the rated pairs first, outside the lock: from a cluster they stream for minutes, and
    # another save of NAME waits for the lock only seconds (COMMIT_WAIT)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{name}.rated-*.npz"):  # left by a killed save
        if not pid_alive(stale.stem.rsplit("-", 1)[-1]):
            stale.unlink(missing_ok=True)
    staged = target.parent / f".{name}.rated-{os.getpid()}.npz"
    chunks = all_ratings.chunks() if isinstance(all_ratings, RatedChunks) else [(all_ratings.users, all_ratings.items)]
    try:
        write_rated(staged, chunks, len(all_ratings), len(all_ratings.item_keys))
        return _commit(home, target, name, model, options, metrics, source, all_ratings, staged)
    finally:
        staged.unlink(missing_ok=True)


def _commit(home: Home, target: Path, name: str, model, options: dict, metrics: dict, source: str,
            all_ratings: Ratings | RatedChunks, staged: Path) -> Path:
    """save_model's folder, under NAME's lock, with the rated pairs already in `staged`."""
    import torch

    def write(tmp: Path) -> None:
        torch.save(model.state_dict(), tmp / "weights.pt")
        (tmp / "vocab.json").write_text(
            json.dumps({"users": all_ratings.user_keys, "items": all_ratings.item_keys}, ensure_ascii=False)
        )
        os.replace(staged, tmp / "rated.npz")
        manifest = {
            "format": FORMAT,
            "kind": "cf",
            "model": model.kind,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "source": source,
            "n_users": len(all_ratings.user_keys),
            "n_items": len(all_ratings.item_keys),
            "n_ratings": len(all_ratings),
            "options": options,
            "metrics": metrics,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))

    # the training is done: wait for another save of NAME (seconds) rather than lose it
    with home.lock(name, "model", wait=COMMIT_WAIT):  # checked under the lock: another may be making NAME
        existing = home.peek(name) if target.exists() else None
        if target.is_symlink() or (target.exists() and existing is None):
            raise EmbedsearchError(f"{target} exists and is not a saved model; choose another --name")
        if existing is not None and existing.get("kind") != "cf":
            raise EmbedsearchError(f"{target} holds a {existing.get('kind')!r} index, not a cf model; "
                                   "choose another --name")
        return home.replace_folder(target, write)


def list_models(home: Home | Path | str) -> list[str]:
    """Names of the cf models saved under home."""
    return Home.of(home).names("cf")


def load_model(home: Home | Path | str, name: str = DEFAULT_NAME) -> SavedModel:
    """Load home/name back, checking it is a cf model of a format this code reads."""
    import torch

    from embedsearch.cf.models import make_model

    home = Home.of(home)
    path = home.folder(name, "model")
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        others = list_models(home)
        hint = f"; saved cf models: {', '.join(others)}" if others else "; train one with `embedsearch cf train`"
        raise EmbedsearchError(f"no trained cf model {name!r} in {home}{hint}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as exc:
        raise Damaged(f"{manifest_path} is damaged ({exc})") from None
    if manifest.get("kind") != "cf":
        raise EmbedsearchError(f"{path} is a {manifest.get('kind')!r} index, not a cf model")
    if manifest.get("format") not in READS:
        raise EmbedsearchError(f"{path} has format {manifest.get('format')!r}; this version reads formats "
                               f"{', '.join(map(str, READS))}")
    try:
        vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
        with np.load(path / "rated.npz") as z:  # read now: a damaged member fails here, not in a command
            rated = {k: z[k].astype(np.int64) for k in ("users", "items", "counts")}
        opts = manifest["options"]
        y_range = None if opts.get("linear") else tuple(opts["y_range"])  # linear: ALS around biases
        model = make_model(manifest["model"], manifest["n_users"], manifest["n_items"], opts["factors"], y_range)
        model.load_state_dict(torch.load(path / "weights.pt", weights_only=True))
    except (OSError, ValueError, KeyError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise Damaged(f"cf model {path} is damaged ({type(exc).__name__}: {exc})") from None
    model.eval()
    return SavedModel(name, path, manifest, model, vocab["users"], vocab["items"], rated["users"], rated["items"],
                      rated["counts"])
