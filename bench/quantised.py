"""int8 ONNX encoder vs the float32 export: speed and code-search quality, side by side.

    python bench/quantised.py

Measurement only: nothing here changes what embedsearch uses (the float32 export). The
float32 export is dynamically quantised to int8 weights with onnxruntime.quantization;
both encoders then run `eval codesearch` (MRR@10 etc.) on the same standard-library files,
and encode the same 300 stdlib chunks for a throughput figure.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from bench._common import machine, stdlib_texts, timed  # noqa: E402

FILES = ["textwrap.py", "shlex.py", "csv.py", "json", "shutil.py", "argparse.py"]


def main() -> None:
    import embedsearch.encoding as encoding
    import embedsearch.onnx_encoder as oe
    import embedsearch.codeindex.search as search_mod
    from embedsearch.encoders import get_encoder
    from embedsearch.evaluate.codesearch import evaluate
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    print(f"machine: {machine()}")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    paths = [str(stdlib / f) for f in FILES]
    texts = stdlib_texts(300)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch_enc = get_encoder()
        f32_dir = oe.ensure_export(tmp / "cache", torch_enc)
        int8_dir = tmp / "int8"
        int8_dir.mkdir()
        for f in (oe.TOKENIZER_FILE, oe.META_FILE):
            shutil.copy(f32_dir / f, int8_dir / f)
        _, q_s = timed(quantize_dynamic, str(f32_dir / oe.MODEL_FILE), str(int8_dir / oe.MODEL_FILE),
                       weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                       extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        print(f"quantised in {q_s:.1f} s; model files: float32 "
              f"{sum(p.stat().st_size for p in f32_dir.glob('model.onnx*')) / 1e6:.1f} MB, int8 "
              f"{(int8_dir / oe.MODEL_FILE).stat().st_size / 1e6:.1f} MB")
        meta = json.loads((f32_dir / oe.META_FILE).read_text())
        rows = []
        for label, folder in (("ONNX float32 (default)", f32_dir), ("ONNX int8 (dynamic)", int8_dir)):
            t = time.perf_counter()
            query_enc = oe.OnnxEncoder(folder, meta)
            load_s = time.perf_counter() - t
            bulk = oe.OnnxEncoder(folder, meta, bulk=True)
            query_enc.encode(["warm up"])
            q_times = []
            for q in ["find the executable on the PATH", "split a string like a shell", "wrap text"] * 3:
                t = time.perf_counter()
                query_enc.encode([q])
                q_times.append(time.perf_counter() - t)
            vecs, enc_s = timed(bulk.encode, texts)
            # every encoder lookup in the index and search paths answers with this one
            encoding.resolve_encoder = lambda *a, e=bulk, **kw: e
            search_mod.query_encoder = lambda index, model=None, e=query_enc: e
            report = evaluate(paths)
            rows.append((label, load_s, float(np.median(q_times)), len(texts) / enc_s, vecs, report))
        base = rows[0][4]
        print(f"{'encoder':24s} {'session s':>9s} {'query ms':>8s} {'chunks/s':>8s} {'min cos':>8s} "
              f"{'MRR@10':>7s} {'R@1':>6s} {'R@10':>6s} queries")
        for label, load_s, q_s, cps, vecs, r in rows:
            cos = float((vecs * base).sum(1).min())
            print(f"{label:24s} {load_s:9.3f} {q_s * 1000:8.1f} {cps:8.1f} {cos:8.4f} {r.mrr_at_10:7.3f} "
                  f"{r.recall_at_1:6.3f} {r.recall_at_10:6.3f} {r.queries}")


if __name__ == "__main__":
    main()
