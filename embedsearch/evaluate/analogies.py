"""Word analogies ("Athens is to Greece as Baghdad is to ?") on any table.

The protocol is the one gensim's `KeyedVectors.evaluate_word_analogies` uses, so the
numbers can be checked against it (bench/analogies_bench.py): only the first
`restrict_vocab` keys take part (the most frequent words, in GloVe's order); words are
matched case-insensitively, the first (most frequent) case variant winning; a question
with any word outside that vocabulary is out-of-vocabulary and skipped; the answer is the
best-scoring key that is not one of the three question words. For question "a b c d" the
query is b - a + c.

gensim scores one question at a time. Here a batch of questions is one matrix product
against the vocabulary, and both 3CosAdd and 3CosMul come from the same three cosines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedsearch.errors import EmbedsearchError
from embedsearch.tables.base import Table

DEFAULT_RESTRICT = 300_000  # gensim's default
DEFAULT_BATCH = 256
DEFAULT_BLOCK = 8192


@dataclass
class Section:
    name: str
    questions: int = 0  # lines in the file
    oov: int = 0  # skipped: a word outside the vocabulary
    correct: dict[str, int] = field(default_factory=dict)  # method -> answered right

    @property
    def answered(self) -> int:
        return self.questions - self.oov

    def accuracy(self, method: str) -> float | None:
        return self.correct.get(method, 0) / self.answered if self.answered else None

    def as_dict(self, methods: Sequence[str]) -> dict:
        d = {"section": self.name, "questions": self.questions, "oov": self.oov, "answered": self.answered}
        for m in methods:
            d[f"correct_{m}"] = self.correct.get(m, 0)
            d[f"accuracy_{m}"] = self.accuracy(m)
        return d


@dataclass
class AnalogyReport:
    table: str
    file: str
    restrict_vocab: int
    methods: list[str]
    sections: list[Section]
    total: Section
    seconds: float

    def as_dict(self) -> dict:
        return {"table": self.table, "file": self.file, "restrict_vocab": self.restrict_vocab,
                "methods": self.methods, "seconds": round(self.seconds, 3),
                "sections": [s.as_dict(self.methods) for s in self.sections],
                "total": self.total.as_dict(self.methods)}


def read_questions(path: str | Path) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """[(section, [(a, b, c, d), ...])] from a file in the Google format (": section" lines,
    then four words a line; '#' lines are comments)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise EmbedsearchError(f"no such analogy file: {path}")
    sections: list[tuple[str, list]] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if s.startswith(":"):
                sections.append((s.lstrip(":").strip() or f"section {len(sections) + 1}", []))
                continue
            words = s.split()
            if len(words) != 4:
                raise EmbedsearchError(f"{path}:{number}: expected 4 words (a b c d), got {len(words)}: {s[:60]!r}")
            if not sections:
                raise EmbedsearchError(f"{path}:{number}: a question before the first ': section' line")
            sections[-1][1].append(tuple(words))
    if not any(q for _, q in sections):
        raise EmbedsearchError(f"{path}: no analogy questions found")
    return sections


def vocabulary(table: Table, restrict_vocab: int | None, case_insensitive: bool = True) -> dict[str, int]:
    """word -> row over the first `restrict_vocab` rows; upper-cased when case-insensitive,
    the earliest (most frequent) row winning, as in gensim."""
    n = min(restrict_vocab or len(table), len(table))
    vocab: dict[str, int] = {}
    for i in range(n - 1, -1, -1):
        k = table.keys[i]
        vocab[k.upper() if case_insensitive else k] = i
    return vocab


def evaluate_analogies(table: Table, path: str | Path, restrict_vocab: int | None = DEFAULT_RESTRICT,
                       methods: Sequence[str] = ("add",), case_insensitive: bool = True,
                       batch: int = DEFAULT_BATCH, block: int = DEFAULT_BLOCK, progress: Callable[[int], None] | None = None) -> AnalogyReport:
    """Accuracy per section and overall, for each method ("add" = 3CosAdd, "mul" = 3CosMul)."""
    methods = list(methods)
    for m in methods:
        if m not in ("add", "mul"):
            raise EmbedsearchError(f"unknown analogy method {m!r}; use add or mul")
    if restrict_vocab is not None and restrict_vocab < 1:
        raise EmbedsearchError(f"--restrict-vocab must be at least 1, got {restrict_vocab}")
    started = time.perf_counter()
    sections_in = read_questions(path)
    vocab = vocabulary(table, restrict_vocab, case_insensitive)
    n = min(restrict_vocab or len(table), len(table))
    unit = table.unit()[:n]  # (n, d): only these rows can be answers
    norm = (lambda w: w.upper()) if case_insensitive else (lambda w: w)

    sections: list[Section] = []
    q_rows: list[tuple[int, int, int, int]] = []  # (a, b, c, expected) rows of every answerable question
    q_section: list[int] = []
    for s_index, (name, questions) in enumerate(sections_in):
        sec = Section(name, questions=len(questions), correct={m: 0 for m in methods})
        for q in questions:
            words = [norm(w) for w in q]
            if all(w in vocab for w in words):
                q_rows.append(tuple(vocab[w] for w in words))
                q_section.append(s_index)
            else:
                sec.oov += 1
        sections.append(sec)

    rows = np.array(q_rows, dtype=np.int64).reshape(-1, 4)  # (questions, 4)
    with _one_blas_thread():
        hit_counts = _score(unit, rows, np.array(q_section, dtype=np.int64), len(sections), methods,
                            batch, block, progress)
    for i, sec in enumerate(sections):
        sec.correct = {m: int(hit_counts[m][i]) for m in methods}
    total = Section("total", sum(s.questions for s in sections), sum(s.oov for s in sections),
                    {m: sum(s.correct[m] for s in sections) for m in methods})
    return AnalogyReport(table.name, str(path), n, methods, sections, total, time.perf_counter() - started)


def _one_blas_thread():
    """Each product here is small ((256, 50) @ (50, 8192)); spread over BLAS threads it runs
    slower than on one (measured: 2-4x on two busy cores), so BLAS is held to one thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it BLAS keeps its own thread count
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _score(unit, rows, section_of, n_sections, methods, batch, block, progress) -> dict[str, np.ndarray]:
    """Hits per section and method for questions `rows` (q, 4) of (a, b, c, expected) rows."""
    from embedsearch.tables.ops import analogy_best

    hit_counts = {m: np.zeros(n_sections, dtype=np.int64) for m in methods}  # method -> (sections,)
    for start in range(0, len(rows), batch):
        r = rows[start:start + batch]  # (q, 4)
        # question "a b c d": the answer d should be nearest to b - a + c
        answers = analogy_best(unit, unit[r[:, 1]], unit[r[:, 0]], unit[r[:, 2]], r[:, :3], methods, block)
        for method, guess in answers.items():  # guess: (q,) rows
            hits = guess == r[:, 3]
            np.add.at(hit_counts[method], section_of[start:start + batch], hits.astype(np.int64))
        if progress:
            progress(len(r))
    return hit_counts


def default_file(name: str, option: str) -> Path:
    """A standard benchmark file (downloads.word_benchmark: $EMBEDSEARCH_WORD_BENCHMARKS, or
    fetched once and digest-checked)."""
    from embedsearch.downloads import word_benchmark

    return word_benchmark(name, option)
