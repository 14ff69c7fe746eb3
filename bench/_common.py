"""Helpers shared by the benchmarks: machine description, stdlib texts, timing."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL_HOME = Path(os.environ.get("EMBEDSEARCH_BENCH_HOME", "/tmp/evalhome"))
EVAL_NAME = os.environ.get("EMBEDSEARCH_BENCH_INDEX", "stdlib-eval")


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, "
            f"load average {load:.2f} at start")


def stdlib_texts(n: int, home: Path = EVAL_HOME, name: str = EVAL_NAME, seed: int = 0) -> list[str]:
    """n chunk texts of the stdlib index (a fixed random sample, duplicates kept)."""
    import json
    import random

    manifest = json.loads((home / name / "manifest.json").read_text())
    db = sqlite3.connect(f"file:{home / name / manifest['files']['items']['file']}?mode=ro", uri=True)
    rows = [r[0] for r in db.execute("SELECT text FROM items ORDER BY id")]
    random.Random(seed).shuffle(rows)
    return rows[:n]


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def run_median(cmd: list[str], runs: int, env: dict | None = None, cwd: Path | None = None) -> tuple[float, list[float]]:
    """Median wall time of a fresh process, over `runs` runs (after one warm-up run)."""
    times = []
    for i in range(runs + 1):
        t = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
        dt = time.perf_counter() - t
        if proc.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr.decode()[-2000:]}")
        if i:
            times.append(dt)
    return statistics.median(times), times
