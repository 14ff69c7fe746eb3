"""Screen a re-ranker feature that would need a second stored vector per chunk: the cosine
of the query with the chunk's summary alone (representation.summary_text), beside the
blended cosine every index stores. Dev questions only, leave-one-code-base-out, within the
pool of re-ranked candidates, fit on questions alone so that both rows see the same data.

    .venv/bin/python bench/summary_feature_screen.py --home /tmp/qhome
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from embedsearch.chunking import Chunk  # noqa: E402
from embedsearch.codeindex.indexing import LEXICAL_WEIGHT  # noqa: E402
from embedsearch.codeindex.representation import CODE_KINDS, summary_text  # noqa: E402
from embedsearch.codeindex.rerank import FEATURES, POOL, feature_rows  # noqa: E402
from embedsearch.codeindex.search import POOL as FUSED_POOL  # noqa: E402
from embedsearch.codeindex.search import candidates  # noqa: E402
from questions_bench import dev_run  # noqa: E402
from train_reranker import fit, mrr  # noqa: E402


def main() -> None:
    run = dev_run(__doc__.splitlines()[0])
    index, members, wanted, texts, vectors, encoder = run.index, run.members, run.wanted, run.texts, run.vectors, run.encoder
    X, Y, kept, summaries = [], [], [], {}
    for n, (text, vector, want) in enumerate(zip(texts, vectors, wanted)):
        head = candidates(index, text, vector, FUSED_POOL, LEXICAL_WEIGHT, exact=False)[:POOL]
        labels = [c.id in want for c in head]
        if len(head) < POOL or not any(labels):
            continue
        items = index.items([c.id for c in head])
        rows = feature_rows(text, head, items)
        todo = [it for it in items if it.id not in summaries]
        if todo:
            enc = encoder.encode([summary_text(Chunk(it.path, it.start_line, it.end_line, it.kind, it.name, it.text))
                                  for it in todo])
            summaries.update((it.id, (v, it.kind in CODE_KINDS)) for it, v in zip(todo, enc))
        for row, it in zip(rows, items):
            v, is_code = summaries[it.id]
            row.append(float(v @ vector) if is_code else 0.0)
        X.append(rows)
        Y.append(labels)
        kept.append(n)
    X, Y = np.asarray(X, dtype=np.float32), np.asarray(Y, dtype=np.float32)
    base = len(FEATURES)
    print(f"{len(X)} dev questions with the answer among {POOL} candidates")
    print("| features | " + " | ".join(f"left-out {k}" for k in members) + " | pooled |")
    print("|---" * (len(members) + 2) + "|")
    for label, cols in (("the re-ranker's", list(range(base))), ("+ summary cosine", list(range(base + 1)))):
        scores, rr, total = [], 0.0, 0
        for stem, idx in members.items():
            test = np.array([i in set(idx) for i in kept])
            w = fit(X[~test][:, :, cols], Y[~test])
            scores.append(mrr(X[test][:, :, cols], Y[test], w))
            rr, total = rr + scores[-1] * test.sum(), total + test.sum()
        print(f"| {label} | " + " | ".join(f"{s:.4f}" for s in scores) + f" | {rr / total:.4f} |", flush=True)
    index.close()


if __name__ == "__main__":
    main()
