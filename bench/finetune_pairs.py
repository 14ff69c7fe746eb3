"""Training pairs for a contrastive fine-tune of the encoder (bench/finetune_encoder.py):
(a documented function's first docstring paragraph, its code without any docstring, named
the way the index names code), from installed packages and standard-library modules that no
benchmark asks about.

Excluded, with vendored copies anywhere in a path (pip/_vendor/packaging...): every code base
of bench/questions (dev and test parts), the seven held-out packages of the docstring
benchmark, and the test suites of everything. Each package gives at most --per-package
pairs (torch would otherwise be half the data); a query text is used once.

    .venv/bin/python bench/finetune_pairs.py --out /tmp/ft/pairs.jsonl.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sysconfig
from pathlib import Path

from embedsearch.chunking import python as pychunk
from embedsearch.evaluate.codesearch import MIN_QUERY_WORDS, strip_docstrings
from embedsearch.codeindex.representation import SUMMARY_WORDS, clean_query, embed_text, first_paragraph

HERE = Path(__file__).resolve().parent / "questions"
HELD_OUT = {"packaging", "pathspec", "filelock", "pluggy", "jinja2", "more_itertools", "dateutil"}
QUESTION_BASES = {"click", "requests"}  # the third-party code bases of bench/questions
TEST_DIRS = {"test", "tests", "testing", "_testing", "idlelib", "lib2to3", "site-packages", "__pycache__"}


def benchmark_stdlib_modules(parts: tuple[str, ...] = ("dev", "test")) -> set[str]:
    """Every stdlib module a question file of `parts` indexes (its `# root: stdlib ...
    modules` line)."""
    names = set()
    for tsv in (t for part in parts for t in (HERE / part).glob("*.tsv")):
        header = next(line for line in tsv.read_text().splitlines() if line.startswith("# root:"))
        if "stdlib" in header:
            names |= {m.removesuffix(".py").split("/")[0] for m in header.split("modules", 1)[1].split()}
    return names


def excluded(parts: tuple[str, ...], banned: set[str]) -> bool:
    return any(p.removesuffix(".py") in banned or p in TEST_DIRS or p.startswith("test_") for p in parts)


def pairs_of(path: Path) -> list[tuple[str, str]]:
    """(query, positive) for each documented function or method of one file."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    result = strip_docstrings(source)
    if result is None:
        return []
    stripped, queries = result
    wanted = dict(queries)
    out = []
    try:
        chunks = pychunk.chunk(str(path), stripped)
    except (RecursionError, MemoryError):
        return []
    for c in chunks:
        q = wanted.get(c.name)
        if q is None or c.kind not in ("function", "method") or len(c.text) > 4000:
            continue
        q = clean_query(first_paragraph(q, SUMMARY_WORDS))
        if len(q.split()) >= MIN_QUERY_WORDS and len(c.text.splitlines()) >= 3:
            out.append((q, embed_text(c)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-package", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    site = Path(sysconfig.get_paths()["purelib"])
    banned = HELD_OUT | QUESTION_BASES | benchmark_stdlib_modules()
    roots: dict[str, list[Path]] = {}
    for top in sorted(site.iterdir()):
        if top.suffix in (".py", "") and not top.name.endswith("-info") and top.name not in ("__pycache__", "embedsearch"):
            roots.setdefault(top.name.removesuffix(".py"), []).append(top)
    for top in sorted(stdlib.iterdir()):
        if top.suffix in (".py", "") and top.name != "site-packages" and not top.name.startswith("_"):
            roots.setdefault(f"stdlib:{top.name.removesuffix('.py')}", []).append(top)
    rng = random.Random(args.seed)
    seen: set[str] = set()
    kept: list[dict] = []
    counts = {}
    for package, tops in roots.items():
        if package.split(":")[-1] in banned:
            continue
        found = []
        for top in tops:
            files = [top] if top.is_file() else sorted(top.rglob("*.py"))
            for f in files:
                rel = f.relative_to(top.parent).parts
                if not excluded(rel, banned):
                    found += pairs_of(f)
        rng.shuffle(found)
        n = 0
        for q, pos in found:
            if q in seen or n >= args.per_package:
                continue
            seen.add(q)
            kept.append({"query": q, "code": pos, "package": package})
            n += 1
        if n:
            counts[package] = n
    rng.shuffle(kept)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt", encoding="utf-8") as fh:
        for row in kept:
            fh.write(json.dumps(row) + "\n")
    big = sorted(counts.items(), key=lambda kv: -kv[1])
    print(f"{len(kept)} pairs from {len(counts)} packages; largest: "
          + ", ".join(f"{k} {v}" for k, v in big[:12]))


if __name__ == "__main__":
    main()
