"""`cf train --engine spark`: Spark ML's ALS in local mode (a real Spark, Java 17), its
metrics computed on Spark checked against the saved factors, and the saved model used by
the ordinary cf commands; implicit preferences; malformed input refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests import cf_synthetic
from tests.conftest import SHARED_DATA

pytest.importorskip("pyspark")
ML100K = SHARED_DATA / "ml-100k"


def jsons(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip().startswith("{")]


@pytest.fixture(scope="module")
def als_home(tmp_path_factory):
    from click.testing import CliRunner

    from embedsearch.cli import main

    from embedsearch.cf import spark

    home = tmp_path_factory.mktemp("spark") / "home"
    kept, spark.PAIRS_CHUNK = spark.PAIRS_CHUNK, 30_000  # the rated pairs come to the driver in 4 pieces
    try:
        res = CliRunner().invoke(main, ["--home", str(home), "cf", "train", "--engine", "spark", "--data",
                                        str(ML100K), "--split", "u1", "--factors", "10", "--epochs", "5", "--name",
                                        "als", "--json"])
    finally:
        spark.PAIRS_CHUNK = kept
    report = jsons(res)[0]
    return home, report


def test_als_metrics_are_the_saved_models(als_home):
    """The RMSE Spark computed on u1.test is the RMSE of the factors saved in the home."""
    from embedsearch.cf.data import load_dataset
    from embedsearch.cf.metrics import rmse
    from embedsearch.cf.saved import load_model

    home, report = als_home
    m = report["metrics"]
    assert report["engine"] == "spark" and report["split"] == "official u1"
    assert 0.85 < m["rmse"] < 1.0 and m["rmse"] < m["global_mean_rmse"] - 0.15
    assert 0 < m["ndcg_at_k"] < 1 and 0 < m["precision_at_k"] < 1 and m["users"] > 400
    saved = load_model(home, "als")
    assert saved.kind == "bias" and saved.manifest["options"]["engine"] == "spark"
    assert saved.model.y_range is None  # linear: mean + biases + factors, as ALS was fitted
    train, test = load_dataset(ML100K).fold("u1")
    seen_users, seen_items = set(train.users.tolist()), set(train.items.tolist())
    keep = np.array([u in seen_users and i in seen_items for u, i in zip(test.users, test.items)])
    # the saved model keys rows by the same titles, so map through the keys
    urow = {k: n for n, k in enumerate(saved.user_keys)}
    irow = {k: n for n, k in enumerate(saved.item_keys)}
    users = np.array([urow[test.user_keys[u]] for u in test.users[keep]])
    items = np.array([irow[test.item_keys[i]] for i in test.items[keep]])
    p = saved.model.user_factors.weight.detach().numpy()[users]
    q = saved.model.item_factors.weight.detach().numpy()[items]
    bu = saved.model.user_bias.weight.detach().numpy()[users, 0]
    bi = saved.model.item_bias.weight.detach().numpy()[items, 0]
    assert abs(rmse((p * q).sum(axis=1) + bu + bi, test.ratings[keep]) - m["rmse"]) < 1e-3
    assert m["cold_start_dropped"] == int((~keep).sum())
    # rated.npz, written from Spark in pieces, holds every rating once
    from collections import Counter

    everything = load_dataset(ML100K).ratings
    assert len(saved.rated_users) == report["n_ratings"] == len(everything) == 100_000
    assert Counter(zip((saved.user_keys[u] for u in saved.rated_users), (saved.item_keys[i] for i in saved.rated_items))) \
        == Counter(zip((everything.user_keys[u] for u in everything.users), (everything.item_keys[i] for i in everything.items)))
    assert int(saved.item_counts.sum()) == 100_000


def test_the_ordinary_cf_commands_use_an_als_model(cli, als_home):
    home, _ = als_home
    rec = jsons(cli("--home", home, "cf", "recommend", "--user", "42", "-k", "5", "--name", "als", "--json"))[0]
    assert len(rec["results"]) == 5
    sim = jsons(cli("--home", home, "cf", "similar", "Star Wars (1977)", "-k", "5", "--name", "als", "--json"))[0]
    assert {"Return of the Jedi (1983)", "Empire Strikes Back, The (1980)"} & {r["title"] for r in sim["results"]}
    look = jsons(cli("--home", home, "lookup", "als-items", "Toy Story (1995)", "--json"))[0]
    assert look["dim"] == 10 and look["one_hot_equal"]
    worst = jsons(cli("--home", home, "cf", "biases", "--name", "als", "--json"))[0]
    assert worst["lowest"][0]["bias"] < 3 < worst["highest"][0]["bias"]  # the global mean is in the item biases
    folded = jsons(cli("--home", home, "cf", "recommend", "--rate", "Star Wars (1977)=5",
                       "--rate", "Return of the Jedi (1983)=5", "-k", "3", "--name", "als", "--json"))[0]
    assert len(folded["results"]) == 3 and all(1 < r["predicted"] < 6 for r in folded["results"])


def test_implicit_als_ranks_the_groups_of_a_synthetic_matrix(tmp_path, cli):
    """Play counts: each user plays items of the one or two groups they like, so who played
    what carries the groups, and implicit ALS must put an item's neighbours in its group."""
    _, items, _, groups = cf_synthetic.write(tmp_path / "data")
    rng = np.random.default_rng(3)
    lines = ["user,item,plays"]
    for u in range(cf_synthetic.USERS):
        liked = rng.choice(cf_synthetic.GROUPS, size=rng.integers(1, 3), replace=False)
        for i in np.flatnonzero(np.isin(groups, liked)):
            if rng.random() < 0.7:
                lines.append(f"u{u},i{i},{rng.integers(1, 6)}")
    plays = tmp_path / "plays.csv"
    plays.write_text("\n".join(lines) + "\n")
    out = jsons(cli("--home", tmp_path / "home", "cf", "train", "--engine", "spark", "--implicit", "--data", plays,
                    "--items", items, "--factors", "4", "--epochs", "10", "--name", "imp", "--json"))[0]
    assert "rmse" not in out["metrics"] and out["metrics"]["ndcg_at_k"] > 0
    assert out["options"]["implicit"] is True
    sim = jsons(cli("--home", tmp_path / "home", "cf", "similar", "Movie 0-0 (2000)", "-k", "5",
                    "--min-ratings", "0", "--name", "imp", "--json"))[0]
    assert sum(r["title"].startswith("Movie 0-") for r in sim["results"]) >= 4  # its own group


def test_malformed_ratings_and_torch_options_are_refused(tmp_path, cli):
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,10,4\n2,11,five\n3,12,9\n")
    r = cli("--home", tmp_path / "home", "cf", "train", "--engine", "spark", "--data", bad)
    assert r.exit_code == 1 and "malformed ratings" in r.output and "2 rows" in r.output and "'five'" in r.output
    assert not (tmp_path / "home" / "movielens").exists()
    r = cli("--home", tmp_path / "home", "cf", "train", "--engine", "spark", "--lr", "0.1", "--data", bad)
    assert r.exit_code == 2 and "--lr belong to --engine torch" in r.output
    r = cli("--home", tmp_path / "home", "cf", "train", "--implicit", "--data", bad)
    assert r.exit_code == 2 and "--implicit belong to --engine spark" in r.output
    r = cli("--home", tmp_path / "home", "cf", "train", "--engine", "spark", "--model", "nn", "--data", bad)
    assert r.exit_code == 2 and "--model nn belongs to --engine torch" in r.output
    r = cli("--home", tmp_path / "home", "cf", "train", "--engine", "spark", "--implicit", "--model", "bias",
            "--data", bad)
    assert r.exit_code == 2 and "biases of counts are not ratings" in r.output
    r = cli("--home", tmp_path / "home", "cf", "train", "--bias-reg", "3", "--data", bad)
    assert r.exit_code == 2 and "--bias-reg belong to --engine spark" in r.output
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"userId": [1, 2], "movieId": [3, 4], "stars": [4.0, 5.0]}), tmp_path / "r.parquet")
    r = cli("--home", tmp_path / "home", "cf", "train", "--engine", "spark", "--data", tmp_path / "r.parquet")
    assert r.exit_code == 1 and "needs columns user, item and rating" in r.output and "userId" in r.output


def test_no_java_is_one_line(tmp_path):
    """JAVA_HOME naming no Java (Spark's launcher takes it over the PATH): one line, no traceback."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java")}
    r = subprocess.run([sys.executable, "-m", "embedsearch", "--home", str(tmp_path / "home"), "cf", "train",
                        "--engine", "spark", "--data", str(ML100K)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 1 and "Spark could not start Java" in r.stderr and "Traceback" not in r.stderr


def test_index_on_spark_matches_a_local_index_and_rereads_only_changes(tmp_path, cli):
    """Chunks encoded on Spark's executors make the same index as `index` here; a re-run
    encodes nothing when nothing changed, and only the chunks the dataset lacks when a file
    was added; --from-parquet builds it on another home."""
    import textwrap

    src = tmp_path / "src"
    src.mkdir()
    (src / "geometry.py").write_text(textwrap.dedent('''
        def circle_area(radius):
            """Area of a circle of the given radius."""
            return 3.14159 * radius * radius


        def rectangle_area(width, height):
            """Area of a rectangle."""
            return width * height
        '''))
    (src / "notes.md").write_text("# Units\n\nAll lengths are in metres.\n\n# Rounding\n\nRound areas to cm².\n")
    home, ds = tmp_path / "home", tmp_path / "dataset"
    first = jsons(cli("--home", home, "index", src, "--name", "spark-geo", "--engine", "spark", "--out", ds,
                      "--json"))[0]
    assert first["chunks"] == first["embedded"] >= 4 and first["reused"] == 0 and (ds / "_embedsearch.json").exists()
    cli("--home", home, "index", src, "--name", "local-geo")
    q = "how big is a round shape"
    spark_hits = jsons(cli("--home", home, "search", "spark-geo", q, "-k", "3", "--json"))
    local_hits = jsons(cli("--home", home, "search", "local-geo", q, "-k", "3", "--json"))
    assert [(h["path"], h["name"]) for h in spark_hits] == [(h["path"], h["name"]) for h in local_hits]
    assert spark_hits[0]["name"] == "circle_area"
    from embedsearch.codeindex.store import Index

    with Index(home, "spark-geo") as a, Index(home, "local-geo") as b:
        order = lambda ix: {(i.path, i.start_line): n for n, i in enumerate(ix.items(list(range(ix.count))))}  # noqa: E731
        oa, ob = order(a), order(b)
        assert set(oa) == set(ob)
        va, vb = np.asarray(a.vectors), np.asarray(b.vectors)
        assert max(float(np.abs(va[oa[k]] - vb[ob[k]]).max()) for k in oa) < 1e-4
    same = jsons(cli("--home", home, "index", src, "--name", "spark-geo", "--engine", "spark", "--out", ds,
                     "--json"))[0]
    assert same["embedded"] == 0 and same["reused"] == same["chunks"] == first["chunks"]  # nothing new: no encoding
    (src / "more.py").write_text('def triangle_area(base, height):\n    """Area of a triangle."""\n'
                                 '    return base * height / 2\n')
    again = jsons(cli("--home", home, "index", src, "--name", "spark-geo", "--engine", "spark", "--out", ds,
                      "--json"))[0]
    assert again["reused"] == first["chunks"] and again["embedded"] == again["chunks"] - first["chunks"] >= 1
    elsewhere = tmp_path / "laptop"
    built = jsons(cli("--home", elsewhere, "index", "--name", "geo", "--from-parquet", ds, "--json"))[0]
    assert built["chunks"] == again["chunks"]
    hits = jsons(cli("--home", elsewhere, "search", "geo", "area of a triangle", "-k", "1", "--json"))
    assert hits[0]["name"] == "triangle_area"
    r = cli("--home", elsewhere, "index", "--name", "geo")
    assert r.exit_code == 1 and "built from the Parquet dataset" in r.output
    r = cli("--home", elsewhere, "index", "--name", "x", "--from-parquet", src)
    assert r.exit_code == 1 and "not a dataset written by" in r.output
