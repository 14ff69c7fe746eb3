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


def test_records_and_prose_are_searched_with_plain_query_vectors(tmp_path):
    """The adapter was fit (and measured) on code only, like the re-ranker: an index of
    records has the default representation but no definitions, so its queries stay plain."""
    from embedsearch.codeindex.indexing import build_index

    src = tmp_path / "faq.jsonl"
    src.write_text('{"text": "How do I reset my password?"}\n{"text": "Shipping takes three days."}\n')
    build_index("faq", [str(src)], tmp_path / "home")
    with Index(tmp_path / "home", "faq") as index:
        assert adapter_path(index.manifest) is not None and not index.has_definitions()
        encoder = query_encoder(index)
        question = "forgot my login"
        assert np.array_equal(query_vectors(index, encoder, [question]), encoder.encode([question]))
        hits = search_index(index, encoder, question, k=1, exact=True)[0]
        assert hits[0].text.startswith("How do I reset")


def test_a_damaged_adapter_file_is_an_error_that_names_it(stdlib_index, cli, tmp_path, monkeypatch):
    """The adapter is the package's own data: a truncated, garbled or wrong-sized copy stops
    the search with one line that names the file and says how to restore it, never a
    traceback and never a silently different ranking."""
    import embedsearch.codeindex.adapter as adapter

    home, name, _ = stdlib_index
    with Index(home, name) as index:
        shipped = adapter_path(index.manifest)
    damaged = tmp_path / "adapters"
    damaged.mkdir()
    monkeypatch.setattr(adapter, "ADAPTERS", damaged)
    for content in (shipped.read_bytes()[:1000], "nan", "size"):
        if content == "nan":  # readable, but not numbers a search can use
            np.save(damaged / shipped.name, np.full((384, 384), np.nan, dtype=np.float16))
        elif content == "size":  # a finite square map, but not for this encoder's 384 dimensions
            np.save(damaged / shipped.name, np.eye(256, dtype=np.float16))
        else:
            (damaged / shipped.name).write_bytes(content)
        adapter._load.cache_clear()
        try:
            r = cli("--home", home, "search", name, "remove a directory tree")
        finally:
            adapter._load.cache_clear()
        assert r.exit_code == 1, r.output
        assert "query adapter" in r.output and shipped.name in r.output and "reinstall" in r.output
        assert content != "size" or "256 x 256" in r.output  # the size check, not a load error
        assert "Traceback" not in r.output
