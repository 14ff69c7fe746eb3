"""Score the question benchmark with the default ranking of another source tree (an older
commit checked out as a worktree), on an index bench/questions_bench.py already built, so
that a change can be compared with what users had before it on the same questions.

    git worktree add /tmp/before 436459d
    PYTHONPATH=/tmp/before .venv/bin/python bench/questions_at_commit.py --home /tmp/qhome \\
        --index dev-questions-named-v1 bench/questions/dev/*.tsv

Only what every version has is used (store.Index, search.answer with its defaults,
search.query_encoder, representation.clean_query); the TSV files are read here.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import embedsearch  # noqa: E402

try:  # the code index became a package (embedsearch/codeindex/) in the ninth session
    from embedsearch.codeindex.representation import clean_query
    from embedsearch.codeindex.search import answer, query_encoder
    from embedsearch.codeindex.store import Index
except ImportError:  # an older tree
    from embedsearch.representation import clean_query
    from embedsearch.search import answer, query_encoder
    from embedsearch.store import Index


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--weight", type=float, default=0.3, help="BM25 weight (the index's own may be 0 when "
                    "questions_bench.py built it for a dense-only method first)")
    args = ap.parse_args()
    questions = []
    for f in args.files:
        for line in f.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                text, answer_ = line.split("\t")
                path, names = answer_.rsplit(":", 1)
                questions.append((text, "/" + path, set(names.split(","))))
    index = Index(args.home, args.index)
    weight = args.weight
    texts = [clean_query(q[0]) for q in questions]
    vectors = query_encoder(index).encode(texts)
    rr = at1 = at10 = 0
    for (text, path, names), t, v in zip(questions, texts, vectors):
        hits = answer(index, t, v, 10, weight)
        rank = next((h.rank for h in hits if h.name in names and h.path.endswith(path)), None)
        rr += 1 / rank if rank else 0
        at1 += rank == 1
        at10 += rank is not None
    n = len(questions)
    print(f"{embedsearch.__file__}: {args.index}, {n} questions, default ranking (weight {weight}): "
          f"MRR@10 {rr / n:.3f}, Recall@1 {at1 / n:.3f}, Recall@10 {at10 / n:.3f}")
    index.close()


if __name__ == "__main__":
    main()
