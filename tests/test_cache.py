"""`embedsearch cache`: what can be made again is listed and cleared, and is made again
when next needed; what is the only copy of something is never touched. Downloads
(MovieLens, word benchmarks) are checked against their digests."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading

import numpy as np
import pytest

from tests.conftest import SHARED_DATA


def rows(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_cache_lists_and_clears_only_what_can_be_made_again(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("EMBEDSEARCH_DATA", str(tmp_path / "data"))
    home = tmp_path / "home"
    words = tmp_path / "words.txt"
    words.write_text("apple 1 0 0\npear 0.9 0.1 0\ncat 0 0 1\ndog 0 0.1 0.9\n")
    gone = tmp_path / "gone.txt"
    gone.write_text("x 1 0\ny 0 1\nz 1 1\n")
    for name, path in (("w", words), ("g", gone)):
        assert cli("--home", home, "tables", "add", name, path).exit_code == 0
    gone.unlink()  # its rows under the home are now the only copy
    assert cli("--home", home, "neighbours", "w", "apple", "-k", "1").exit_code == 0  # builds a graph
    (home / ".cache" / "onnx" / "abc123").mkdir(parents=True)  # an export (incomplete: no encoder.json)
    (home / ".cache" / "onnx" / "abc123" / "model.onnx").write_bytes(b"x" * 1000)
    (tmp_path / "data" / "word-benchmarks").mkdir(parents=True)
    (tmp_path / "data" / "word-benchmarks" / "simlex999.txt").write_text("old new 1.58\n")
    listed = rows(cli("--home", home, "cache", "--json"))
    assert {(r["kind"], r["name"]) for r in listed} == {
        ("onnx", "(incomplete) (abc123)"), ("table-graph", "w"), ("table-rows", "w"), ("dataset", "word-benchmarks")}
    assert all(r["bytes_on_disk"] > 0 for r in listed)
    [graph] = (home / ".tables" / "w").glob("hnsw-*.bin")
    assert next(r for r in listed if r["kind"] == "table-graph")["bytes_on_disk"] >= graph.stat().st_size
    r = cli("--home", home, "cache")
    assert r.exit_code == 0 and "4 entries" in r.output and max(map(len, r.output.splitlines())) <= 80
    only = rows(cli("--home", home, "cache", "clear", "--kind", "table-graph", "--json"))
    assert [x["kind"] for x in only] == ["table-graph"] and not list((home / ".tables" / "w").glob("hnsw*"))
    removed = rows(cli("--home", home, "cache", "clear", "--json"))
    assert {x["kind"] for x in removed} == {"onnx", "table-rows", "dataset"}
    assert not (home / ".tables" / "w").exists() and not (home / ".cache" / "onnx" / "abc123").exists()
    assert (home / ".tables" / "g" / "vectors.npy").is_file()  # the only copy of g's rows stays
    got = rows(cli("--home", home, "neighbours", "w", "apple", "-k", "1", "--json"))
    assert got[0]["key"] == "pear"  # made again from the file
    assert rows(cli("--home", home, "lookup", "g", "z", "--json"))[0]["vector"] == [1.0, 1.0]
    assert rows(cli("--home", home, "cache", "--kind", "dataset", "--json")) == []


@pytest.fixture
def served(tmp_path):
    """A local web server over a folder: what a download reaches, without a network."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_word_benchmarks_are_downloaded_once_and_digest_checked(tmp_path, served, monkeypatch):
    import embedsearch.downloads as downloads
    from embedsearch.errors import EmbedsearchError

    root, url = served
    monkeypatch.delenv("EMBEDSEARCH_WORD_BENCHMARKS", raising=False)
    monkeypatch.setenv("EMBEDSEARCH_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(downloads, "GENSIM_DATA", url)
    shutil.copy(SHARED_DATA / "word-benchmarks" / "wordsim353.tsv", root / "wordsim353.tsv")
    path = downloads.word_benchmark("wordsim353.tsv", "--pairs")
    assert path == tmp_path / "data" / "word-benchmarks" / "wordsim353.tsv"
    assert path.read_bytes() == (SHARED_DATA / "word-benchmarks" / "wordsim353.tsv").read_bytes()
    (root / "wordsim353.tsv").unlink()
    assert downloads.word_benchmark("wordsim353.tsv", "--pairs") == path  # kept: no second download
    (root / "simlex999.txt").write_text("tampered 1 2\n")
    with pytest.raises(EmbedsearchError, match="simlex999.txt failed its digest check"):
        downloads.word_benchmark("simlex999.txt", "--pairs")
    with pytest.raises(EmbedsearchError, match="could not download questions-words.txt.*--questions"):
        downloads.word_benchmark("questions-words.txt", "--questions")
    assert not (tmp_path / "data" / "word-benchmarks" / "simlex999.txt").exists()


def test_movielens_download_checks_its_digest(tmp_path, served, monkeypatch):
    import embedsearch.cf.data as data
    from embedsearch.errors import EmbedsearchError

    root, url = served
    (root / "ml-100k.zip").write_bytes(b"not the archive")
    monkeypatch.setattr(data, "ML100K_URL", f"{url}/ml-100k.zip")
    with pytest.raises(EmbedsearchError, match="MovieLens 100K archive failed its digest check"):
        data.fetch_ml100k(tmp_path / "data")
    np.testing.assert_equal(sorted(p.name for p in (tmp_path / "data").glob("*.zip")), [])
