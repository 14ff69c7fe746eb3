"""Re-indexing after editing one file vs the full build, on a tree of >= 5,000 chunks.

    python bench/reindex.py [--min-chunks 5000]

Copies standard-library packages into a temporary folder until it holds at least
`--min-chunks` chunks, builds the index from scratch with the real command (a fresh
process, as a user runs it), then edits one file (one function changed, one added) and
runs `embedsearch index --name NAME` again; also the re-run with nothing changed. Wall
times of whole processes, ratio to the full build.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine  # noqa: E402

PACKAGES = ["email", "json", "http", "urllib", "logging", "concurrent", "asyncio", "xml", "importlib",
            "unittest", "multiprocessing", "sqlite3", "ctypes", "tomllib", "zoneinfo", "wsgiref", "dbm",
            "collections", "re", "html", "pydoc_data", "lib2to3", "idlelib", "tkinter"]
EDITED = "asyncio/base_events.py"


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("embedsearch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "embedsearch"]


def run(cmd: list[str], env: dict) -> tuple[float, dict]:
    t = time.perf_counter()
    out = subprocess.run(cmd + ["--json"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode:
        sys.exit(out.stderr[-2000:])
    return wall, json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-chunks", type=int, default=5000)
    args = ap.parse_args()
    from embedsearch.codeindex.indexing import IndexSummary, collect_chunks

    print(f"machine: {machine()}")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cli = cli_command()
    with tempfile.TemporaryDirectory() as tmp:
        tree, home = Path(tmp) / "tree", Path(tmp) / "home"
        tree.mkdir()
        chunks = 0
        for pkg in PACKAGES:
            shutil.copytree(stdlib / pkg, tree / pkg, ignore=shutil.ignore_patterns("__pycache__", "test", "tests"))
            chunks = len(collect_chunks([str(tree)], "text", 1_000_000, [], IndexSummary("x")))
            if chunks >= args.min_chunks and (tree / EDITED).exists():
                break
        print(f"tree: {', '.join(p.name for p in sorted(tree.iterdir()))}: {chunks} chunks")
        index = cli + ["--home", str(home), "index"]

        full, s = run(index + [str(tree), "--name", "tree"], env)
        print(f"full build: {full:.1f} s wall ({s['embedded']} chunks embedded in {s['embed_seconds']} s, "
              f"{s['chunks_per_second']} chunks/s)")
        nothing, s = run(index + ["--name", "tree"], env)
        print(f"re-run, nothing changed: {nothing:.1f} s wall ({nothing / full:.1%} of the full build)")

        edited = tree / EDITED
        text = edited.read_text()
        text = text.replace("def _run_once(self):", "def _run_once(self):\n        # edited for the benchmark", 1)
        edited.write_text(text + "\n\ndef added_for_benchmark(x):\n    \"\"\"One new function.\"\"\"\n    return x\n")
        one, s = run(index + ["--name", "tree"], env)
        print(f"re-index after editing {EDITED}: {one:.1f} s wall, {one / full:.1%} of the full build "
              f"(+{s['added']} added, ~{s['changed']} changed, -{s['removed']} removed, "
              f"{s['embedded']} embedded in {s['embed_seconds']} s)")


if __name__ == "__main__":
    main()
