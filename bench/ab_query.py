"""Interleaved A/B of a cold `embedsearch search` between two source trees (say the last
commit and the working tree): the same index, the same query, runs alternating A, B, A,
B... so that load on a shared machine falls on both alike. Prints the median wall time of
each and their ratio.

    git worktree add /tmp/before HEAD
    .venv/bin/python bench/ab_query.py --a /tmp/before --b . --home /tmp/qhome \\
        --name test-questions-summarised-v1 --runs 25

Each run is `python -c "...embedsearch.cli.run()"` in a temporary folder (so the current
folder does not shadow the tree) with PYTHONPATH set to the tree (ahead of the editable
install), `--json` output, answered by the cached ONNX export. The home is
copied first, so neither side writes into the original, and both trees are byte-compiled
first (an installed package is; without bytecode every run compiles its modules again).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine  # noqa: E402

RUN = "import sys; from embedsearch.cli import run; sys.argv = ['embedsearch'] + sys.argv[1:]; run()"
QUERIES = ["how do I parse a query string into a dict", "compare two text files line by line",
           "pretty print json with indentation", "temporary directory that is removed afterwards"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", type=Path, required=True, help="source tree A (holding embedsearch/)")
    ap.add_argument("--b", type=Path, required=True, help="source tree B")
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--runs", type=int, default=25)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        shutil.copytree(args.home / args.name, home / args.name)
        if (args.home / ".cache").is_dir():
            shutil.copytree(args.home / ".cache", home / ".cache")
        times: dict[str, list[float]] = {"A": [], "B": []}
        trees = {"A": args.a.resolve(), "B": args.b.resolve()}
        for tree in trees.values():  # bytecode on both sides, as an install has it (where the
            # environment sets PYTHONDONTWRITEBYTECODE, nothing else would write it)
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "embedsearch")], check=True)
        for side, tree in trees.items():  # warm-up, and proof of which code answers
            env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"}
            where = subprocess.run([sys.executable, "-c", "import embedsearch; print(embedsearch.__file__)"],
                                   env=env, capture_output=True, text=True, check=True, cwd=tmp).stdout.strip()
            print(f"{side}: {where}")
            subprocess.run([sys.executable, "-c", RUN, "--home", str(home), "search", args.name, QUERIES[0], "--json"],
                           env=env, capture_output=True, check=True, cwd=tmp)
        for i in range(args.runs):
            for side in ("A", "B") if i % 2 == 0 else ("B", "A"):
                env = {**os.environ, "PYTHONPATH": str(trees[side]), "HF_HUB_OFFLINE": "1"}
                cmd = [sys.executable, "-c", RUN, "--home", str(home), "search", args.name,
                       QUERIES[i % len(QUERIES)], "--json"]
                t = time.perf_counter()
                subprocess.run(cmd, env=env, capture_output=True, check=True, cwd=tmp)  # not this tree's cwd
                times[side].append(time.perf_counter() - t)
    a, b = statistics.median(times["A"]), statistics.median(times["B"])
    print(f"index {args.name}, {args.runs} runs each, interleaved: A {a:.3f} s, B {b:.3f} s, B/A {b / a:.3f}")


if __name__ == "__main__":
    main()
