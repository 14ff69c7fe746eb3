"""Maps between tables (linmap), the CF-language bridge (`cf bridge`, new movies in
`cf recommend` and `cf similar`), `compare`'s R² and `align`.

The maps are checked against definitions on synthetic rows; the bridge end to end on
MovieLens 100K with the packaged encoder, including the claim it exists for: movies held
out with all their ratings are predicted better from their text than by the user's mean."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_DATA

ML100K = SHARED_DATA / "ml-100k"
FAST = ["--epochs", "3", "--bs", "512", "--lr", "0.02", "--wd", "0.2"]


def jsons(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


# ------------------------------------------------------------------ linmap


def test_ridge_recovers_a_linear_map_and_its_cv_r2_is_honest():
    from embedsearch.linmap import cross_validated, fit_ridge, r2_scores

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 30))
    w = rng.normal(size=(30, 8))
    y = x @ w + 3.0 + 0.1 * rng.normal(size=(400, 8))
    f = fit_ridge(x, y)
    assert f.cv_r2 > 0.99
    assert np.abs(f(x[:5]) - (x[:5] @ w + 3.0)).max() < 0.1
    # pure noise: a map fitted without each row explains nothing of it (no leak through the penalty choice)
    noise = rng.normal(size=(400, 8))
    overall, per = r2_scores(cross_validated(x, noise), noise)
    assert overall < 0.02 and per.shape == (8,)


def test_a_weight_of_two_is_the_row_twice():
    from embedsearch.linmap import fit_ridge

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(60, 5)), rng.normal(size=(60, 2))
    weights = np.ones(60)
    weights[:10] = 2.0
    weighted = fit_ridge(x, y, penalties=(0.5,), weights=weights)
    repeated = fit_ridge(np.vstack([x, x[:10]]), np.vstack([y, y[:10]]), penalties=(0.5,))
    # the penalty is relative to the mean eigenvalue, which the repetition and the weights scale alike
    assert np.allclose(weighted.weight, repeated.weight, atol=1e-8)
    assert np.allclose(weighted(x), repeated(x), atol=1e-8)


def test_procrustes_finds_a_rotation_exactly():
    from embedsearch.linmap import fit_procrustes

    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 16))
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    f = fit_procrustes(x, x @ q)
    assert np.allclose(f.weight, q, atol=1e-8)
    assert np.allclose(f.weight.T @ f.weight, np.eye(16), atol=1e-8)


# ------------------------------------------------------------------ align


def test_align_finds_a_rotated_copy_and_not_noise(glove_rows):
    from embedsearch.tables.align import align
    from embedsearch.tables.base import Table

    keys, vecs = glove_rows
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(50, 50)))
    a = Table("a", keys, vecs, "glove")
    rotated = Table("b", keys, (vecs @ q).astype(np.float32), "rotated glove")
    noise = Table("c", keys, rng.normal(size=vecs.shape).astype(np.float32), "noise")
    found = align(a, rotated, ["king"], k=3)
    assert found.precision["procrustes"]["precision_at_1"] > 0.99
    assert found.precision["ridge"]["precision_at_1"] > 0.95
    assert found.translations["king"]["procrustes"][0]["key"] == "king"
    lost = align(a, noise)
    assert lost.precision["procrustes"]["precision_at_10"] < 0.05  # chance is 10 in 1,000


@pytest.fixture(scope="module")
def glove_rows():
    from embedsearch.tables import glove

    t = glove.load()
    return t.keys[:1000], np.asarray(t.vectors[:1000], dtype=np.float32)


def test_align_cli_on_glove_and_the_encoders_token_table(cli, home):
    out = jsons(cli("align", "glove-6B-50d", "minilm-tokens", "--key", "paris", "--max-keys", "3000", "-k", "5",
                    "--json"))[0]
    assert out["shared_keys"] > 15_000 and out["keys_used"] == 3000 and out["test_keys"] == 600
    for m in ("procrustes", "ridge"):
        # two unrelated training objectives, yet a linear map finds the same word far above chance
        assert out["maps"][m]["precision_at_10"] > 100 * out["chance_at_1"]
        assert len(out["translations"]["paris"][m]) == 5
    text = cli("align", "glove-6B-50d", "minilm-tokens", "--max-keys", "500", "--map", "procrustes")
    assert text.exit_code == 0 and "precision@1" in text.output
    assert max(len(line) for line in text.output.splitlines()) <= 80
    bad = cli("align", "glove-6B-50d", "glove-6B-5d")
    assert bad.exit_code == 1 and "did you mean 'glove-6B-50d'" in bad.output


# ------------------------------------------------------------------ compare's R²


def test_compare_r2_reads_a_linear_relation_each_way():
    from embedsearch.tables.base import Table
    from embedsearch.tables.compare import compare_tables

    rng = np.random.default_rng(4)
    keys = [f"k{i}" for i in range(300)]
    x = rng.normal(size=(300, 12)).astype(np.float32)
    m = rng.normal(size=(12, 6)).astype(np.float32)
    a, b = Table("a", keys, x, "x"), Table("b", keys, x @ m, "x m")
    c = Table("c", keys, rng.normal(size=(300, 6)).astype(np.float32), "noise")
    pairs = {(p.a, p.b): p for p in compare_tables([a, b, c], k=5).pairs}
    ab = pairs[("a", "b")]
    assert ab.r2_a_to_b > 0.99  # b is a linear function of a
    assert 0.2 < ab.r2_b_to_a < 0.9  # 6 columns explain part of 12
    assert len(ab.r2_per_dim_a_to_b) == 6 and len(ab.r2_per_dim_b_to_a) == 12
    assert pairs[("a", "c")].r2_a_to_b < 0.05


# ------------------------------------------------------------------ the bridge, end to end


@pytest.fixture(scope="module")
def bridged(tmp_path_factory) -> Path:
    """A home with an ml-100k model trained briefly and a bridge from movies-minilm."""
    from click.testing import CliRunner

    from embedsearch.cli import main

    home = tmp_path_factory.mktemp("bridge")
    run = lambda *a: CliRunner().invoke(main, ["--home", str(home), *a], catch_exceptions=False)  # noqa: E731
    assert run("cf", "train", "--data", str(ML100K), *FAST, "--json").exit_code == 0
    res = run("cf", "bridge", "--json")
    out = jsons(res)[0]
    assert out["table"] == "movies-minilm" and out["movies"] > 900 and out["factors"] == 50
    assert out["cv_r2_bias"] > 0.1  # how liked a movie is shows in its title and genres
    assert len(out["cv_r2_per_factor"]) == 50
    return home


def test_new_movies_are_recommended_and_placed(cli, bridged, monkeypatch):
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(bridged))
    new = "Galaxy Rangers (2026)|Sci-Fi|Action"
    out = jsons(cli("cf", "recommend", "--user", "42", "-k", "3", "--include-new", new,
                    "--include-new", "Quiet Hearts (2026)|romance|DRAMA", "--json"))[0]
    placed = {r["title"]: r for r in out["new_items"]}
    assert set(placed) == {"Galaxy Rangers (2026)", "Quiet Hearts (2026)"}
    assert all(1 <= r["rank"] <= out["candidates"] and 0 < r["predicted"] < 5.5 for r in placed.values())
    from embedsearch.cf.saved import load_model

    saved = load_model(bridged)
    assert out["candidates"] == 1664 - len(saved.rated_by(saved.user_keys.index("42"))) + 2
    text = cli("cf", "recommend", "--user", "42", "-k", "3", "--include-new", new)
    assert text.exit_code == 0 and "new: Galaxy Rangers (2026) ranks" in text.output
    sim = jsons(cli("cf", "similar", new, "-k", "10", "--json"))[0]
    assert sim["new"] is True and sim["query"] == "Galaxy Rangers (2026)" and len(sim["results"]) == 10
    # a new movie described like a known one lands near where the model learned that one
    star = jsons(cli("cf", "similar", "Star Wars (1978)|Action|Adventure|Romance|Sci-Fi|War", "-k", "50",
                     "--min-ratings", "0", "--json"))[0]
    assert star["new"] is True and "Star Wars (1977)" in [r["title"] for r in star["results"]]


def test_bad_descriptions_and_missing_bridges_are_one_line(cli, bridged, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(bridged))
    r = cli("cf", "similar", "Nothing (2026)|Comdy")
    assert r.exit_code == 1 and "unknown genre 'Comdy'" in r.output and "did you mean 'Comedy'" in r.output
    r = cli("cf", "recommend", "--user", "1", "--include-new", "|Drama")
    assert r.exit_code == 1 and "Title (Year)|Genre" in r.output
    r = cli("cf", "similar", "Nothing (2026)|Drama", "--bridge", "movies-glov")
    assert r.exit_code == 1 and "did you mean 'movies-minilm'" in r.output
    r = cli("cf", "bridge", "--table", "movies-nothing")
    assert r.exit_code == 1 and "unknown table" in r.output
    other = tmp_path / "other"
    from click.testing import CliRunner

    from embedsearch.cli import main

    CliRunner().invoke(main, ["--home", str(other), "cf", "train", "--data", str(ML100K), *FAST, "--json"])
    r = cli("--home", str(other), "cf", "similar", "Nothing (2026)|Drama")
    assert r.exit_code == 1 and "has no bridge" in r.output and "embedsearch cf bridge" in r.output


def test_retraining_drops_the_bridge_and_an_interrupted_bridge_write_keeps_the_model(bridged, tmp_path, monkeypatch):
    import shutil

    from embedsearch.cf import bridge as bridge_mod
    from embedsearch.cf.saved import load_model
    from embedsearch.cf.train import TrainOptions
    from embedsearch.cf.workflow import TrainRequest, train_and_save
    from embedsearch.errors import EmbedsearchError

    home = tmp_path / "home"
    shutil.copytree(bridged, home)
    before = load_model(home, "movielens")
    assert "movies-minilm" in before.manifest["bridges"]

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bridge_mod.np, "savez", broken)
    with pytest.raises(OSError):
        bridge_mod.fit_bridge(home, "movielens", "movies-glove")
    monkeypatch.undo()
    after = load_model(home, "movielens")  # the previous model and its bridge, untouched
    assert set(after.manifest["bridges"]) == {"movies-minilm"}
    assert np.array_equal(after.item_factors(), before.item_factors())
    assert not [p for p in home.iterdir() if ".tmp" in p.name or ".old" in p.name]
    train_and_save(home, TrainRequest(data=str(ML100K), options=TrainOptions(epochs=1, bs=1024, factors=8)))
    with pytest.raises(EmbedsearchError, match="has no bridge"):
        bridge_mod.load_bridge(load_model(home, "movielens"))


def test_held_out_movies_are_predicted_from_text_better_than_by_user_means(bridged):
    """Item cold start in miniature (bench/cold_start.py measures it properly): hold out 15%
    of the movies with all their ratings, train on the rest, place them through the bridge."""
    from embedsearch.cf.bridge import cf_targets, fit_map, score, split_targets
    from embedsearch.cf.data import load_dataset
    from embedsearch.cf.metrics import rmse
    from embedsearch.cf.train import TrainOptions, fit
    from embedsearch.tables.registry import open_table

    ds = load_dataset(ML100K)
    r = ds.ratings
    n_items = len(r.item_keys)
    held = np.zeros(n_items, dtype=bool)
    held[np.random.default_rng(7).choice(n_items, size=n_items * 15 // 100, replace=False)] = True
    train, test = r.subset(~held[r.items]), r.subset(held[r.items])
    model = fit(train, None, TrainOptions(epochs=3, bs=512, lr=0.02, wd=0.2), top_n=False).model
    weights = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    lang = open_table(bridged, "movies-minilm")  # made by the fixture's `cf bridge`
    counts = np.bincount(train.items, minlength=n_items)
    fit_rows = [i for i in range(n_items) if not held[i] and counts[i] >= 10]
    f = fit_map(lang.vectors[[lang.rows[r.item_keys[i]] for i in fit_rows]],
                cf_targets(weights["item_factors.weight"][fit_rows], weights["item_bias.weight"][fit_rows, 0]),
                weights=counts[fit_rows].astype(float))
    q, b = split_targets(f(lang.vectors[[lang.rows[k] for k in r.item_keys]]), True)
    pred = score(weights["user_factors.weight"], weights["user_bias.weight"][:, 0], q, b, (0.0, 5.5))
    known = np.bincount(train.users, minlength=len(r.user_keys)) > 0
    test = test.subset(known[test.users])
    user_mean = np.bincount(train.users, train.ratings, len(r.user_keys)) / np.maximum(
        np.bincount(train.users, minlength=len(r.user_keys)), 1)
    bridged_rmse = rmse(pred[test.users, test.items], test.ratings)
    mean_rmse = rmse(user_mean[test.users], test.ratings)
    assert bridged_rmse < mean_rmse - 0.01, (bridged_rmse, mean_rmse)


def test_a_relative_ratings_folder_is_recorded_where_it_is(monkeypatch):
    """A model records its MovieLens folder; `cf bridge` and `compare` read u.item from it
    later, from another working directory, so it must be absolute."""
    from embedsearch.cf.data import load_dataset

    monkeypatch.chdir(ML100K.parent)
    ds = load_dataset("./ml-100k")
    assert ds.source == str(ML100K.resolve())


def test_known_movies_twice_given_damaged_bridges_and_description_files(cli, bridged, tmp_path, monkeypatch):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(bridged, home)
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(home))
    r = cli("cf", "recommend", "--user", "42", "--include-new", "Star Wars (1977)|Sci-Fi")
    assert r.exit_code == 1 and "already a movie of model 'movielens'" in r.output
    r = cli("cf", "recommend", "--user", "42", "--include-new", "Twice (2026)|Drama", "--include-new", "Twice (2026)")
    assert r.exit_code == 1 and "given twice" in r.output
    r = cli("cf", "similar", "Odd (2026)|unknown")
    assert r.exit_code == 1 and "unknown genre 'unknown'" in r.output
    listing = tmp_path / "new.txt"
    listing.write_bytes("\ufeffFirst (2026)|Comedy\n\n   # a comment, indented\nSecond (2026)|drama|Comedy\n"
                        .encode("utf-8"))
    out = jsons(cli("cf", "recommend", "--user", "42", "-k", "1", "--new-file", listing, "--json"))[0]
    assert sorted(r["title"] for r in out["new_items"]) == ["First (2026)", "Second (2026)"]
    listing.write_bytes(b"Caf\xe9 (2026)|Drama\n")
    r = cli("cf", "recommend", "--user", "42", "--new-file", listing)
    assert r.exit_code == 1 and "is not UTF-8 text" in r.output
    # genres in any order or case place a movie the same way (the table's own order is used)
    a = jsons(cli("cf", "similar", "X (2026)|Comedy|Animation", "--json"))[0]
    b = jsons(cli("cf", "similar", "X (2026)|animation|comedy|Comedy", "--json"))[0]
    assert a["results"] == b["results"]
    (home / "movielens" / "bridge-movies-minilm.npz").write_bytes(b"PK\x03\x04 truncated")
    r = cli("cf", "similar", "X (2026)|Comedy")
    assert r.exit_code == 1 and "is damaged" in r.output and "--name movielens" in r.output
    assert "internal error" not in r.output


def test_align_and_compare_refuse_impossible_sizes(cli, bridged, monkeypatch):
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(bridged))
    r = cli("align", "movies-minilm", "movielens-items", "--test-share", "0.99")
    assert r.exit_code == 1 and "--test-share 0.99" in r.output and "leave at least 20" in r.output
    r = cli("align", "movies-minilm", "movielens-items", "--key", "Star Warz (1977)")
    assert r.exit_code == 1 and "unknown key" in r.output
    r = cli("compare", "movies-minilm", "movielens-items", "--no-picture", "--max-keys", "5")
    assert r.exit_code == 1 and "--max-keys 5 leaves 5" in r.output
    r = cli("compare", "movies-minilm", "movielens-items", "--no-picture", "--max-keys", "300")
    assert r.exit_code == 0 and max(len(line) for line in r.output.splitlines()) <= 80
