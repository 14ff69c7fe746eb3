"""The fast paths give the same answers as the torch path.

Queries (and index builds) are encoded with an ONNX export of the encoder, run by
onnxruntime without importing torch. These tests check that its vectors equal the torch
model's (cosine >= 0.9999), that searches return the same top 10, that the search command
really does not import torch when the export is cached, and that an export is only used
for the weights digest it was made from. No timing is asserted here; see bench/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import onnx  # noqa: F401  a hard dependency: its absence must fail these tests, not skip them

from embedsearch.onnx_encoder import META_FILE, cache_dir, cached_encoder
from embedsearch.codeindex.search import query_vectors, search
from embedsearch.codeindex.store import Index

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["find the executable on the PATH", "recursively delete a directory tree",
           "wrap text to a given width", "parse a CSV file into dictionaries",
           "serialize an object to a JSON string", "copy file permissions"]
HEAVY = ("torch", "transformers", "sentence_transformers")


@pytest.fixture(scope="module")
def torch_encoder():
    from embedsearch.encoders import get_encoder

    return get_encoder()


@pytest.fixture(scope="module")
def onnx_encoder(stdlib_index):
    home, name, _ = stdlib_index
    built = json.loads((home / name / "manifest.json").read_text())["encoder"]
    enc = cached_encoder(home, built)
    assert enc is not None, "building an index exports the encoder to ONNX"
    return enc


def _texts(stdlib_index) -> list[str]:
    home, name, _ = stdlib_index
    index = Index(home, name)
    try:
        items = index.all_items()
    finally:
        index.close()
    code = [it.text for it in items[::max(1, len(items) // 40)]]
    long = max((it.text for it in items), key=len)
    return QUERIES + code + [long, "x", "  padded with spaces\n\n", "déjà vu: naïve ünïcode, 日本語のテキスト"]


def test_onnx_vectors_match_torch(stdlib_index, torch_encoder, onnx_encoder):
    texts = _texts(stdlib_index)
    counts = torch_encoder.token_counts(texts)
    assert max(counts) > 256  # a text longer than the encoder reads (truncated the same way)
    assert onnx_encoder.token_counts(texts) == counts
    a = torch_encoder.encode(texts)
    b = onnx_encoder.encode(texts)  # one batch mixes lengths from 3 to 256 tokens: padding
    assert a.shape == b.shape
    assert np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-5)
    assert float((a * b).sum(axis=1).min()) >= 0.9999
    single = np.stack([onnx_encoder.encode([t])[0] for t in texts[:8] + texts[-4:]])  # no padding
    assert float((single * np.concatenate([b[:8], b[-4:]])).sum(axis=1).min()) >= 0.9999
    assert onnx_encoder.encode([]).shape == (0, torch_encoder.info.dim)


def test_index_vectors_match_torch(stdlib_index, torch_encoder):
    """The index command embeds with the export; its stored rows equal torch's."""
    home, name, _ = stdlib_index
    index = Index(home, name)
    try:
        items = index.all_items()[::25]
        stored = np.asarray(index.vectors)[[it.id for it in items]]
    finally:
        index.close()
    from embedsearch.chunking import Chunk
    from embedsearch.codeindex.indexing import chunk_vectors

    assert index.manifest["options"]["representation"] == "summarised-v1"  # code and summary blended
    chunks = [Chunk(it.path, it.start_line, it.end_line, it.kind, it.name, it.text) for it in items]
    fresh, _ = chunk_vectors(chunks, "summarised-v1", torch_encoder)
    assert float((stored * fresh).sum(axis=1).min()) >= 0.9999


def test_same_top10_as_torch(stdlib_index, torch_encoder):
    home, name, _ = stdlib_index
    from embedsearch.codeindex.search import answer

    fast = search(home, name, QUERIES, k=10, lexical_weight=0)  # the cached export answers
    fast_hybrid = search(home, name, QUERIES, k=10)
    index = Index(home, name)
    try:
        vectors = query_vectors(index, torch_encoder, QUERIES)  # the same ranking as `search`, torch-encoded
        slow = [answer(index, q, v, 10, 0.0) for q, v in zip(QUERIES, vectors)]
        exact = [answer(index, q, v, 10, 0.0, exact=True) for q, v in zip(QUERIES, vectors)]
        weight = index.manifest["options"]["lexical_weight"]
        slow_hybrid = [answer(index, q, v, 10, weight) for q, v in zip(QUERIES, vectors)]
    finally:
        index.close()
    for f, s, e in zip(fast, slow, exact):
        assert [h.id for h in f] == [h.id for h in s]
        assert [h.id for h in f] == [h.id for h in e]
        assert np.allclose([h.score for h in f], [h.score for h in s], atol=2e-4)
    for f, s in zip(fast_hybrid, slow_hybrid):
        assert [h.id for h in f] == [h.id for h in s]


def test_search_process_does_not_import_torch(stdlib_index):
    home, name, _ = stdlib_index
    code = (
        "import sys\n"
        "from embedsearch.cli import main\n"
        f"main([ '--home', {str(home)!r}, 'search', {name!r}, 'wrap text', '-k', '3', '--json'],"
        " standalone_mode=False)\n"
        f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    hits = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(hits) == 3 and hits[0]["name"]
    assert "HEAVY []" in out.stdout


def test_cli_help_imports_nothing_heavy():
    code = ("import sys\nfrom embedsearch.cli import main\n"
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'onnxruntime', "
            "'numpy', 'hnswlib', 'pygments', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_console_script_flushes_everything_before_its_quick_exit(stdlib_index):
    """`python -m embedsearch` (the console script's `run`) ends read-only commands with
    os._exit: the whole answer must still arrive, with the right exit codes."""
    home, name, _ = stdlib_index
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "100"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "embedsearch", "--home", str(home), *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120)

    out = run("search", name, "wrap text", "-k", "10")
    assert out.returncode == 0, out.stderr
    assert out.stdout.rstrip().endswith("┘") and "│ 10 │" in out.stdout  # the table, to its last row
    out = run("search", name, "wrap text", "-k", "7", "--json")
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 7
    out = run("search", "no-such-index", "wrap text")
    assert out.returncode == 1 and out.stderr.strip().startswith("Error: unknown index")
    out = run("search", name)
    assert out.returncode == 2 and "give a QUERY" in out.stderr


def test_export_only_used_for_its_digest(stdlib_index, tmp_path):
    home, name, _ = stdlib_index
    built = json.loads((home / name / "manifest.json").read_text())["encoder"]
    assert cached_encoder(home, built) is not None
    other = dict(built, digest="0" * 32)
    assert cached_encoder(home, other) is None  # no export for those weights
    # an export copied under another digest's folder is refused: its own record says otherwise
    shutil.copytree(cache_dir(home, built["digest"]), cache_dir(tmp_path, other["digest"]))
    assert cached_encoder(tmp_path, other) is None
    assert cached_encoder(home, dict(built, name="someone/else")) is None
    assert cached_encoder(home, dict(built, max_seq_length=128)) is None
    # a damaged export is not used
    shutil.copytree(cache_dir(home, built["digest"]), cache_dir(tmp_path, built["digest"]))
    (cache_dir(tmp_path, built["digest"]) / META_FILE).write_text("{not json")
    assert cached_encoder(tmp_path, built) is None
    # ...nor one whose weights changed: it would load and give wrong vectors
    shutil.rmtree(cache_dir(tmp_path, built["digest"]))
    shutil.copytree(cache_dir(home, built["digest"]), cache_dir(tmp_path, built["digest"]))
    assert cached_encoder(tmp_path, built) is not None
    weights = cache_dir(tmp_path, built["digest"]) / "model.onnx.data"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x10
    weights.write_bytes(bytes(data))
    assert cached_encoder(tmp_path, built) is None


def test_without_export_torch_answers_and_creates_it(stdlib_index, tmp_path):
    home, name, _ = stdlib_index
    copy = tmp_path / "home"
    shutil.copytree(home / name, copy / name)
    assert not (copy / ".cache" / "onnx").exists()
    slow = search(copy, name, QUERIES[:2], k=10)  # torch path, exports for next time
    built = json.loads((copy / name / "manifest.json").read_text())["encoder"]
    assert cached_encoder(copy, built) is not None
    fast = search(copy, name, QUERIES[:2], k=10)
    assert [[h.id for h in hits] for hits in slow] == [[h.id for h in hits] for hits in fast]


def test_an_update_embeds_only_new_or_changed_chunks_and_never_imports_torch(tmp_path):
    """A spy on the real (ONNX) encoder: an update encodes exactly the texts of the chunks
    whose hash is new, every unchanged chunk keeps its stored vector byte for byte, and in
    a fresh process with the export cached the update never imports torch."""
    from embedsearch.chunking import chunk_text
    from embedsearch.codeindex.indexing import build_index
    from embedsearch.codeindex.representation import embed_hash, embed_texts
    from embedsearch.codeindex.store import Index
    from tests.conftest import copy_stdlib

    corpus = copy_stdlib(tmp_path / "src", ["shlex.py"])
    home = tmp_path / "home"
    build_index("u", [str(corpus)], home)
    source = corpus / "shlex.py"
    old_chunks = chunk_text(str(source), source.read_text())
    old = Index(home, "u")
    old_vectors = {row[0]: np.asarray(old.vectors[i]).tobytes()
                   for i, row in enumerate(old.db.execute("SELECT hash FROM items ORDER BY id"))}
    old.close()

    text = source.read_text().replace("def quote(s):", "def quote(s):\n    # the one change\n", 1)
    text += "\n\ndef shout(words):\n    \"\"\"Upper-case every word.\"\"\"\n    return [w.upper() for w in words]\n"
    source.write_text(text)
    new_chunks = chunk_text(str(source), text)
    old_hashes = {embed_hash(c, "summarised-v1") for c in old_chunks}
    expected = {t for c in new_chunks if embed_hash(c, "summarised-v1") not in old_hashes
                for t in embed_texts(c, "summarised-v1")}
    assert len(expected) >= 3  # quote's code and summary, shout's code and summary (+ a moved window)

    import embedsearch.encoding as encoding

    real = encoding.resolve_encoder
    asked: list[str] = []

    def spying(*args, **kwargs):
        encoder = real(*args, **kwargs)
        original = encoder.encode

        def encode(texts, *a, **kw):
            asked.extend(texts)
            return original(texts, *a, **kw)

        encoder.encode = encode
        return encoder

    encoding.resolve_encoder = spying
    try:
        summary = build_index("u", None, home)
    finally:
        encoding.resolve_encoder = real
    assert sorted(asked) == sorted(expected) and summary.texts_embedded == len(expected)
    index = Index(home, "u")
    try:
        rows = index.db.execute("SELECT hash FROM items ORDER BY id").fetchall()
        kept = [(i, h) for i, (h,) in enumerate(rows) if h in old_vectors]
        assert len(kept) == len(rows) - summary.embedded
        assert all(np.asarray(index.vectors[i]).tobytes() == old_vectors[h] for i, h in kept)
    finally:
        index.close()

    source.write_text(text + "\n\ndef whisper(words):\n    return [w.lower() for w in words]\n")
    code = ("import sys\nfrom pathlib import Path\nfrom embedsearch.codeindex.indexing import build_index\n"
            f"s = build_index('u', None, Path({str(home)!r}))\n"
            "print('EMBEDDED', s.embedded, 'TORCH', 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "EMBEDDED 1 TORCH False" in out.stdout, out.stdout + out.stderr
