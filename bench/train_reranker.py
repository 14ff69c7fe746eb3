"""Fit the weights of the re-ranker (embedsearch/rerank.py) on docstring queries and on
the development part of the question benchmark (bench/questions/dev).

Docstrings: each documented function of the training corpora becomes a query, as in `eval
codesearch`, asked of a docstring-free copy. Questions: each hand-written question of
bench/questions/dev, asked of its code base as it is (docstrings kept). Each query's fused
candidates (the same `search.candidates` that `search` uses) are described by
`rerank.features`, and a linear model is fit with a listwise softmax loss: the right
function should take the probability mass among the query's POOL candidates. The
questions carry `--question-share` of the loss (they are few, and they are how people ask).

Printed: leave-one-code-base-out MRR@10 within the pool on the questions for each share
(how the share was chosen), MRR on the docstring validation corpus, and the WEIGHTS tuple
for rerank.py (cosine's weight scaled to 1). The standard-library packages and modules
used here, and the dev code bases, are never the ones the re-ranker is judged on
(bench/README.md, "Search quality" and "Questions"); bench/questions/test is never read.

    .venv/bin/python bench/train_reranker.py --home /tmp/rerank-home
"""

from __future__ import annotations

import argparse
import os
import sysconfig
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from embedsearch.evaluate.codesearch import answers, prepare_corpus, query_key  # noqa: E402
from embedsearch.codeindex.indexing import LEXICAL_WEIGHT, build_index  # noqa: E402
from embedsearch.codeindex.representation import SUMMARISED, clean_query  # noqa: E402
from embedsearch.codeindex.rerank import FEATURES, POOL, feature_rows  # noqa: E402
from embedsearch.codeindex.search import POOL as FUSED_POOL  # noqa: E402
from embedsearch.codeindex.search import candidates, query_encoder, query_vectors  # noqa: E402
from embedsearch.codeindex.store import Index  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
REPRESENTATION = SUMMARISED  # the default index's
# Standard-library packages with at least ~25 documented functions, minus the four the
# earlier levers were tuned on (email, http, logging, json).
TRAIN = ("asyncio", "xml", "urllib", "unittest", "importlib", "multiprocessing", "concurrent",
         "wsgiref", "xmlrpc", "ctypes", "collections")
VALIDATE = ("email", "http", "logging", "json")  # the earlier levers' tuning corpus: checks, never fits


def corpus_examples(label: str, paths: list[Path], home: Path, quiet: bool = False,
                    exclude: set[str] = frozenset()) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of shape (queries, POOL, len(FEATURES)) and (queries, POOL) for
    the docstring queries of `paths` whose function is among their POOL best fused candidates
    (less those whose query_key is in `exclude`: the leakage guard, bench/leakage.py)."""
    with tempfile.TemporaryDirectory() as tmp:
        queries = [q for q in prepare_corpus([str(p) for p in paths], Path(tmp) / "corpus")
                   if query_key(q.text) not in exclude]
        build_index(f"train-{label}", [str(Path(tmp) / "corpus")], home, representation=REPRESENTATION,
                    lexical_weight=LEXICAL_WEIGHT, replace=True)  # a new temporary copy each run
        X, Y, _ = pool_examples(home, f"train-{label}", queries)
    if not quiet:
        print(f"{label}: {len(queries)} queries, {len(X)} with the answer among {POOL} candidates", flush=True)
    return X, Y


def question_examples(home: Path, packages: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The same for the dev questions, per code base, asked of the one index of all dev code
    bases as they are (the index bench/questions_bench.py keeps under the same home, so
    nothing is embedded twice)."""
    from questions_bench import part_corpus

    paths, queries, members = part_corpus("dev", packages)
    name = f"dev-questions-{REPRESENTATION}"
    build_index(name, paths, home, representation=REPRESENTATION, lexical_weight=LEXICAL_WEIGHT)
    X, Y, kept = pool_examples(home, name, queries)
    out = {}
    for stem, idx in members.items():
        rows = [j for j, i in enumerate(kept) if i in set(idx)]
        out[stem] = (X[rows], Y[rows])
        print(f"questions {stem}: {len(idx)} questions, {len(rows)} with the answer among {POOL} candidates",
              flush=True)
    return out


def pool_examples(home: Path, name: str, queries) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(features, labels, which queries they are) of the queries answered within the pool."""
    index = Index(home, name)
    try:
        wanted = answers(index, queries)
        texts = [clean_query(q.text) for q in queries]
        vectors = query_vectors(index, query_encoder(index), texts)  # as `search` asks: through the adapter
        X, Y, kept = [], [], []
        for n, (text, vector, want) in enumerate(zip(texts, vectors, wanted)):
            head = candidates(index, text, vector, FUSED_POOL, LEXICAL_WEIGHT, exact=False)[:POOL]
            labels = [c.id in want for c in head]
            if len(head) < POOL or not any(labels):
                continue
            X.append(feature_rows(text, head, index.items([c.id for c in head])))
            Y.append(labels)
            kept.append(n)
    finally:
        index.close()
    return (np.asarray(X, dtype=np.float32).reshape(-1, POOL, len(FEATURES)),
            np.asarray(Y, dtype=np.float32).reshape(-1, POOL), kept)


def default_corpora() -> list[tuple[str, list[Path]]]:
    """The TRAIN packages, each its own index, and the top-level modules in two halves, less
    the modules the question test part asks about (never fit on, not even their docstrings)."""
    from finetune_pairs import benchmark_stdlib_modules

    asked = benchmark_stdlib_modules(("test",))
    modules = sorted(p for p in STDLIB.glob("*.py") if not p.name.startswith(("test", "__")) and p.stem not in asked)
    half = len(modules) // 2
    return [(p, [STDLIB / p]) for p in TRAIN] + [("modules-1", modules[:half]), ("modules-2", modules[half:])]


def examples(specs: list[tuple[str, list[Path]]], home: Path, quiet: bool = False,
             exclude: set[str] = frozenset()) -> tuple[np.ndarray, np.ndarray]:
    parts = [corpus_examples(label, paths, home, quiet, exclude) for label, paths in specs]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def fit(X: np.ndarray, Y: np.ndarray, weights: np.ndarray | None = None, l2: float = 1e-3) -> np.ndarray:
    """Raw-feature weights of a linear listwise (softmax) ranker, cosine's scaled to 1;
    `weights` (one per query, summing to 1) say how much each query counts."""
    import torch

    flat = X.reshape(-1, X.shape[-1])
    mu, sd = flat.mean(0), flat.std(0) + 1e-6
    x = torch.tensor((X - mu) / sd)  # (queries, POOL, features), standardised
    target = torch.tensor(Y / Y.sum(axis=1, keepdims=True))  # (queries, POOL)
    q = torch.tensor(np.full(len(X), 1 / len(X)) if weights is None else weights, dtype=torch.float32)  # (queries,)
    w = torch.zeros(X.shape[-1], dtype=torch.float32)
    w[FEATURES.index("cosine")] = 1.0
    w.requires_grad_(True)
    opt = torch.optim.LBFGS([w], max_iter=500)

    def closure():
        opt.zero_grad()
        loss = -(q * (target * torch.log_softmax(x @ w, dim=1)).sum(1)).sum() + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    raw = w.detach().numpy() / sd
    return raw / raw[FEATURES.index("cosine")]


def shared_fit(docs: tuple[np.ndarray, np.ndarray], questions: list[tuple[np.ndarray, np.ndarray]],
               share: float) -> np.ndarray:
    """Weights fit on docstring examples and question examples, the questions carrying
    `share` of the loss."""
    qX = np.concatenate([x for x, _ in questions]) if questions else docs[0][:0]
    qY = np.concatenate([y for _, y in questions]) if questions else docs[1][:0]
    X, Y = np.concatenate([docs[0], qX]), np.concatenate([docs[1], qY])
    if not len(qX):
        share = 0.0
    weights = np.concatenate([np.full(len(docs[0]), (1 - share) / len(docs[0])),
                              np.full(len(qX), share / max(1, len(qX)))])
    return fit(X, Y, weights)


def mrr(X: np.ndarray, Y: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(-(X @ weights), axis=1)[:, :10]
    hit = np.take_along_axis(Y, order, axis=1)
    first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, np.inf)
    return float(np.mean(1.0 / first))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="*", help="LABEL=PATH (default: standard-library packages)")
    parser.add_argument("--home", type=Path, required=True, help="where the training indexes are kept")
    parser.add_argument("--packages", type=Path, default=Path("/tmp/embedsearch-bench-packages"))
    parser.add_argument("--question-share", type=float, default=None,
                        help="share of the loss the dev questions carry (default: the best left-out MRR)")
    args = parser.parse_args()
    if args.corpora:
        specs = [(label, [Path(path)]) for label, path in (s.split("=", 1) for s in args.corpora)]
    else:
        specs = default_corpora()
    docs = examples(specs, args.home)
    questions = question_examples(args.home, args.packages)
    from leakage import training_texts

    # validation never holds a training docstring (the logging/email copies of stdlib helpers)
    VX, VY = examples([(p, [STDLIB / p]) for p in VALIDATE], args.home, quiet=True, exclude=training_texts())
    fused = np.zeros(len(FEATURES), dtype=np.float32)
    fused[FEATURES.index("cosine")], fused[FEATURES.index("bm25")] = 1.0, LEXICAL_WEIGHT
    print(f"{len(docs[0])} docstring queries, {sum(len(x) for x, _ in questions.values())} questions; "
          f"validation: {len(VX)} docstring queries ({', '.join(VALIDATE)})")
    print("| question share | " + " | ".join(f"left-out {k}" for k in questions) + " | questions pooled | docstring validation |")
    print("|---" * (len(questions) + 3) + "|")
    qall = (np.concatenate([x for x, _ in questions.values()]), np.concatenate([y for _, y in questions.values()]))
    print("| fused, not re-ranked | " + " | ".join(f"{mrr(x, y, fused):.4f}" for x, y in questions.values())
          + f" | {mrr(*qall, fused):.4f} | {mrr(VX, VY, fused):.4f} |")
    best = (-1.0, 0.0)
    for share in (0.0, 0.25, 0.5, 0.75):
        scores, rr, n = [], 0.0, 0
        for left in questions:
            w = shared_fit(docs, [v for k, v in questions.items() if k != left], share)
            x, y = questions[left]
            scores.append(mrr(x, y, w))
            rr, n = rr + scores[-1] * len(x), n + len(x)
        w_all = shared_fit(docs, list(questions.values()), share)
        print(f"| {share:.2f} | " + " | ".join(f"{v:.4f}" for v in scores) + f" | {rr / n:.4f} | {mrr(VX, VY, w_all):.4f} |",
              flush=True)
        best = max(best, (rr / n, share))
    share = best[1] if args.question_share is None else args.question_share
    weights = shared_fit(docs, list(questions.values()), share)
    print(f"question share {share}: training MRR@10 within the pool: docstrings {mrr(*docs, weights):.4f} "
          f"(fused {mrr(*docs, fused):.4f}), questions {mrr(*qall, weights):.4f} (fused {mrr(*qall, fused):.4f})")
    print("WEIGHTS = (" + ", ".join(f"{w:.4f}" for w in weights) + ")  # " + ", ".join(FEATURES))


if __name__ == "__main__":
    main()
