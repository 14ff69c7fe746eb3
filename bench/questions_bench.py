"""Search quality for hand-written questions (bench/questions/): every method, on one
index per part holding all of that part's code bases as users have them (docstrings kept),
scored in one run.

Each TSV file is one code base; its first line says which (`# root: stdlib (...), modules
json csv.py ...` or `# root: package NAME==VERSION`). Pinned packages are installed with
pip into --packages (once); indexes are kept under --home, so a second run embeds
nothing. Printed: a Markdown table with each part's figures and each code base's MRR@10
within it, each method's MRR@10 also as a ratio to the first method's (plain dense)
measured in the same run.

    .venv/bin/python bench/questions_bench.py --home /tmp/questions-home --part dev
    .venv/bin/python bench/questions_bench.py --home /tmp/questions-home --part test --json /tmp/q.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from embedsearch.evaluate.codesearch import DEFAULT, Method, answers, evaluate, read_questions  # noqa: E402
from embedsearch.codeindex.indexing import LEXICAL_WEIGHT  # noqa: E402
from embedsearch.codeindex.representation import NAMED, PLAIN, SUMMARISED, clean_query  # noqa: E402
from embedsearch.codeindex.search import query_encoder, query_vectors  # noqa: E402
from embedsearch.codeindex.store import Index  # noqa: E402

HERE = Path(__file__).resolve().parent / "questions"
STDLIB = Path(sysconfig.get_paths()["stdlib"])

METHODS = (
    Method("plain dense", PLAIN, 0.0),
    Method("named, dense only", NAMED, 0.0),
    Method("named + BM25 (fused, not re-ranked)", NAMED, LEXICAL_WEIGHT, clean_queries=True, fold_nested=True),
    Method("named + BM25, re-ranked", NAMED, LEXICAL_WEIGHT, clean_queries=True,
           fold_nested=True, rerank=True),
    Method("summarised, dense only", SUMMARISED, 0.0),
    Method("summarised + BM25 (fused, not re-ranked)", SUMMARISED, LEXICAL_WEIGHT, clean_queries=True, fold_nested=True),
    Method("default without the query adapter", SUMMARISED, LEXICAL_WEIGHT, clean_queries=True, fold_nested=True,
           rerank=True, adapt=False),
    DEFAULT,
)


def code_base(tsv: Path, packages: Path) -> list[str]:
    """The paths to index for one questions file, from its `# root:` line."""
    header = next(line for line in tsv.read_text().splitlines() if line.startswith("# root:"))
    if "stdlib" in header:
        modules = header.split("modules", 1)[1].split()
        return [str(STDLIB / m if (STDLIB / m).exists() else STDLIB / f"{m}.py") for m in modules]
    spec = re.search(r"package\s+(\S+==\S+)", header).group(1)
    target = packages / spec.replace("==", "-")
    if not target.is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), spec],
                       check=True)
    tops = sorted({q.path.split("/")[0] for q in read_questions(tsv)})
    return [str(target / t) for t in tops]


def part_corpus(part: str, packages: Path) -> tuple[list[str], list, dict[str, list[int]]]:
    """(paths to index, questions, code base -> indices of its questions) of one part."""
    paths, questions, members = [], [], {}
    for tsv in sorted((HERE / part).glob("*.tsv")):
        paths += code_base(tsv, packages)
        asked = read_questions(tsv)
        members[tsv.stem] = list(range(len(questions), len(questions) + len(asked)))
        questions += asked
    return paths, questions, members


@dataclass
class DevRun:
    """The dev questions asked of the dev index of one representation, ready to rank:
    what the screening scripts (question_levers, summary_screen, query_feature_screen)
    share."""

    index: Index
    questions: list
    members: dict[str, list[int]]
    wanted: list[set[int]]
    texts: list[str]
    vectors: np.ndarray  # (questions, dim)
    encoder: object


def dev_run(description: str, representation: str = SUMMARISED) -> DevRun:
    """Parse --home/--packages, open the dev index kept by this script, encode the questions."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--packages", type=Path, default=Path("/tmp/embedsearch-bench-packages"))
    args = parser.parse_args()
    _, questions, members = part_corpus("dev", args.packages)
    index = Index(args.home, f"dev-questions-{representation}")
    texts = [clean_query(q.text) for q in questions]
    encoder = query_encoder(index)
    return DevRun(index, questions, members, answers(index, questions, strict=True), texts,
                  query_vectors(index, encoder, texts), encoder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="where the indexes are kept")
    parser.add_argument("--packages", type=Path, default=Path("/tmp/embedsearch-bench-packages"))
    parser.add_argument("--part", choices=["dev", "test"], action="append", help="dev, test or both (default)")
    parser.add_argument("--misses", type=int, default=0, help="print this many misses of the default")
    parser.add_argument("--json", type=Path, help="also write every report here")
    parser.add_argument("--model", help="encoder folder or name (default: the packaged one); keep its "
                        "indexes in a --home of their own")
    parser.add_argument("--representation", choices=sorted({m.representation for m in METHODS}),
                        help="only the methods of this representation (the ratio column is then to the first)")
    args = parser.parse_args()
    methods = tuple(m for m in METHODS if args.representation in (None, m.representation))
    out = []
    parts = args.part or ["dev", "test"]
    stems = [sorted(p.stem for p in (HERE / part).glob("*.tsv")) for part in parts]
    ratio = "MRR vs plain dense" if methods[0] == METHODS[0] else f"MRR vs {methods[0].label}"
    print(f"| part | method | questions | chunks | MRR@10 | Recall@1 | Recall@10 | {ratio} | "
          "MRR@10 by code base (" + "; ".join(f"{part}: {', '.join(s)}" for part, s in zip(parts, stems)) + ") |")
    print("|---" * 9 + "|")
    for part in parts:
        paths, questions, members = part_corpus(part, args.packages)
        reports = evaluate(paths, home=args.home, index_name=part, methods=methods, questions=questions,
                           misses=args.misses, model=args.model)
        base = reports[0].mrr_at_10 or 1.0
        for r in reports:
            per_base = []
            for stem, idx in members.items():
                rr = sum(1.0 / r.ranks[i] for i in idx if r.ranks[i]) / len(idx)
                per_base.append(f"{rr:.2f}")
            print(f"| {part} | {r.method} | {r.queries} | {r.candidates} | {r.mrr_at_10:.3f} | {r.recall_at_1:.3f} | "
                  f"{r.recall_at_10:.3f} | {r.mrr_at_10 / base:.2f}× | {' '.join(per_base)} |", flush=True)
            out.append({"part": part, **r.as_dict()})
        for m in reports[-1].misses:
            print(f"    missed: {m['query']!r} -> {m['wanted']}, got {', '.join(m['got'])}", file=sys.stderr)
    if args.json:
        args.json.write_text("\n".join(json.dumps(r) for r in out) + "\n")


if __name__ == "__main__":
    main()
