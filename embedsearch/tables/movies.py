"""MovieLens movies as tables seen through language: the same keys as the CF item factors
(the title as u.item writes it, "Toy Story (1995)"), rows from other models.

    movies-minilm   the packaged sentence encoder on "title (year): genre, genre"
    movies-glove    the mean GloVe vector of the title's words (year and stop words left out)

Keys are titles exactly as the CF model keys its items, duplicates merged the same way
(first occurrence wins), so `compare` lines the three up without any matching heuristics.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedsearch.errors import EmbedsearchError

ENCODER_TABLE = "movies-minilm"
GLOVE_TABLE = "movies-glove"
_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")
_ARTICLE_END = re.compile(r",\s*(The|A|An|La|Le|Les|Il|Das|Der|Die|El|L')$", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
STOP = frozenset("the a an of and in on to for with at by from la le les il das der die el".split())


@dataclass(frozen=True)
class Movie:
    key: str  # the title as in u.item, e.g. "Silence of the Lambs, The (1991)"
    genres: list[str]

    @property
    def year(self) -> str | None:
        m = _YEAR.search(self.key)
        return m.group(1) if m else None

    @property
    def plain_title(self) -> str:
        """"The Silence of the Lambs": no year, the trailing article moved to the front."""
        t = _YEAR.sub("", self.key).strip()
        m = _ARTICLE_END.search(t)
        if m:
            t = f"{m.group(1)} {t[: m.start()]}"
        return t

    @property
    def text(self) -> str:
        """What the sentence encoder reads: "title (year): genres"."""
        year = f" ({self.year})" if self.year else ""
        return f"{self.plain_title}{year}: {', '.join(self.genres) or 'unknown genre'}"

    def title_words(self) -> list[str]:
        return [w for w in _WORD.findall(self.plain_title.lower()) if w not in STOP]


def read_genres(folder: str | Path) -> list[str]:
    """The genre names of a MovieLens 100K folder (u.genre), in flag order."""
    genre_file = Path(folder) / "u.genre"
    if not genre_file.is_file():
        raise EmbedsearchError(f"{folder} has no u.genre; give a MovieLens 100K folder")
    names: dict[int, str] = {}
    for number, line in enumerate(_lines(genre_file), start=1):
        if not line.strip():
            continue
        name, _, idx = line.rpartition("|")
        if not name or not idx.strip().isdigit():
            raise EmbedsearchError(f"{genre_file}:{number}: expected 'genre|number', got {line!r}")
        names[int(idx)] = name
    return [names[i] for i in sorted(names)]


def parse_description(text: str, known_genres: list[str] | None = None) -> Movie:
    """A movie nobody has rated, as a person writes it: "Title (Year)|Genre|Genre" (the
    genres as u.item names them, any case; checked against `known_genres` when given)."""
    title, *genres = [p.strip() for p in text.split("|")]
    if not title:
        raise EmbedsearchError(f"a new movie is 'Title (Year)|Genre|...', got {text!r}")
    out = []
    known_genres = [k for k in known_genres or [] if k != "unknown"]  # no movie's text says "unknown"
    for g in filter(None, genres):
        if known_genres:
            match = [k for k in known_genres if k.casefold() == g.casefold()]
            if not match:
                from embedsearch.errors import did_you_mean, suggest

                raise EmbedsearchError(f"unknown genre {g!r} in {text!r}{did_you_mean(suggest(g, known_genres))} "
                                       f"(the genres: {', '.join(known_genres)})")
            g = match[0]
        if g not in out:
            out.append(g)
    if known_genres:  # the order u.item lists them in, as the table's own rows were written
        out.sort(key=known_genres.index)
    return Movie(title, out)


def read_movies(folder: str | Path) -> list[Movie]:
    """Movies of a MovieLens 100K folder (u.item, u.genre), one per distinct title."""
    folder = Path(folder)
    item_file = folder / "u.item"
    if not item_file.is_file():
        raise EmbedsearchError(f"{folder} has no u.item; give a MovieLens 100K folder")
    genre_names = read_genres(folder)
    out: dict[str, Movie] = {}
    for number, line in enumerate(_lines(item_file), start=1):
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) < 2 + len(genre_names):
            raise EmbedsearchError(f"{item_file}:{number}: expected {5 + len(genre_names)} '|'-separated fields, "
                                   f"got {len(parts)}")
        flags = parts[-len(genre_names):]
        try:
            genres = [g for g, f in zip(genre_names, flags) if int(f or 0)]
        except ValueError:
            raise EmbedsearchError(f"{item_file}:{number}: genre flags must be 0 or 1") from None
        genres = [g for g in genres if g != "unknown"]
        title = parts[1].strip()
        out.setdefault(title, Movie(title, genres))
    return list(out.values())


def _lines(path: Path) -> list[str]:
    """UTF-8, else latin-1 (the original u.item): decoded exactly as the CF reader decodes
    it, so titles here are the CF model's keys byte for byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return data.decode("latin-1").splitlines()


def movie_folder(data: str | Path | None) -> Path:
    """A MovieLens folder: the one given, else the downloaded ml-100k (as `cf train` uses)."""
    if data:
        return Path(data).expanduser()
    from embedsearch.cf.data import fetch_ml100k

    return fetch_ml100k()


def encoder_rows(movies: list[Movie], progress: Callable[[int], None] | None = None) -> np.ndarray:
    """(n, 384) unit rows: the packaged encoder on each movie's "title (year): genres"."""
    from embedsearch.encoders import get_encoder

    return get_encoder().encode([m.text for m in movies], progress=progress)


def glove_rows(movies: list[Movie]) -> tuple[list[Movie], np.ndarray]:
    """The movies with at least one title word in GloVe, and their (n, 50) mean word vectors."""
    from embedsearch.tables import glove

    table = glove.load()
    rows = table.rows
    kept, vecs = [], []
    for m in movies:
        idx = [rows[w] for w in m.title_words() if w in rows]
        if idx:
            kept.append(m)
            vecs.append(np.asarray(table.vectors[idx], dtype=np.float32).mean(axis=0))
    return kept, (np.stack(vecs) if vecs else np.zeros((0, 50), dtype=np.float32))
