"""Index-time encoding speed: our path vs plain SentenceTransformer.encode.

    python bench/encode_throughput.py [--n 2000]

The chunks are a fixed random sample of the stdlib index's texts. The baseline is plain
`SentenceTransformer.encode` (which sorts by length itself) over the distinct texts, batch
32; our paths embed the same distinct texts through the encoder objects the index
command uses (torch SentenceEncoder, and the ONNX export with a bulk session), including
the token counting the index summary does. Also printed: tokens/s, FLOPs/token and the
machine's float32 matmul peak, i.e. how far encoding is from the arithmetic limit.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from bench._common import machine, stdlib_texts, timed  # noqa: E402


def matmul_peak(n: int = 2048, reps: int = 5) -> float:
    """Best float32 GFLOP/s of an n x n matmul (numpy's BLAS, all cores)."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b
    best = 0.0
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    chunks = stdlib_texts(args.n)
    texts = list(dict.fromkeys(chunks))  # identical chunks embedded once
    print(f"chunks: {len(chunks)} ({len(texts)} distinct)")

    from embedsearch.encoders import get_encoder
    from embedsearch.onnx_encoder import cached_encoder, ensure_export

    torch_enc, load_s = timed(get_encoder)
    st = torch_enc.model
    print(f"torch model load: {load_s:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        folder, export_s = timed(ensure_export, Path(tmp), torch_enc)
        print(f"ONNX export (once per weights digest): {export_s:.1f} s")
        onnx_enc = cached_encoder(Path(tmp), torch_enc.info.as_dict(), bulk=True)

        # the same token counts for every path: what the transformer actually reads
        lengths = np.array([min(n, torch_enc.info.max_seq_length) for n in onnx_enc.token_counts(texts)])
        results = {}
        base, t_base = timed(st.encode, texts, batch_size=args.batch, normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=False)
        results["SentenceTransformer.encode (baseline)"] = t_base

        def ours(enc):
            enc.token_counts(texts)
            return enc.encode(texts, batch_size=args.batch)

        v_torch, results["embedsearch torch path"] = timed(ours, torch_enc)
        v_onnx, results["embedsearch ONNX path"] = timed(ours, onnx_enc)

    cos_t = float((v_torch * base).sum(1).min())
    cos_o = float((v_onnx * base).sum(1).min())
    params = sum(p.numel() for n, p in st.named_parameters() if "embeddings" not in n)
    layers, d = 6, torch_enc.info.dim
    mean_len = float(lengths.mean())
    # 2 FLOPs per multiply-add per weight, plus QK^T and AV: 4 * len * d per token per layer
    flops_per_token = 2 * params + 4 * layers * mean_len * d
    peak = matmul_peak()
    print(f"tokens read: {int(lengths.sum())} (mean {mean_len:.0f} per chunk, truncated at "
          f"{torch_enc.info.max_seq_length}); non-embedding parameters {params / 1e6:.1f} M; "
          f"FLOPs/token ~ {flops_per_token / 1e6:.1f} M")
    print(f"float32 matmul peak (numpy, 2048^2): {peak:.1f} GFLOP/s -> "
          f"arithmetic limit {peak * 1e9 / flops_per_token:,.0f} tokens/s")
    print(f"{'path':40s} {'s':>7s} {'chunks/s':>9s} {'ratio':>6s} {'tokens/s':>9s} {'GFLOP/s':>8s} {'of peak':>7s}")
    for name, t in results.items():
        tok_s = lengths.sum() / t
        print(f"{name:40s} {t:7.1f} {len(texts) / t:9.1f} {t_base / t:6.2f} {tok_s:9.0f} "
              f"{tok_s * flops_per_token / 1e9:8.1f} {tok_s * flops_per_token / 1e9 / peak:7.0%}")
    print(f"min cosine vs baseline: torch path {cos_t:.6f}, ONNX path {cos_o:.6f}")


if __name__ == "__main__":
    main()
