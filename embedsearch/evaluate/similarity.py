"""Word similarity: does cosine order word pairs the way people do?

WordSim-353 (relatedness) and SimLex-999 (similarity) give pairs with human scores; the
measure is Spearman's rank correlation between those scores and the table's cosines
(Pearson too, for reference), over the pairs whose words are both in the vocabulary. As in
gensim's `evaluate_word_pairs`: first `restrict_vocab` keys, case-insensitive, pairs with a
missing word counted as out-of-vocabulary and left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedsearch.correlation import pearson, spearman
from embedsearch.errors import EmbedsearchError
from embedsearch.evaluate.analogies import DEFAULT_RESTRICT, vocabulary
from embedsearch.tables.base import Table


@dataclass
class SimilarityReport:
    table: str
    file: str
    pairs: int
    oov: int
    spearman: float | None
    pearson: float | None
    restrict_vocab: int

    @property
    def used(self) -> int:
        return self.pairs - self.oov

    def as_dict(self) -> dict:
        return {"table": self.table, "file": self.file, "pairs": self.pairs, "oov": self.oov, "used": self.used,
                "spearman": self.spearman, "pearson": self.pearson, "restrict_vocab": self.restrict_vocab}


def read_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """(word, word, score) from a tab- or space-separated file; '#' lines are comments, and a
    first line whose score is not a number is taken as a header."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise EmbedsearchError(f"no such word-pairs file: {path}")
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            parts = s.split("\t") if "\t" in s else s.split()
            if len(parts) < 3:
                raise EmbedsearchError(f"{path}:{number}: expected 'word word score', got {s[:60]!r}")
            try:
                score = float(parts[2])
            except ValueError:
                if not pairs:
                    continue  # a header line
                raise EmbedsearchError(f"{path}:{number}: the score {parts[2]!r} is not a number") from None
            if not np.isfinite(score):
                raise EmbedsearchError(f"{path}:{number}: the score {parts[2]!r} is not a finite number")
            pairs.append((parts[0].strip(), parts[1].strip(), score))
    if not pairs:
        raise EmbedsearchError(f"{path}: no word pairs found")
    return pairs


def evaluate_similarity(table: Table, path: str | Path, restrict_vocab: int | None = DEFAULT_RESTRICT,
                        case_insensitive: bool = True) -> SimilarityReport:
    """Spearman (and Pearson) between human scores and cosine similarity over in-vocabulary pairs."""
    if restrict_vocab is not None and restrict_vocab < 1:
        raise EmbedsearchError(f"--restrict-vocab must be at least 1, got {restrict_vocab}")
    pairs = read_pairs(path)
    vocab = vocabulary(table, restrict_vocab, case_insensitive)
    norm = (lambda w: w.upper()) if case_insensitive else (lambda w: w)
    unit = table.unit()
    human, cosine, oov = [], [], 0
    for a, b, score in pairs:
        ra, rb = vocab.get(norm(a)), vocab.get(norm(b))
        if ra is None or rb is None:
            oov += 1
            continue
        human.append(score)
        cosine.append(float(unit[ra] @ unit[rb]))
    n = min(restrict_vocab or len(table), len(table))
    return SimilarityReport(table.name, str(path), len(pairs), oov, spearman(human, cosine), pearson(human, cosine)
                            if len(human) > 1 else None, n)
