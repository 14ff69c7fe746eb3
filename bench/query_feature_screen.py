"""Screen re-ranker features that need no new stored vector: how much of the question the
chunk's words cover, how much its purpose words (name and docstring summary) cover, a soft
match of question words to purpose words through GloVe, and agreement with the best few
candidates (pseudo-relevance feedback); the summary's own cosine (a second stored vector)
is the row to beat. Dev questions only, leave-one-code-base-out, within the pool of
re-ranked candidates, fit on questions alone so that every row sees the same data.

    .venv/bin/python bench/query_feature_screen.py --home /tmp/qhome
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from functools import lru_cache  # noqa: E402

from embedsearch.chunking import Chunk  # noqa: E402
from embedsearch.codeindex.indexing import LEXICAL_WEIGHT  # noqa: E402
from embedsearch.codeindex.representation import (CODE_KINDS, QUESTION_WORDS, lexical_terms,  # noqa: E402
                                                  summary_text, words)
from embedsearch.codeindex.rerank import FEATURES, POOL, feature_rows, stem  # noqa: E402
from embedsearch.codeindex.search import POOL as FUSED_POOL  # noqa: E402
from embedsearch.codeindex.search import candidates  # noqa: E402
from questions_bench import dev_run  # noqa: E402
from train_reranker import fit, mrr  # noqa: E402

EXTRA = ("cover", "purpose_cover", "glove_soft", "prf", "private_path", "nesting", "method", "class",
         "exported", "summary_cosine")


@lru_cache(maxsize=None)
def public_names(path: str) -> frozenset[str]:
    """Names a module offers as its API: its `__all__`, and what its package's `__init__.py`
    imports or lists in `__all__` (read from the source on disk: a screen, nothing stored)."""
    import ast
    from pathlib import Path

    names: set[str] = set()
    for source in {Path(path), Path(path).parent / "__init__.py"}:
        try:
            tree = ast.parse(source.read_text(encoding="utf-8", errors="replace"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
                try:
                    names.update(ast.literal_eval(node.value))
                except ValueError:
                    pass
            elif isinstance(node, ast.ImportFrom) and source.name == "__init__.py" and node.level:
                names.update(a.asname or a.name for a in node.names)
    return frozenset(names)


def content(text: str) -> list[str]:
    """Lower-case words of `text` that say something: BM25's terms less the question framing."""
    return [w for w in lexical_terms(text) if w not in QUESTION_WORDS]


class Glove:
    """GloVe rows by word, unit length, for the soft match."""

    def __init__(self) -> None:
        from embedsearch.tables import glove

        self.table = glove.load()

    def unit(self, ws: list[str]) -> np.ndarray:
        """(known words of `ws`, 50) unit rows."""
        from embedsearch.ann import normalise

        rows = [self.table.rows[w] for w in ws if w in self.table.rows]
        return normalise(self.table.vectors[rows]) if rows else np.zeros((0, self.table.dim), dtype=np.float32)


def main() -> None:
    run = dev_run(__doc__.splitlines()[0])
    index, members, wanted, encoder = run.index, run.members, run.wanted, run.encoder
    texts, vectors = run.texts, run.vectors
    glove = Glove()
    X, Y, kept, summaries = [], [], [], {}
    for n, (text, vector, want) in enumerate(zip(texts, vectors, wanted)):
        head = candidates(index, text, vector, FUSED_POOL, LEXICAL_WEIGHT, exact=False)[:POOL]
        labels = [c.id in want for c in head]
        if len(head) < POOL or not any(labels):
            continue
        items = index.items([c.id for c in head])
        rows = feature_rows(text, head, items)
        asked = content(text)
        asked_stems = {stem(w) for w in asked}
        q_glove = glove.unit(asked)  # (asked words, 50)
        todo = [it for it in items if it.id not in summaries]
        if todo:
            chunks = [Chunk(it.path, it.start_line, it.end_line, it.kind, it.name, it.text) for it in todo]
            said = [summary_text(c) for c in chunks]
            enc = encoder.encode(said)
            summaries.update((it.id, (v, it.kind in CODE_KINDS, s)) for it, v, s in zip(todo, enc, said))
        stored = index.rows([c.id for c in head])  # (POOL, dim)
        centroid = stored[:3].mean(0)
        centroid /= np.linalg.norm(centroid)
        for row, it, vec in zip(rows, items, stored):
            v, is_code, said = summaries[it.id]
            own = {stem(w) for w in words(it.text).split()}
            purpose = content(said)
            p_glove = glove.unit(purpose)
            soft = float((q_glove @ p_glove.T).max(1).mean()) if len(q_glove) and len(p_glove) else 0.0
            row += [len(asked_stems & own) / max(1, len(asked_stems)),
                    len(asked_stems & {stem(w) for w in purpose}) / max(1, len(asked_stems)),
                    soft,
                    float(vec @ centroid),
                    float(any(part.startswith("_") and not part.startswith("__") for part in it.path.split("/"))),
                    float(it.name.count(".")),
                    float(it.kind == "method"),
                    float(it.kind == "class"),
                    float(it.name.split(".")[0] in public_names(it.path)),
                    float(v @ vector) if is_code else 0.0]
        X.append(rows)
        Y.append(labels)
        kept.append(n)
    X, Y = np.asarray(X, dtype=np.float32), np.asarray(Y, dtype=np.float32)
    base = list(range(len(FEATURES)))
    extra = {name: len(FEATURES) + i for i, name in enumerate(EXTRA)}
    print(f"{len(X)} dev questions with the answer among {POOL} candidates")
    print("| features | " + " | ".join(f"left-out {k}" for k in members) + " | pooled | fit on all (in-sample) |")
    print("|---" * (len(members) + 3) + "|")
    rows = [("the re-ranker's", base)] + [(f"+ {name}", base + [col]) for name, col in extra.items()]
    rows += [("+ private_path, exported", base + [extra["private_path"], extra["exported"]]),
             ("+ all but summary_cosine", base + [extra[e] for e in EXTRA[:-1]]),
             ("+ all", base + list(extra.values()))]
    for label, cols in rows:
        scores, rr, total = [], 0.0, 0
        for _, idx in members.items():
            test = np.array([i in set(idx) for i in kept])
            w = fit(X[~test][:, :, cols], Y[~test])
            scores.append(mrr(X[test][:, :, cols], Y[test], w))
            rr, total = rr + scores[-1] * test.sum(), total + test.sum()
        inside = mrr(X[:, :, cols], Y, fit(X[:, :, cols], Y))  # fit on every question: in-sample, optimistic
        print(f"| {label} | " + " | ".join(f"{s:.4f}" for s in scores) + f" | {rr / total:.4f} | {inside:.4f} |",
              flush=True)
    index.close()


if __name__ == "__main__":
    main()
