"""How much faster the test suite got (issue 14: "at least 30% faster thanks to the fake
encoder"), measured fairly: the suite of an older commit against *the same tests* in this
tree, in one run on one machine. The suite has grown since (Spark, the browser, MCP), so
the whole suite's time says nothing about the tests that were there.

    git worktree add /tmp/base4 6e29448      # the fourth session's final tree (248 tests)
    .venv/bin/python bench/suite_speed.py --before /tmp/base4

Runs the old tree's suite with its own code (PYTHONPATH) and this venv, then this tree's
versions of exactly those test ids (every id must still exist: tests are adapted, not
dropped), and prints both wall times from pytest's own summary.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def pytest(cwd: Path, args: list[str], env: dict) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True).stdout
    m = re.search(r"(\d+) passed.* in ([\d.]+)s", out)
    if not m or "failed" in out.splitlines()[-1]:
        sys.exit(f"pytest in {cwd} did not pass:\n{out[-3000:]}")
    return float(m.group(2)), m.group(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True, help="a worktree of the older commit")
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    old_env = {**env, "PYTHONPATH": str(args.before)}
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                            cwd=args.before, env=old_env, capture_output=True, text=True).stdout
    ids = [line for line in listed.splitlines() if "::" in line]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    print(f"{len(ids)} tests in {args.before}")
    started = time.perf_counter()
    before, n_before = pytest(args.before, [], old_env)
    after, n_after = pytest(HERE, ids, env)
    print(f"before: {n_before} passed in {before:.1f} s (its own tree and tests)")
    print(f"after:  {n_after} passed in {after:.1f} s (this tree, the same test ids)")
    print(f"after/before {after / before:.3f} ({(1 - after / before) * 100:.1f}% faster); "
          f"whole run {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
