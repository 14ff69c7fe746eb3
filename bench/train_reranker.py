"""Fit the weights of the re-ranker (embedsearch/rerank.py) on docstring queries.

Each documented function of the training corpora becomes a query, as in `eval codesearch`;
its fused candidates (the same `search.candidates` that `search` uses) are described by
`rerank.features`, and a linear model is fit with a listwise softmax loss: the right
function should take the probability mass among the query's POOL candidates. Printed: the
WEIGHTS tuple for rerank.py (cosine's weight scaled to 1) and MRR@10 within the pool
before and after re-ranking, on the training corpora and on the validation corpus. The default corpora are
standard-library packages and the top-level modules; the packages the re-ranker is judged
on (bench/README.md, "Search quality") are never used here.

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

from embedsearch.evaluate.codesearch import prepare_corpus, targets  # noqa: E402
from embedsearch.indexing import LEXICAL_WEIGHT, build_index  # noqa: E402
from embedsearch.representation import NAMED, clean_query  # noqa: E402
from embedsearch.rerank import FEATURES, POOL, feature_rows  # noqa: E402
from embedsearch.search import POOL as FUSED_POOL  # noqa: E402
from embedsearch.search import candidates, query_encoder  # noqa: E402
from embedsearch.store import Index  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Standard-library packages with at least ~25 documented functions, minus the four the
# earlier levers were tuned on (email, http, logging, json).
TRAIN = ("asyncio", "xml", "urllib", "unittest", "importlib", "multiprocessing", "concurrent",
         "wsgiref", "xmlrpc", "ctypes", "collections")
VALIDATE = ("email", "http", "logging", "json")  # the earlier levers' tuning corpus: checks, never fits


def corpus_examples(label: str, paths: list[Path], home: Path, quiet: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of shape (queries, POOL, len(FEATURES)) and (queries, POOL), for
    the queries whose function is among their POOL best fused candidates."""
    with tempfile.TemporaryDirectory() as tmp:
        queries = prepare_corpus([str(p) for p in paths], Path(tmp) / "corpus")
        build_index(f"train-{label}", [str(Path(tmp) / "corpus")], home, representation=NAMED,
                    lexical_weight=LEXICAL_WEIGHT)
        index = Index(home, f"train-{label}")
        try:
            wanted = targets(index)
            texts = [clean_query(q.text) for q in queries]
            vectors = query_encoder(index).encode(texts)
            X, Y = [], []
            for q, text, vector in zip(queries, texts, vectors):
                head = candidates(index, text, vector, FUSED_POOL, LEXICAL_WEIGHT, exact=False)[:POOL]
                want = wanted.get((q.path, q.name), set())
                labels = [c.id in want for c in head]
                if len(head) < POOL or not any(labels):
                    continue
                X.append(feature_rows(text, head, index.items([c.id for c in head])))
                Y.append(labels)
        finally:
            index.close()
    if not quiet:
        print(f"{label}: {len(queries)} queries, {len(X)} with the answer among {POOL} candidates", flush=True)
    return np.asarray(X, dtype=np.float32).reshape(-1, POOL, len(FEATURES)), np.asarray(Y, dtype=np.float32).reshape(-1, POOL)


def default_corpora() -> list[tuple[str, list[Path]]]:
    """The TRAIN packages, each its own index, and the top-level modules in two halves."""
    modules = sorted(p for p in STDLIB.glob("*.py") if not p.name.startswith(("test", "__")))
    half = len(modules) // 2
    return [(p, [STDLIB / p]) for p in TRAIN] + [("modules-1", modules[:half]), ("modules-2", modules[half:])]


def examples(specs: list[tuple[str, list[Path]]], home: Path, quiet: bool = False) -> tuple[np.ndarray, np.ndarray]:
    parts = [corpus_examples(label, paths, home, quiet) for label, paths in specs]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def fit(X: np.ndarray, Y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Raw-feature weights of a linear listwise (softmax) ranker, cosine's scaled to 1."""
    import torch

    flat = X.reshape(-1, X.shape[-1])
    mu, sd = flat.mean(0), flat.std(0) + 1e-6
    x = torch.tensor((X - mu) / sd)  # (queries, POOL, features), standardised
    target = torch.tensor(Y / Y.sum(axis=1, keepdims=True))  # (queries, POOL)
    w = torch.zeros(X.shape[-1], dtype=torch.float32)
    w[FEATURES.index("cosine")] = 1.0
    w.requires_grad_(True)
    opt = torch.optim.LBFGS([w], max_iter=500)

    def closure():
        opt.zero_grad()
        loss = -(target * torch.log_softmax(x @ w, dim=1)).sum(1).mean() + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    raw = w.detach().numpy() / sd
    return raw / raw[FEATURES.index("cosine")]


def mrr(X: np.ndarray, Y: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(-(X @ weights), axis=1)[:, :10]
    hit = np.take_along_axis(Y, order, axis=1)
    first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, np.inf)
    return float(np.mean(1.0 / first))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="*", help="LABEL=PATH (default: standard-library packages)")
    parser.add_argument("--home", type=Path, required=True, help="where the training indexes are kept")
    args = parser.parse_args()
    if args.corpora:
        specs = [(label, [Path(path)]) for label, path in (s.split("=", 1) for s in args.corpora)]
    else:
        specs = default_corpora()
    X, Y = examples(specs, args.home)
    weights = fit(X, Y)
    fused = np.zeros(len(FEATURES), dtype=np.float32)
    fused[FEATURES.index("cosine")], fused[FEATURES.index("bm25")] = 1.0, LEXICAL_WEIGHT
    print(f"{len(X)} training queries; MRR@10 within the pool: fused {mrr(X, Y, fused):.4f}, "
          f"re-ranked {mrr(X, Y, weights):.4f}")
    VX, VY = examples([(p, [STDLIB / p]) for p in VALIDATE], args.home, quiet=True)
    print(f"{len(VX)} validation queries ({', '.join(VALIDATE)}); MRR@10 within the pool: "
          f"fused {mrr(VX, VY, fused):.4f}, re-ranked {mrr(VX, VY, weights):.4f}")
    print("WEIGHTS = (" + ", ".join(f"{w:.4f}" for w in weights) + ")  # " + ", ".join(FEATURES))


if __name__ == "__main__":
    main()
