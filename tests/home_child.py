"""A child process for the fault-injection tests: one write of each kind the home commits
(an index generation, a registered table, a CF model), so a test can run it under
`strace -e inject=...` and look at what is left.

usage: python -m tests.home_child index HOME NAME SEED
       python -m tests.home_child table HOME NAME FILE
       python -m tests.home_child cf HOME NAME DATA_FOLDER SEED
       python -m tests.home_child onnx HOME MODEL_FOLDER
Exit 0: written. Exit 1 with "error: ..." on one line: refused cleanly (EmbedsearchError or
OSError, which the CLI prints as one line). Anything else is a traceback, a bug.
"""

from __future__ import annotations

import sys
from pathlib import Path

from embedsearch.errors import EmbedsearchError
from embedsearch.home import Home


def write_index(home: Home, name: str, seed: int) -> None:
    from embedsearch.ann import HnswParams
    from embedsearch.codeindex.store import write_generation
    from tests.store_child import MANIFEST, generation

    vectors, rows = generation(seed)
    with home.lock(name):
        write_generation(home, name, MANIFEST, vectors, rows, HnswParams(M=8, ef_construction=40))


def write_table(home: Home, name: str, path: str) -> None:
    from embedsearch.tables.registry import add_file

    add_file(home, name, path)


def write_cf(home: Home, name: str, data: Path, seed: int) -> None:
    import torch

    from embedsearch.cf.data import load_dataset
    from embedsearch.cf.models import make_model
    from embedsearch.cf.saved import save_model

    torch.manual_seed(seed)
    ratings = load_dataset(str(data / "ratings.tsv")).ratings
    model = make_model("dot", len(ratings.user_keys), len(ratings.item_keys), 4, (0.0, 5.5))
    save_model(home, name, model, {"factors": 4, "y_range": [0.0, 5.5], "seed": seed}, {}, str(data), ratings)


def write_export(home: Home, model: str) -> None:
    from embedsearch.encoders import SentenceEncoder
    from embedsearch.onnx_encoder import ensure_export

    ensure_export(home, SentenceEncoder(model))


def main() -> None:
    kind, home, name = sys.argv[1], Home(sys.argv[2]), sys.argv[3]
    try:
        if kind == "index":
            write_index(home, name, int(sys.argv[4]))
        elif kind == "table":
            write_table(home, name, sys.argv[4])
        elif kind == "onnx":
            write_export(home, name)
        else:
            write_cf(home, name, Path(sys.argv[4]), int(sys.argv[5]))
    except (EmbedsearchError, OSError) as exc:
        print(f"error: {exc}", flush=True)
        sys.exit(1)
    print("written", flush=True)


if __name__ == "__main__":
    main()
