"""The query adapter (codeindex/adapter.py): found by the index it is for, used by every
plain-English search of such an index, and by nothing else."""

from __future__ import annotations

import numpy as np

from embedsearch.codeindex.adapter import ADAPTERS, adapt_queries, adapter_path
from embedsearch.codeindex.representation import NAMED, PLAIN
from embedsearch.codeindex.search import query_encoder, query_vectors, search_index, similar_in
from embedsearch.codeindex.store import Index


def _with(manifest: dict, **options) -> dict:
    return {**manifest, "options": {**manifest["options"], **options}}


def test_the_default_index_of_the_packaged_encoder_has_one_and_others_have_none(stdlib_index):
    home, name, _ = stdlib_index
    with Index(home, name) as index:
        manifest = index.manifest
    path = adapter_path(manifest)
    assert path is not None and path.stat().st_size < 400_000  # float16 (384, 384): ships in the package
    W = np.load(path)
    assert W.shape == (384, 384) and np.isfinite(W).all()
    assert adapter_path(_with(manifest, representation=PLAIN)) is None  # the baseline stays plain cosine
    assert adapter_path(_with(manifest, representation=NAMED)) is None
    other = {**manifest, "encoder": {**manifest["encoder"], "digest": "0" * 32}}
    assert adapter_path(other) is None  # other weights under the same name: not what it was fit for
    assert adapter_path({}) is None and adapter_path({"encoder": None, "options": None}) is None


def test_adapted_vectors_are_unit_rows_and_change_the_query():
    manifest_path = sorted(ADAPTERS.glob("*.npy"))[0]
    digest, representation = manifest_path.stem.split("-", 1)
    manifest = {"encoder": {"digest": digest}, "options": {"representation": representation}}
    rng = np.random.default_rng(0)
    q = rng.normal(size=(3, 384)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    out = adapt_queries(manifest, q)
    assert out.shape == (3, 384) and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    assert not np.allclose(out, q, atol=1e-3)
    assert adapt_queries(_with(manifest, representation=PLAIN), q) is q


def test_search_scores_with_the_adapted_query_and_similar_text_with_the_plain_one(stdlib_index):
    """A hit's cosine is the adapted question's cosine with the stored vector; a code snippet
    (`similar --text`) is compared as it is, since the adapter maps task words to code."""
    home, name, _ = stdlib_index
    with Index(home, name) as index:
        encoder = query_encoder(index)
        question = "remove a directory tree recursively"
        adapted = query_vectors(index, encoder, [question])[0]
        plain = encoder.encode([question])[0]
        assert not np.allclose(adapted, plain, atol=1e-3)
        hits = search_index(index, encoder, question, k=5, exact=True, lexical_weight=0.0)[0]
        stored = np.asarray(index.vectors)[[h.id for h in hits]]
        assert np.allclose([h.cosine for h in hits], stored @ adapted, atol=1e-4)
        assert hits[0].name == "rmtree"
        snippet = "def remove(path):\n    shutil.rmtree(path)"
        _, similar = similar_in(index, text=snippet, k=3, exact=True, encoder=encoder)
        raw = encoder.encode([snippet])[0]
        assert np.allclose([h.score for h in similar], np.asarray(index.vectors)[[h.id for h in similar]] @ raw,
                           atol=1e-4)
