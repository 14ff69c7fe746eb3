"""The encoder as an ONNX graph: the same vectors as the torch model, without torch.

Importing torch, transformers and sentence-transformers takes seconds; a query needs
milliseconds of arithmetic. So the transformer of a sentence-transformers model is
exported once to ONNX (token embeddings out), and queries are encoded with `onnxruntime`
and the `tokenizers` library, with mean pooling over the attention mask and L2
normalisation done here in numpy, exactly as the model's Pooling and Normalize modules
do.

The export is cached under HOME/.cache/onnx/<digest>/ where <digest> is the encoder's
weights digest (the one every index manifest records). A cached graph is only ever used
for the digest it was exported from, and only when its recorded identity (name, dim,
maximum sequence length) matches the index's, and only while its files hash to the
digests recorded at export: the cache is an optimisation, never a second source of truth
(a damaged one falls back to torch and is exported again). The folder is written beside
its final place and renamed into it, so a reader sees a complete export or none.

Only models made of Transformer -> mean Pooling (-> Normalize) are exported; anything
else keeps the torch path.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from embedsearch.fileio import file_digest
from embedsearch.home import Home
from embedsearch.encoders import EncoderInfo

MODEL_FILE = "model.onnx"
WEIGHTS_FILE = "model.onnx.data"  # the initializers, outside the graph so onnxruntime maps them
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "encoder.json"
LAYOUT = 2  # bump when the files written here change meaning (2: encoder.json records file digests)


def cache_dir(home: Home | Path | str, digest: str) -> Path:
    """HOME/.cache/onnx/DIGEST: the export of the weights with that digest."""
    return Home.of(home).cache("onnx") / digest


def cached_encoder(home: Path | None, built: dict, threads: int | None = None,
                   bulk: bool = False) -> "OnnxEncoder | None":
    """The ONNX encoder exported from exactly the weights `built` (a manifest's encoder
    entry) describes, or None when there is no complete, matching export."""
    if home is None or not built.get("digest"):
        return None
    folder = cache_dir(home, built["digest"])
    try:
        meta = json.loads((folder / META_FILE).read_text())
    except (OSError, ValueError):
        return None
    want = {"name": built["name"], "dim": int(built["dim"]), "max_seq_length": int(built["max_seq_length"]),
            "digest": built["digest"]}
    if meta.get("layout") != LAYOUT or any(meta.get("encoder", {}).get(k) != v for k, v in want.items()):
        return None
    if not _files_intact(folder, meta.get("files", {})):
        return None
    try:
        return OnnxEncoder(folder, meta, threads=threads, bulk=bulk)
    except Exception:  # a damaged cache falls back to torch (and is re-exported by ensure_export)
        return None


def _files_intact(folder: Path, digests: dict) -> bool:
    """Whether the graph, weights and tokenizer are the bytes that were exported: a damaged
    weights file would not fail to load, it would give wrong vectors. Hashed once, then
    trusted while unchanged (stamps.py)."""
    from embedsearch.stamps import digest_matches

    if set(digests) != {MODEL_FILE, WEIGHTS_FILE, TOKENIZER_FILE}:
        return False
    try:
        for name, sha256 in digests.items():
            with open(folder / name, "rb") as fh:
                if not digest_matches(fh, sha256, folder):
                    return False
    except OSError:
        return False
    return True


class OnnxEncoder:
    """Same interface as encoders.SentenceEncoder (`info`, `encode`, `token_counts`).

    A query session (`bulk=False`) starts in milliseconds: the weights file is memory-mapped
    and not repacked for the matrix kernels, and idle threads do not spin. An indexing
    session (`bulk=True`) repacks the weights once, which pays off over many batches."""

    backend = "onnx"

    def __init__(self, folder: Path, meta: dict, threads: int | None = None, bulk: bool = False):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        e = meta["encoder"]
        self.info = EncoderInfo(e["name"], int(e["dim"]), int(e["max_seq_length"]), e["digest"],
                                bool(e.get("normalized", True)))
        self.name = self.info.name
        self.input_names = list(meta["inputs"])
        self.pad_id = int(meta["pad_id"])
        self.strip = bool(meta.get("strip", True))
        self.lowercase = bool(meta.get("lowercase", False))
        self.tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.info.max_seq_length)
        opts = ort.SessionOptions()
        # the stored graph was optimised at export time: skip that work at load
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        if not bulk:
            opts.add_session_config_entry("session.disable_prepacking", "1")
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.folder / MODEL_FILE), opts, providers=["CPUExecutionProvider"])

    def _prepare(self, texts: Sequence[str]) -> list[str]:
        out = [t.strip() if self.strip else t for t in texts]
        return [t.lower() for t in out] if self.lowercase else out

    def _run(self, encodings) -> np.ndarray:
        n = len(encodings)
        width = max(len(e.ids) for e in encodings)
        ids = np.full((n, width), self.pad_id, dtype=np.int64)
        mask = np.zeros((n, width), dtype=np.int64)
        types = np.zeros((n, width), dtype=np.int64)
        for r, e in enumerate(encodings):
            ids[r, :len(e.ids)] = e.ids
            mask[r, :len(e.ids)] = 1
            types[r, :len(e.ids)] = e.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        tokens = self.session.run(None, {k: feeds[k] for k in self.input_names})[0]
        return pool(tokens, mask)

    def encode(self, texts: Sequence[str], batch_size: int = 32,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Unit-length float32 rows, one per text, in the order given; longest first in
        batches of similar length, like SentenceEncoder.encode."""
        out = np.zeros((len(texts), self.info.dim), dtype=np.float32)
        if not len(texts):
            return out
        encodings = self.tokenizer.encode_batch(self._prepare(texts))
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        done = 0
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            out[idx] = self._run([encodings[i] for i in idx])
            done += len(idx)
            if progress and (done % (batch_size * 8) == 0 or done == len(order)):
                progress(batch_size * 8 if done % (batch_size * 8) == 0 else done % (batch_size * 8))
        return out

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text (special tokens included), before truncation."""
        self.tokenizer.no_truncation()
        try:
            return [len(e.ids) for e in self.tokenizer.encode_batch(self._prepare(texts))]
        finally:
            self.tokenizer.enable_truncation(max_length=self.info.max_seq_length)


def pool(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token embeddings where mask is 1, then L2-normalised (as
    sentence-transformers' Pooling(mean) and Normalize modules compute them)."""
    m = mask.astype(np.float32)[:, :, None]
    summed = (tokens.astype(np.float32) * m).sum(axis=1)
    mean = summed / np.maximum(m.sum(axis=1), 1e-9)
    norms = np.linalg.norm(mean, axis=1, keepdims=True)
    return (mean / np.maximum(norms, 1e-12)).astype(np.float32)


def exportable(encoder) -> str | None:
    """Why this SentenceEncoder cannot be exported, or None when it can."""
    model = getattr(encoder, "model", None)
    if model is None:
        return "not a sentence-transformers encoder"
    kinds = [type(m).__name__ for m in model]
    if kinds[:2] != ["Transformer", "Pooling"] or kinds[2:] not in ([], ["Normalize"]):
        return f"modules {kinds} (only Transformer, mean Pooling, Normalize are exported)"
    pooling = model[1]
    mode = getattr(pooling, "pooling_mode", None)
    if mode is None:
        mode = "mean" if getattr(pooling, "pooling_mode_mean_tokens", False) else "other"
    if mode != "mean":
        return f"pooling {mode!r} (only mean pooling is exported)"
    return None


STALE_EXPORT_SECONDS = 3600  # an export takes seconds; a temp folder this old was left by a kill


def collect_stale_exports(cache: Path, now: float | None = None) -> list[Path]:
    """Remove the temporary folders (`.DIGEST-*`, 50-90 MB each) of exports killed before
    their rename by versions that wrote them without the cache's lock; only ones untouched
    for an hour, so such a version's concurrent export is never hit. (Exports now collect
    their own leftovers under the lock: home.replace_folder.)"""
    import time

    now = time.time() if now is None else now
    removed = []
    for p in cache.glob(".*-*"):
        try:
            if p.is_dir() and not p.is_symlink() and now - p.stat().st_mtime > STALE_EXPORT_SECONDS:
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
        except OSError:
            continue
    return removed


EXPORT_WAIT = 600.0  # seconds a second exporter waits for the first (an export takes 10-60 s)


def ensure_export(home: Home | Path | str, encoder) -> Path | None:
    """Export `encoder` (a loaded SentenceEncoder) to HOME/.cache/onnx/<digest>/ unless a
    complete export is there. Returns the folder, or None when the model cannot be exported.

    Written by the home's commit protocol under the cache's lock: the export fills a
    temporary folder beside its place, which then replaces any damaged or outdated export in
    one atomic exchange; a second process waits for the first and uses its export, and the
    temporaries of a killed export are removed by the next one."""
    home = Home.of(home)
    built = encoder.info.as_dict()
    folder = cache_dir(home, encoder.info.digest)
    if (folder / META_FILE).is_file() and cached_encoder(home, built, threads=1) is not None:
        return folder
    if exportable(encoder) is not None:
        return None
    with home.cache_lock("onnx", wait=EXPORT_WAIT):
        if (folder / META_FILE).is_file() and cached_encoder(home, built, threads=1) is not None:
            return folder  # another process exported it while this one waited
        collect_stale_exports(folder.parent)

        def write(tmp: Path) -> None:
            meta = _export(encoder, tmp)
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2))

        return home.replace_folder(folder, write)


def try_export(home: Path, encoder) -> Path | None:
    """ensure_export, but a failure (read-only home, disk full, exporter missing) only
    means queries keep the torch path: it is reported as a warning, never as an error."""
    try:
        return ensure_export(home, encoder)
    except Exception as exc:  # the cache is an optimisation
        import warnings

        warnings.warn(f"embedsearch: no ONNX export of {encoder.info.name} ({type(exc).__name__}: {exc}); "
                      "queries use torch", RuntimeWarning, stacklevel=2)
        return None


def _export(encoder, out: Path) -> dict:
    import warnings

    import onnxruntime as ort
    import torch

    st = encoder.model
    transformer = st[0]
    bert = transformer.auto_model
    tokenizer = transformer.tokenizer
    sample = st.tokenize(["a", "a longer sample text, padded"])
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    try:  # eager attention traces the mask arithmetic; SDPA paths may skip the mask when tracing
        bert.set_attn_implementation("eager")
    except Exception:
        bert.config._attn_implementation = "eager"

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs))).last_hidden_state

    was_training = bert.training
    bert.eval()
    raw = out / "raw.onnx"
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    axes["token_embeddings"] = {0: "batch", 1: "tokens"}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(TokenEmbeddings(bert), tuple(sample[n] for n in names), str(raw),
                              input_names=names, output_names=["token_embeddings"], dynamic_axes=axes,
                              opset_version=17, do_constant_folding=True, dynamo=False)
    finally:
        bert.train(was_training)
        try:
            bert.set_attn_implementation("sdpa")
        except Exception:
            pass
    # store the graph onnxruntime has optimised once (fused attention, GELU, layer norm), so
    # loading it skips that work; weights go to their own file, which onnxruntime maps
    import onnx

    optimised = out / "optimised.onnx"
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(optimised)
    opts.log_severity_level = 3
    ort.InferenceSession(str(raw), opts, providers=["CPUExecutionProvider"])
    onnx.save_model(onnx.load(str(optimised)), str(out / MODEL_FILE), save_as_external_data=True,
                    all_tensors_to_one_file=True, location=WEIGHTS_FILE, size_threshold=1024)
    raw.unlink()
    optimised.unlink()
    backend = getattr(tokenizer, "backend_tokenizer", None) or tokenizer._tokenizer
    backend.save(str(out / TOKENIZER_FILE))
    return {
        "layout": LAYOUT,
        "encoder": encoder.info.as_dict(),
        "inputs": names,
        "pad_id": int(tokenizer.pad_token_id or 0),
        "strip": True,
        "lowercase": bool(getattr(transformer, "do_lower_case", False)),
        "exported_with": {"torch": torch.__version__, "onnxruntime": ort.__version__},
        "files": {name: file_digest(out / name) for name in (MODEL_FILE, WEIGHTS_FILE, TOKENIZER_FILE)},
    }
