"""Fit a linear query adapter for the packaged encoder: a 384 x 384 matrix W that moves a
question's vector towards the vectors of the code that answers it (q' = W q, normalised),
applied to query vectors only, so no index is re-embedded.

Training data: the docstring queries of the re-ranker's training corpora (the standard
library packages of bench/train_reranker.py, docstring-free copies indexed with the default
representation: the indexes that script keeps under --home are reused, nothing is embedded
twice). Each query's loss is a softmax over every chunk of its own corpus (the distractors a
search faces), gold = the function it documents; W starts at the identity and is pulled back
to it (`--l2` on W - I), so a weak signal leaves cosine search as it was.

Chosen on (never fit on): the dev questions (bench/questions/dev, the dev index kept by
bench/questions_bench.py) and the docstring validation corpus (email, http, logging, json).
bench/questions/test and the held-out packages are never read. Printed: dense-only and fused
MRR@10 on both for each setting; with --out each setting's W is saved there, to be copied
to embedsearch/codeindex/adapters/<encoder digest>-summarised-v1.npy.

    .venv/bin/python bench/fit_query_adapter.py --home /tmp/qhome --l2 1 3 --epochs 10 --out /tmp/adapters
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from embedsearch.evaluate.codesearch import answers, prepare_corpus, query_key  # noqa: E402
from embedsearch.codeindex.indexing import LEXICAL_WEIGHT, build_index  # noqa: E402
from embedsearch.codeindex.representation import SUMMARISED, clean_query  # noqa: E402
from embedsearch.codeindex.search import query_encoder  # noqa: E402
from embedsearch.codeindex.store import Index  # noqa: E402


# Installed packages with many documented functions that no benchmark asks about (neither a
# question code base nor a held-out package of bench/search_quality.py)
THIRD_PARTY = ("attr", "rich", "networkx", "sortedcontainers", "markdown_it", "httpx", "fsspec", "urllib3", "tqdm",
               "pyparsing", "platformdirs", "joblib", "pooch", "typer")


@dataclass
class Corpus:
    """One index's queries, ready for fitting: their texts and vectors, each query's answer
    ids (rows of V), and the index's vectors V, the distractors."""

    label: str
    index: Index
    texts: list[str]
    qv: np.ndarray  # (queries, d)
    wanted: list[set[int]]
    V: np.ndarray  # (rows, d), unit rows

    def subset(self, queries: list[int], label: str) -> "Corpus":
        """The queries `queries` alone, asked of the same rows."""
        return replace(self, label=label, texts=[self.texts[i] for i in queries], qv=self.qv[queries],
                       wanted=[self.wanted[i] for i in queries])


def index_vectors(index: Index) -> np.ndarray:
    return np.asarray(index.vectors).astype(np.float32)  # (rows, d)


def name_blind(text: str, names: tuple[str, ...]) -> str:
    """A docstring query as someone who does not know the name might ask it: its first
    sentence, without any word of the function's qualified name(s), at most 14 words (a
    docstring shares the author's words with the code; a question does not)."""
    from embedsearch.codeindex.representation import words
    from embedsearch.codeindex.rerank import stem

    named = {stem(w) for n in names for w in words(n).split()}
    sentence = text.split(". ", 1)[0]
    kept = [t for t in sentence.split() if not any(stem(w) in named for w in words(t).split())]
    return " ".join(kept[:14])


def docstring_corpus(label: str, paths: list[Path], home: Path, tmp: Path, name: str | None = None,
                     banned: set[str] = frozenset(), exclude: set[str] = frozenset(), blind: bool = False) -> Corpus:
    """The docstring queries of `paths` asked of their docstring-free copy (index `name`,
    default train-LABEL, kept under `home`), less the files whose stem is in `banned`,
    which are left out as queries and as distractors, and less the queries whose
    query_key is in `exclude` (the leakage guard, bench/leakage.py). With `blind`, each
    query is made name_blind (and dropped when fewer than three words are left)."""
    name = name or f"train-{label}"
    queries = [q for q in prepare_corpus([str(p) for p in paths], tmp / label)
               if Path(q.path).stem not in banned and query_key(q.text) not in exclude]
    build_index(name, [str(tmp / label)], home, representation=SUMMARISED, lexical_weight=LEXICAL_WEIGHT,
                replace=True)
    index = Index(home, name)
    wanted = answers(index, queries)
    keep = [i for i, w in enumerate(wanted) if w]
    texts = [clean_query(queries[i].text) for i in keep]
    if blind:
        texts = [name_blind(t, queries[i].names) for t, i in zip(texts, keep)]
        keep, texts = [i for i, t in zip(keep, texts) if len(t.split()) >= 3], [t for t in texts if len(t.split()) >= 3]
    qv = query_encoder(index).encode(texts).astype(np.float32)
    corpus = Corpus(label, index, texts, qv, [wanted[i] for i in keep], index_vectors(index))
    rows = [it.id for it in index.all_items() if Path(it.path).stem not in banned]
    if len(rows) < len(corpus.V):  # distractors only from files that may be trained on
        position = {r: n for n, r in enumerate(rows)}
        corpus = replace(corpus, V=corpus.V[rows], wanted=[{position[i] for i in w} for w in corpus.wanted])
    return corpus


def training_corpora(home: Path, tmp: Path, blind: bool = False) -> list[Corpus]:
    """The re-ranker's standard-library corpora less every module a question file asks
    about (dev or test part: an adapter of 147,456 weights could learn their functions), and
    the third-party packages of THIRD_PARTY as installed in this environment."""
    from finetune_pairs import benchmark_stdlib_modules
    from train_reranker import default_corpora

    banned = benchmark_stdlib_modules()
    out = [docstring_corpus(label, paths, home, tmp, banned=banned, blind=blind)
           for label, paths in default_corpora() if label not in banned]
    out += [docstring_corpus(p, paths, home, tmp, name=f"adapter-{p}", blind=blind) for p, paths in third_party()]
    return out


def third_party() -> list[tuple[str, list[Path]]]:
    """(label, [path]) of each THIRD_PARTY package as installed beside numpy."""
    site = Path(np.__file__).resolve().parent.parent
    return [(p, [site / p]) for p in THIRD_PARTY]


def question_corpus(home: Path, packages: Path) -> Corpus:
    from questions_bench import part_corpus

    _, questions, _ = part_corpus("dev", packages)
    index = Index(home, f"dev-questions-{SUMMARISED}")
    wanted = answers(index, questions, strict=True, fold=True)
    texts = [clean_query(q.text) for q in questions]
    return Corpus("dev questions", index, texts, query_encoder(index).encode(texts).astype(np.float32), wanted,
                  index_vectors(index))


def fit(train: list[Corpus], l2: float, temperature: float, epochs: int, rank: int | None = None,
        seed: int = 0) -> np.ndarray:
    """W (d, d) minimising each query's softmax loss over its corpus, + l2 * |W - I|^2."""
    import torch

    torch.manual_seed(seed)
    d = train[0].qv.shape[1]
    if rank:
        U = torch.nn.Parameter(torch.randn(d, rank) * 0.01)
        Vr = torch.nn.Parameter(torch.zeros(rank, d))
        params = [U, Vr]
        matrix = lambda: torch.eye(d) + U @ Vr  # noqa: E731
    else:
        D = torch.nn.Parameter(torch.zeros(d, d))
        params = [D]
        matrix = lambda: torch.eye(d) + D  # noqa: E731
    opt = torch.optim.Adam(params, lr=1e-3)
    data = []
    for c in train:
        gold = [sorted(w) for w in c.wanted]
        data.append((torch.tensor(c.qv), torch.tensor(c.V), gold))
    total = sum(len(q) for q, _, _ in data)
    for _ in range(epochs):
        for q, V, gold in data:
            perm = torch.randperm(len(q))
            for start in range(0, len(q), 64):
                b = perm[start:start + 64]
                W = matrix()
                qa = torch.nn.functional.normalize(q[b] @ W.T, dim=1)  # (batch, d)
                logits = qa @ V.T / temperature  # (batch, rows)
                logp = torch.log_softmax(logits, dim=1)
                loss = -torch.stack([torch.logsumexp(logp[j, gold[i]], 0) for j, i in enumerate(b.tolist())]).mean()
                loss = loss * len(b) / 64 + l2 * ((W - torch.eye(d)) ** 2).sum() * len(b) / total
                opt.zero_grad()
                loss.backward()
                opt.step()
    return matrix().detach().numpy()


def adapt(qv: np.ndarray, W: np.ndarray | None) -> np.ndarray:
    if W is None:
        return qv
    out = qv @ W.T
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def mrr_at_10(scores: np.ndarray, wanted: list[set[int]]) -> tuple[float, float]:
    """MRR@10 and Recall@10 of (queries, rows) scores, each query answered by any of its ids."""
    top = np.argsort(-scores, axis=1)[:, :10]
    ranks = [next((r + 1 for r, i in enumerate(row) if i in w), None) for row, w in zip(top.tolist(), wanted)]
    return float(np.mean([1 / r if r else 0.0 for r in ranks])), float(np.mean([r is not None for r in ranks]))


def mrr_dense(c: Corpus, W: np.ndarray | None) -> float:
    return mrr_at_10(adapt(c.qv, W) @ c.V.T, c.wanted)[0]  # scores (queries, rows)


def mrr_fused(c: Corpus, W: np.ndarray | None, rerank: bool = False) -> float:
    from embedsearch.codeindex.search import answer

    rr = []
    for text, v, w in zip(c.texts, adapt(c.qv, W), c.wanted):
        hits = answer(c.index, text, v, 10, LEXICAL_WEIGHT, exact=True, rerank=rerank)
        rr.append(next((1 / h.rank for h in hits if h.id in w), 0.0))
    return float(np.mean(rr))


def main() -> None:
    from leakage import training_texts
    from train_reranker import STDLIB, VALIDATE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--packages", type=Path, default=Path("/tmp/embedsearch-bench-packages"))
    parser.add_argument("--l2", type=float, nargs="+", default=[0.1])
    parser.add_argument("--temperature", type=float, nargs="+", default=[0.05])
    parser.add_argument("--epochs", type=int, nargs="+", default=[5])
    parser.add_argument("--rank", type=int, default=None)
    parser.add_argument("--out", type=Path, help="a folder: each setting's W is saved there (float16 .npy)")
    parser.add_argument("--blind", action="store_true", help="train on name_blind docstring queries")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        train = training_corpora(args.home, Path(tmp), args.blind)
        seen = training_texts()  # validation never holds a training docstring
        valid = [docstring_corpus(p, [STDLIB / p], args.home, Path(tmp), exclude=seen) for p in VALIDATE]
    dev = question_corpus(args.home, args.packages)
    print(f"training: {sum(len(c.qv) for c in train)} docstring queries over {len(train)} corpora; "
          f"validation: {sum(len(c.qv) for c in valid)} docstrings, {len(dev.qv)} dev questions", flush=True)

    def report(label, W):
        n = [len(c.qv) for c in valid]
        vd = np.average([mrr_dense(c, W) for c in valid], weights=n)
        vf = np.average([mrr_fused(c, W) for c in valid], weights=n)
        vr = np.average([mrr_fused(c, W, True) for c in valid], weights=n)
        print(f"| {label} | {mrr_dense(dev, W):.4f} | {mrr_fused(dev, W):.4f} | {mrr_fused(dev, W, True):.4f} | "
              f"{vd:.4f} | {vf:.4f} | {vr:.4f} |", flush=True)

    print("| setting | dev questions: dense | fused | re-ranked | docstring validation: dense | fused | re-ranked |")
    print("|---|---|---|---|---|---|---|")
    report("identity (no adapter)", None)
    for t in args.temperature:
        for l2 in args.l2:
            for epochs in args.epochs:
                W = fit(train, l2, t, epochs, args.rank)
                report(f"t {t}, l2 {l2}, {epochs} epochs, rank {args.rank or 'full'}", W)
                if args.out is not None:
                    args.out.mkdir(parents=True, exist_ok=True)
                    np.save(args.out / f"t{t}-l2{l2}-e{epochs}.npy", W.astype(np.float16))


if __name__ == "__main__":
    main()
