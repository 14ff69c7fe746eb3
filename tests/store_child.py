"""A child process for the crash and concurrency tests: writes generation after generation
of a real index (real numpy files, SQLite, hnswlib) until killed or done.

usage: python -m tests.store_child HOME NAME ROUNDS [FSIZE_LIMIT]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from embedsearch.ann import HnswParams, normalise
from embedsearch.errors import EmbedsearchError
from embedsearch.home import Home
from embedsearch.codeindex.store import Item, write_generation

DIM = 32


def generation(seed: int):
    """Vectors and rows whose count and content depend on the seed, so generations differ."""
    rng = np.random.default_rng(seed)
    n = 500 + 97 * (seed % 11)
    vectors = normalise(rng.standard_normal((n, DIM)))
    rows = [Item(f"/src/f{seed}.py", i + 1, i + 2, "function", f"fn_{seed}_{i}", f"def fn_{i}(): pass", id=i,
                 hash=f"h{seed}-{i}") for i in range(n)]
    return vectors, rows


MANIFEST = {"kind": "code", "encoder": {"name": "synthetic", "dim": DIM, "max_seq_length": 1, "digest": "-"},
            "sources": ["/src"], "options": {}}


def main() -> None:
    home, name, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    if len(sys.argv) > 4:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limit = int(sys.argv[4])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    start = int.from_bytes(__import__("os").urandom(2), "little")
    for r in range(rounds):
        vectors, rows = generation(start + r)
        try:
            with Home(home).lock(name, wait=10):
                write_generation(home, name, MANIFEST, vectors, rows, HnswParams(M=8, ef_construction=40))
        except EmbedsearchError as exc:
            print(f"error: {exc}", flush=True)
            sys.exit(1)
        print(f"wrote {len(rows)}", flush=True)


if __name__ == "__main__":
    main()
