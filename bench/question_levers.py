"""Query-time ranking levers screened on the question benchmark's dev part (never the test
part): BM25 fusion weight, question filler words dropped from the BM25 query, re-ranking,
and the words that frame a question ("how do I", "which code") cut from what is encoded.
Reuses the dev index that bench/questions_bench.py keeps under --home (nothing is embedded
but the questions).

    .venv/bin/python bench/question_levers.py --home /tmp/qhome
"""

from __future__ import annotations

import os
import re

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from embedsearch.codeindex import representation  # noqa: E402
from embedsearch.evaluate.codesearch import _score  # noqa: E402
from embedsearch.codeindex.search import answer, query_vectors  # noqa: E402
from questions_bench import dev_run  # noqa: E402

# How a question opens when it is framed as one: cut before encoding in the last lever
FRAME = re.compile(r"^(how (do|can|should|would) (i|you|we) |how to |how (is|are) |which (code|function|method|"
                   r"class|check|call|one) |what (code|function|method) |is there a (way|function) to |"
                   r"(a )?(function|code|method) (that|to|which) |where (is|do|does) )", re.I)


def main() -> None:
    run_ = dev_run(__doc__.splitlines()[0])
    index, questions, wanted, texts, vectors = run_.index, run_.questions, run_.wanted, run_.texts, run_.vectors
    stopwords = representation.STOPWORDS

    def run(label: str, weight: float, rerank: bool, filler: bool = False, encoded=vectors) -> None:
        # the BM25 query drops STOPWORDS; "filler" also drops the words that frame a question
        representation.STOPWORDS = stopwords | representation.QUESTION_WORDS if filler else stopwords
        hits = [answer(index, t, v, 10, weight, rerank=rerank) for t, v in zip(texts, encoded)]
        mrr, r1, r10, _, _ = _score(questions, hits, wanted, 10, 0)
        print(f"| {label} | {weight} | {rerank} | {filler} | {mrr:.3f} | {r1:.3f} | {r10:.3f} |", flush=True)

    print(f"dev part, {len(questions)} questions, index {index.name} ({index.count} chunks)")
    print("| lever | BM25 weight | re-ranked | filler words dropped | MRR@10 | Recall@1 | Recall@10 |")
    print("|---|---|---|---|---|---|---|")
    for w in (0.0, 0.15, 0.3, 0.5, 0.8):
        run("fusion weight", w, False)
    for w in (0.3, 0.5):
        run("fusion, question filler dropped from BM25", w, False, True)
    run("re-ranked", 0.3, True)
    run("re-ranked, question filler dropped from BM25", 0.3, True, True)
    unframed = [FRAME.sub("", t) for t in texts]
    print(f"(framing cut from {sum(a != b for a, b in zip(texts, unframed))} questions)")
    run("re-ranked, question framing cut before encoding", 0.3, True,
        encoded=query_vectors(index, run_.encoder, unframed))
    index.close()


if __name__ == "__main__":
    main()
