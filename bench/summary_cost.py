"""What summaries cost an index build: the same corpus indexed with the named
representation (code only) and with SUMMARISED (code + summary, the default), alternating,
`--rounds` times each, each build from scratch with the cached ONNX export. Prints texts
embedded and seconds per build.

    .venv/bin/python bench/summary_cost.py --rounds 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import sysconfig
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine  # noqa: E402
from embedsearch.codeindex.indexing import build_index  # noqa: E402
from embedsearch.codeindex.representation import NAMED, SUMMARISED  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
CORPUS = ["json", "csv.py", "textwrap.py", "shutil.py", "shlex.py", "urllib"]  # what `make demo` indexes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    paths = [str(STDLIB / p) for p in CORPUS]
    seconds: dict[str, list[float]] = {NAMED: [], SUMMARISED: []}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        build_index("warm", [str(STDLIB / "textwrap.py")], home)  # exports the encoder once
        for _ in range(args.rounds):
            for rep in (NAMED, SUMMARISED):
                shutil.rmtree(home / rep, ignore_errors=True)
                s = build_index(rep, paths, home, representation=rep)
                seconds[rep].append(s.embed_seconds)
                print(f"{rep}: {s.chunks} chunks, {s.texts_embedded} texts embedded in {s.embed_seconds:.1f} s "
                      f"(build {s.seconds:.1f} s)", flush=True)
    a, b = statistics.median(seconds[NAMED]), statistics.median(seconds[SUMMARISED])
    print(f"median embedding time: named {a:.1f} s, summarised {b:.1f} s ({b / a:.2f}x)")


if __name__ == "__main__":
    main()
