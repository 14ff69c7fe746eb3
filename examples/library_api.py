"""Use embedsearch as a library instead of the CLI.

Run from the repository root:  .venv/bin/python examples/library_api.py
It indexes this folder's FAQ (JSONL, one record per line) into a temporary home, asks two
questions, finds the records most like one of them, checks the index, and looks up a word
in the packaged GloVe table.
"""

import tempfile
from pathlib import Path

import embedsearch
from embedsearch.tables.ops import neighbours

here = Path(__file__).parent
with tempfile.TemporaryDirectory() as tmp:
    home = embedsearch.Home(tmp)
    faq = embedsearch.CodeIndex.build(home, "faq", [here / "embeddings_faq.jsonl"])
    print(f"indexed {faq.last_run.chunks} records in {faq.last_run.seconds:.1f} s")

    questions = ["why do movies have a bias?", "how does approximate search stay fast?"]
    with faq:  # inside the block the open index and its query encoder are kept between calls
        for question in questions:
            print(f"\n{question}")
            for hit in faq.search(question, k=2):  # Hits: an item (path, lines, name, text, meta) + rank, score
                print(f"  {hit.score:.3f}  {hit.name:<15} {hit.meta.get('topic', '')}")
        _, hits = faq.similar(text="vector arithmetic on word embeddings", k=3)
    print("\nlike 'vector arithmetic on word embeddings':", [h.name for h in hits])
    print("index whole:", faq.check().ok)

    try:
        embedsearch.CodeIndex(home, "fqa").search("anything")
    except embedsearch.UnknownName as exc:  # typed errors: no string matching
        print(f"\n{exc}")

    glove = embedsearch.open_table(home, "glove-6B-50d")
    print("\nnearest to 'embedding' in", glove.name, [n.key for n in neighbours(glove, "embedding", k=4)])
