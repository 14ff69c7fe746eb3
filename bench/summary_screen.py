"""Screen how a chunk's summary is written and how much of it goes into the chunk's vector,
on the question benchmark's dev part, without re-indexing: the code vectors come from the
dev index built with the named representation, summaries are embedded here (short texts),
blends are scored by exact cosine and fused with the index's BM25 as `search` does (no
re-ranking, no folding). Used to choose SUMMARISED's summary and its equal blend.

    .venv/bin/python bench/summary_screen.py --home /tmp/qhome
"""

from __future__ import annotations

import ast
import os
import re

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from embedsearch.chunking import Chunk  # noqa: E402
from embedsearch.codeindex.representation import (  # noqa: E402
    CODE_KINDS, NAMED, SUMMARY_WORDS, _definition, first_paragraph, lexical_terms, summary_text, words)
from questions_bench import dev_run  # noqa: E402


def with_params(c: Chunk) -> str:
    """The first version: parameters always, docstring markup kept."""
    node = _definition(c.text)
    if node is None:
        return summary_text(c)
    doc = first_paragraph(ast.get_docstring(node, clean=True) or "", SUMMARY_WORDS)
    params = ""
    if not isinstance(node, ast.ClassDef):
        names = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
        names += [a.arg for a in (node.args.vararg, node.args.kwarg) if a is not None]
        params = " ".join(words(n) for n in names if n not in ("self", "cls"))
    head = f"{c.kind} {words(c.name)}" + (f" ({params})" if params else "")
    return f"{head}: {doc}" if doc else head


def name_and_doc(c: Chunk) -> str:
    s = summary_text(c)
    _, sep, doc = s.partition(": ")
    return f"{words(c.name.rsplit('.', 1)[-1])}: {doc}" if sep else s


def first_sentence(summary: str) -> str:
    """The docstring part of a summary, up to its first full stop ("" when it has none)."""
    _, sep, doc = summary.partition(": ")
    return re.split(r"\.\s+(?=[A-Z])", doc, maxsplit=1)[0].rstrip(".") if sep else ""


def with_class(only_undocumented: bool, classes: dict):
    """The shipped summary, and for a method, its class's purpose after it (the first
    sentence of the class docstring): `Sniffer.sniff` says it returns a dialect; `Sniffer`
    says it detects a CSV file's delimiter and quote character."""
    def summary(c: Chunk) -> str:
        own = summary_text(c)
        owner = classes.get((c.path, c.name.rsplit(".", 1)[0])) if c.kind == "method" and "." in c.name else None
        purpose = first_sentence(summary_text(owner)) if owner is not None else ""
        if not purpose or (only_undocumented and first_sentence(own)):
            return own
        return f"{own.rstrip('.')}. In {words(owner.name)}: {purpose}"
    return summary


VARIANTS = {"kind name (params): doc": with_params, "kind name: doc without markup (shipped)": summary_text,
            "own name: doc without markup": name_and_doc}


def main() -> None:
    run = dev_run(__doc__.splitlines()[0], NAMED)
    index, questions, wanted, texts, queries, encoder = run.index, run.questions, run.wanted, run.texts, run.vectors, run.encoder
    rows = index.db.execute("SELECT id, path, start_line, end_line, kind, name, text FROM items ORDER BY id").fetchall()
    chunks = [Chunk(r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
    code = np.asarray(index.vectors, dtype=np.float32)  # (n, dim), the named code vectors
    lexical = []
    for t in texts:
        terms = lexical_terms(t)
        hits = index.lexical(terms, 100) if terms else []
        best = max((s for _, s in hits), default=1.0) or 1.0
        lexical.append({i: s / best for i, s in hits})

    def score(vectors: np.ndarray, weight: float) -> tuple[float, float]:
        cos = queries @ vectors.T  # (q, n)
        rr, r10 = 0.0, 0
        for qi, want in enumerate(wanted):
            s = cos[qi].copy()
            for i, b in lexical[qi].items():
                s[i] += weight * b
            top = np.argsort(-s)[:10]
            rank = next((r for r, i in enumerate(top, 1) if i in want), None)
            rr += 1 / rank if rank else 0
            r10 += rank is not None
        return rr / len(wanted), r10 / len(wanted)

    print(f"dev part: {len(questions)} questions, {len(chunks)} chunks")
    print("| summary | summary's share of the blend | dense MRR@10 | fused MRR@10 | fused Recall@10 |")
    print("|---|---|---|---|---|")
    print(f"| none (named) | 0 | {score(code, 0)[0]:.3f} | {score(code, 0.3)[0]:.3f} | {score(code, 0.3)[1]:.3f} |")
    is_code = np.array([c.kind in CODE_KINDS for c in chunks])
    classes = {(c.path, c.name): c for c in chunks if c.kind == "class"}  # (path, name) -> class chunk
    variants = {**VARIANTS, "shipped, + the class's first sentence for methods": with_class(False, classes),
                "shipped, + the class's first sentence for undocumented methods": with_class(True, classes)}
    for label, fn in variants.items():
        summ = np.zeros_like(code)
        idx = np.flatnonzero(is_code)
        summ[idx] = encoder.encode([fn(chunks[i]) for i in idx])
        for share in (0.3, 0.5, 0.7):
            blend = np.where(is_code[:, None], (1 - share) * code + share * summ, code)
            blend /= np.linalg.norm(blend, axis=1, keepdims=True)
            d, (f, f10) = score(blend, 0)[0], score(blend, 0.3)
            print(f"| {label} | {share} | {d:.3f} | {f:.3f} | {f10:.3f} |", flush=True)
    index.close()


if __name__ == "__main__":
    main()
