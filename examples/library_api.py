"""Use embedsearch as a library instead of the CLI.

Run from the repository root:  .venv/bin/python examples/library_api.py
It indexes this folder's FAQ (JSONL, one record per line) into a temporary home and asks
two questions, then finds the records most like one of them.
"""

import tempfile
from pathlib import Path

from embedsearch.indexing import build_index
from embedsearch.search import search, similar

here = Path(__file__).parent
with tempfile.TemporaryDirectory() as tmp:
    home = Path(tmp)
    summary = build_index("faq", [str(here / "embeddings_faq.jsonl")], home)
    print(f"indexed {summary.chunks} records in {summary.seconds:.1f} s")

    questions = ["why do movies have a bias?", "how does approximate search stay fast?"]
    for question, hits in zip(questions, search(home, "faq", questions, k=2)):
        print(f"\n{question}")
        for hit in hits:
            print(f"  {hit.score:.3f}  {hit.name:<15} {hit.meta.get('topic', '')}")

    _, hits = similar(home, "faq", text="vector arithmetic on word embeddings", k=3)
    print("\nlike 'vector arithmetic on word embeddings':", [h.name for h in hits])
