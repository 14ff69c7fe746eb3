"""Ratings: reading them (MovieLens 100K or any CSV/TSV), keying them, splitting them.

Every malformed line is reported with its file and line number and nothing is returned until
the whole file has been read, so no model ever trains on half-read data. Movies are keyed by
title when an items file gives titles (as in fastbook, duplicate titles in ml-100k are merged
into one key), because titles are what a user types.
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedsearch.fileio import file_digest
from embedsearch.errors import EmbedsearchError

ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
ML100K_ZIP_MD5 = "0e33842e24a9c977be4e0107933c0723"
ML100K_UDATA_MD5 = "5f514ee583447b26891e0b3515665060"
ML100K_NAME = "ml-100k"
OFFICIAL_FOLDS = ("u1", "u2", "u3", "u4", "u5")
DEFAULT_Y_RANGE = (0.0, 5.5)


@dataclass
class Ratings:
    """Ratings as row numbers into shared key vocabularies (user ids, item titles)."""

    users: np.ndarray  # (n,) int64 rows of user_keys
    items: np.ndarray  # (n,) int64 rows of item_keys
    ratings: np.ndarray  # (n,) float32
    user_keys: list[str]
    item_keys: list[str]

    def __len__(self) -> int:
        return len(self.ratings)

    def subset(self, mask_or_index: np.ndarray) -> "Ratings":
        """Some of the rows, same vocabularies (so rows mean the same thing in every split)."""
        return Ratings(
            self.users[mask_or_index], self.items[mask_or_index], self.ratings[mask_or_index],
            self.user_keys, self.item_keys,
        )


@dataclass
class Dataset:
    """All ratings of one source, plus where its official folds live (ml-100k only)."""

    ratings: Ratings
    source: str
    folder: Path | None = None  # set when uN.base/uN.test files sit beside the ratings
    item_ids: dict[str, int] = field(default_factory=dict)  # raw item id -> row
    user_ids: dict[str, int] = field(default_factory=dict)  # raw user id -> row
    y_range: tuple[float, float] = DEFAULT_Y_RANGE

    def fold(self, name: str) -> tuple[Ratings, Ratings]:
        """The official (train, test) pair `uN.base`/`uN.test`, keyed like the full data."""
        if name not in OFFICIAL_FOLDS:
            raise EmbedsearchError(f"unknown fold {name!r}; the official folds are {', '.join(OFFICIAL_FOLDS)}")
        if self.folder is None or not (self.folder / f"{name}.base").exists():
            raise EmbedsearchError(
                f"the official folds need the MovieLens 100K folder (u1.base ... u5.test); {self.source} has none"
            )
        return tuple(  # type: ignore[return-value]
            self._encode(self.folder / f"{name}.{part}")
            for part in ("base", "test")
        )

    def _encode(self, path: Path) -> Ratings:
        rows = read_ratings_file(path, self.y_range, sep="\t")
        users = np.empty(len(rows), dtype=np.int64)
        items = np.empty(len(rows), dtype=np.int64)
        for n, (u, i, _, line) in enumerate(rows):
            if u not in self.user_ids or i not in self.item_ids:
                raise EmbedsearchError(f"{path}:{line}: user {u!r} / item {i!r} is not in u.data")
            users[n] = self.user_ids[u]
            items[n] = self.item_ids[i]
        ratings = np.array([r for _, _, r, _ in rows], dtype=np.float32)
        return Ratings(users, items, ratings, self.ratings.user_keys, self.ratings.item_keys)


def _sniff_sep(first: str, path: Path) -> str:
    if path.suffix.lower() == ".csv":
        return ","
    for sep in ("\t", "::", ",", "|", ";"):
        if sep in first:
            return sep
    return " " if " " in first.strip() else "\t"


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _read_text(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EmbedsearchError(f"no such ratings file: {path}") from None
    except IsADirectoryError:
        raise EmbedsearchError(f"{path} is a folder; give a ratings file or a MovieLens folder") from None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return data.decode("latin-1").splitlines()  # ml-100k's u.item is latin-1


def read_ratings_file(
    path: Path, y_range: tuple[float, float] = DEFAULT_Y_RANGE, sep: str | None = None
) -> list[tuple[str, str, float, int]]:
    """(user, item, rating, line number) rows of a ratings file, every line checked first.

    Columns are user, item, rating and an optional timestamp; a first line whose rating is
    not a number is taken as a header. Ratings must be finite and lie inside y_range, the
    range the model squashes its predictions into.
    """
    path = Path(path)
    lines = _read_text(path)
    rows: list[tuple[str, str, float, int]] = []
    errors: list[str] = []
    lo, hi = y_range
    first = True  # only the first data line may be a header
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if sep is None:
            sep = _sniff_sep(line, path)
        parts = [p.strip() for p in (line.split() if sep == " " else line.split(sep))]
        if len(parts) < 3 or not parts[0] or not parts[1] or not parts[2]:
            errors.append(f"{path}:{number}: expected user, item, rating (and optional timestamp), got {line.strip()!r}")
        elif not _is_number(parts[2]):
            if first:
                first = False
                continue  # a header line
            errors.append(f"{path}:{number}: rating {parts[2]!r} is not a number")
        else:
            rating = float(parts[2])
            if not math.isfinite(rating) or not lo <= rating <= hi:
                errors.append(f"{path}:{number}: rating {parts[2]} is outside the range {lo:g}..{hi:g}")
            else:
                rows.append((parts[0], parts[1], rating, number))
        first = False
        if len(errors) >= 5:
            break
    if errors:
        more = " (stopped at 5 errors)" if len(errors) >= 5 else ""
        raise EmbedsearchError("malformed ratings: " + "; ".join(errors) + more)
    if not rows:
        raise EmbedsearchError(f"{path}: no ratings found")
    return rows


def read_items_file(path: Path) -> dict[str, str]:
    """Item id -> title from an items file: id and title are the first two columns."""
    path = Path(path)
    titles: dict[str, str] = {}
    sep = None
    for number, line in enumerate(_read_text(path), start=1):
        if not line.strip():
            continue
        if sep is None:
            sep = "|" if "|" in line else ("\t" if "\t" in line else ",")
        parts = line.split(sep)
        if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
            raise EmbedsearchError(f"{path}:{number}: expected item id and title, got {line.strip()!r}")
        titles[parts[0].strip()] = parts[1].strip()
    if not titles:
        raise EmbedsearchError(f"{path}: no items found")
    return titles


def _build(rows, titles: dict[str, str] | None, source: str, folder: Path | None, y_range) -> Dataset:
    user_ids: dict[str, int] = {}
    item_rows: dict[str, int] = {}  # key (title) -> row
    item_ids: dict[str, int] = {}  # raw id -> row
    user_keys: list[str] = []
    item_keys: list[str] = []
    users = np.empty(len(rows), dtype=np.int64)
    items = np.empty(len(rows), dtype=np.int64)
    for n, (u, i, _, _) in enumerate(rows):
        if u not in user_ids:
            user_ids[u] = len(user_keys)
            user_keys.append(u)
        if i not in item_ids:
            key = titles.get(i, i) if titles else i
            if key not in item_rows:
                item_rows[key] = len(item_keys)
                item_keys.append(key)
            item_ids[i] = item_rows[key]
        users[n] = user_ids[u]
        items[n] = item_ids[i]
    ratings = np.array([r for _, _, r, _ in rows], dtype=np.float32)
    return Dataset(Ratings(users, items, ratings, user_keys, item_keys), source, folder, item_ids, user_ids, y_range)


def md5_of(path: Path) -> str:
    return file_digest(path, "md5")


def extract_ml100k(archive: Path, dest: Path) -> Path:
    """Unpack the ml-100k archive into dest and check u.data's digest; returns the folder."""
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / f".extract-{os.getpid()}"
    try:
        with zipfile.ZipFile(archive) as z:
            z.extractall(tmp)
    except zipfile.BadZipFile:
        raise EmbedsearchError(f"{archive} is not a zip archive") from None
    inner = tmp / ML100K_NAME
    if not (inner / "u.data").exists():
        raise EmbedsearchError(f"{archive} holds no {ML100K_NAME}/u.data")
    if md5_of(inner / "u.data") != ML100K_UDATA_MD5:
        raise EmbedsearchError(f"{archive}: u.data does not have the published md5 {ML100K_UDATA_MD5}")
    final = dest / ML100K_NAME
    if final.exists():
        import shutil

        shutil.rmtree(final)
    os.replace(inner, final)
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return final


def fetch_ml100k(dest: Path | None = None) -> Path:
    """The ml-100k folder, downloading GroupLens's archive (md5-checked) on first use."""
    from embedsearch.downloads import datasets_dir, download

    dest = dest or datasets_dir()
    folder = dest / ML100K_NAME
    if (folder / "u.data").exists() and md5_of(folder / "u.data") == ML100K_UDATA_MD5:
        return folder
    archive = download(ML100K_URL, f"md5:{ML100K_ZIP_MD5}", dest, "MovieLens 100K archive",
                       "if you have the files, pass --data PATH")
    return extract_ml100k(Path(archive), dest)


def load_dataset(
    data: str | os.PathLike = ML100K_NAME,
    items: str | os.PathLike | None = None,
    y_range: tuple[float, float] = DEFAULT_Y_RANGE,
) -> Dataset:
    """Ratings from `ml-100k` (downloaded), a MovieLens folder, or a ratings CSV/TSV file."""
    if y_range[0] >= y_range[1]:
        raise EmbedsearchError(f"y-range {y_range[0]:g}..{y_range[1]:g} is empty")
    path = Path(data).expanduser()
    if str(data) == ML100K_NAME and not path.exists():
        path = fetch_ml100k()
    if path.is_dir():
        if not (path / "u.data").exists():
            raise EmbedsearchError(f"{path} has no u.data; give a MovieLens 100K folder or a ratings file")
        rows = read_ratings_file(path / "u.data", y_range, sep="\t")
        item_file = Path(items) if items else path / "u.item"
        titles = read_items_file(item_file) if item_file.exists() else None
        # the absolute path: a saved model records it, and `compare` and `cf bridge` read
        # its u.item again later, from wherever they are run
        return _build(rows, titles, str(path.resolve()), path, y_range)
    if not path.exists():
        raise EmbedsearchError(f"no such ratings file or folder: {path} (use --data ml-100k to download MovieLens)")
    rows = read_ratings_file(path, y_range)
    titles = read_items_file(Path(items)) if items else None
    return _build(rows, titles, str(path.resolve()), None, y_range)


def random_split(ratings: Ratings, valid_pct: float = 0.2, seed: int = 42) -> tuple[Ratings, Ratings]:
    """A seeded random (train, valid) split of the rating rows."""
    if not 0 < valid_pct < 1:
        raise EmbedsearchError(f"valid-pct must be between 0 and 1, got {valid_pct}")
    order = np.random.default_rng(seed).permutation(len(ratings))
    cut = len(ratings) - int(round(len(ratings) * valid_pct))
    return ratings.subset(np.sort(order[:cut])), ratings.subset(np.sort(order[cut:]))
