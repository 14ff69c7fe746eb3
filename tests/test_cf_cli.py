"""Every `embedsearch cf` command through Click's CliRunner, as a user would run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from embedsearch.cli import main
from tests import cf_synthetic
from tests.conftest import SHARED_DATA

ML100K = SHARED_DATA / "ml-100k"
FAST = ["--epochs", "3", "--bs", "512", "--lr", "0.02", "--wd", "0.2"]


def run(home: Path, *args: str):
    return CliRunner().invoke(main, ["--home", str(home), "cf", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A home with an ml-100k model trained for a few epochs (the default name)."""
    home = tmp_path_factory.mktemp("home")
    res = run(home, "train", "--data", str(ML100K), *FAST)
    assert res.exit_code == 0, res.output
    assert "valid RMSE" in res.output and "global mean" in res.output
    return home


def test_train_json_reports_metrics_and_saves(tmp_path):
    res = run(tmp_path, "train", "--data", str(ML100K), "--split", "u2", "--json", *FAST, "--name", "u2")
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    m = report["metrics"]
    assert report["split"] == "official u2"
    assert m["rmse"] < 0.97 < m["global_mean_rmse"]
    assert {"mae", "precision_at_k", "recall_at_k", "ndcg_at_k"} <= set(m)
    assert len(report["history"]) == 3
    manifest = json.loads((tmp_path / "u2" / "manifest.json").read_text())
    assert manifest["kind"] == "cf" and manifest["format"] == 2 and manifest["metrics"]["rmse"] == m["rmse"]


def test_train_folds_reports_every_fold_and_mean(tmp_path):
    res = run(tmp_path, "train", "--data", str(ML100K), "--folds", "--json",
              "--epochs", "1", "--bs", "2048", "--lr", "0.05", "--factors", "16")
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert list(report["folds"]) == ["u1", "u2", "u3", "u4", "u5"]
    rmses = [f["rmse"] for f in report["folds"].values()]
    assert report["mean"]["rmse"] == pytest.approx(sum(rmses) / 5)
    assert report["std"]["rmse"] > 0 and all(r < 1.1 for r in rmses)
    table = run(tmp_path, "train", "--data", str(ML100K), "--folds", "--epochs", "1", "--bs", "4096", "--factors", "8")
    assert "u5" in table.output and "mean" in table.output


def test_recommend_known_user_skips_rated_movies(trained):
    res = run(trained, "recommend", "--user", "42", "-k", "15", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    titles = [r["title"] for r in out["results"]]
    rated = {l.split("\t")[1] for l in (ML100K / "u.data").read_text().splitlines() if l.split("\t")[0] == "42"}
    items = {l.split("|")[0]: l.split("|")[1] for l in (ML100K / "u.item").read_text(encoding="latin-1").splitlines()}
    assert len(titles) == 15 and not set(titles) & {items[i] for i in rated}
    preds = [r["predicted"] for r in out["results"]]
    assert preds == sorted(preds, reverse=True) and all(0 < p < 5.5 for p in preds)
    table = run(trained, "recommend", "--user", "42")
    assert "recommendations for user 42" in table.output


def test_recommend_new_user_by_fold_in(trained):
    res = run(trained, "recommend", "--rate", "Star Wars (1977)=5", "--rate", "Empire Strikes Back=5",
              "--rate", "Return of the Jedi (1983)=5", "--rate", "Toy Story (1995)=1", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["folded_in"] and len(out["rated"]) == 4
    titles = [r["title"] for r in out["results"]]
    assert "Star Wars (1977)" not in titles
    # the fold-in fits the ratings it was given: loved movies predicted above the disliked one
    pred = {r["title"]: r["predicted"] for r in out["rated"]}
    assert pred["Star Wars (1977)"] > pred["Toy Story (1995)"] + 1


def test_recommend_errors(trained):
    res = run(trained, "recommend", "--user", "99999")
    assert res.exit_code == 1 and "unknown user '99999'" in res.output
    res = run(trained, "recommend", "--rate", "Godfather=5")
    assert res.exit_code == 1 and "ambiguous" in res.output and "Godfather, The (1972)" in res.output
    res = run(trained, "recommend", "--rate", "Star Wars (1977)")
    assert res.exit_code == 1 and "TITLE=RATING" in res.output
    res = run(trained, "recommend")
    assert res.exit_code == 1 and "either --user" in res.output


def test_similar_uses_titles_and_finds_neighbours(trained):
    res = run(trained, "similar", "Silence of the Lambs", "-k", "5", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["query"] == "Silence of the Lambs, The (1991)"
    assert len(out["results"]) == 5 and out["query"] not in [r["title"] for r in out["results"]]
    assert all(-1 <= r["cosine"] <= 1 for r in out["results"])
    assert all(r["ratings"] >= 10 for r in out["results"])  # the default --min-ratings
    rare = json.loads(run(trained, "similar", "Silence of the Lambs", "-k", "50", "--min-ratings", "0", "--json").output)
    assert any(r["ratings"] < 10 for r in rare["results"])
    assert "nearest to Silence of the Lambs, The (1991)" in run(trained, "similar", "silence of the lambs").output
    bad = run(trained, "similar", "Silense of the Lambs")
    assert bad.exit_code == 1 and "did you mean 'Silence of the Lambs, The (1991)'" in bad.output


def test_biases_lowest_and_highest(trained):
    out = json.loads(run(trained, "biases", "-k", "5", "--json").output)
    low, high = [r["bias"] for r in out["lowest"]], [r["bias"] for r in out["highest"]]
    assert max(low) < min(high) and low == sorted(low) and high == sorted(high, reverse=True)
    assert "highest item bias" in run(trained, "biases").output


def test_plot_writes_png_and_prints_variance(trained, tmp_path):
    png = tmp_path / "pca.png"
    res = run(trained, "plot", "--out", str(png), "--labels", "20")
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "explained variance PC1" in res.output
    out = json.loads(run(trained, "plot", "--out", str(png), "--json").output)
    ev = out["explained_variance"]
    assert 0 < ev[1] <= ev[0] < 1 and out["labelled"] == 50


def test_explain_shows_one_hot_equals_lookup(trained):
    out = json.loads(run(trained, "explain", "Star Wars", "--json").output)
    assert out["title"] == "Star Wars (1977)" and out["equal"] and out["batch_equal"]
    assert out["one_hot_matmul"] == out["lookup"] and len(out["lookup"]) == 50
    # against the saved weights, read here without the model code: the row of the item
    # factor table at the title's place in the vocabulary
    import torch

    weights = torch.load(trained / "movielens" / "weights.pt", weights_only=True)["item_factors.weight"]
    titles = json.loads((trained / "movielens" / "vocab.json").read_text())["items"]
    row = titles.index("Star Wars (1977)")
    assert out["row"] == row and out["table_shape"] == list(weights.shape)
    assert np.allclose(out["lookup"], weights[row].numpy(), atol=0)
    text = run(trained, "explain").output
    assert "one_hot(" in text and "equal: True" in text


def test_synthetic_csv_with_titles_end_to_end(tmp_path):
    ratings, items, _, _ = cf_synthetic.write(tmp_path / "data")
    res = run(tmp_path / "home", "train", "--data", str(ratings), "--items", str(items), "--name", "syn",
              "--factors", "8", "--epochs", "30", "--lr", "0.03", "--wd", "0.01", "--bs", "32", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(run(tmp_path / "home", "similar", "Movie 2-20", "-k", "5", "--name", "syn", "--json").output)
    assert all(r["title"].startswith("Movie 2-") for r in out["results"])


def test_nn_model_trains_and_refuses_fold_in(tmp_path):
    res = run(tmp_path, "train", "--data", str(ML100K), "--model", "nn", "--epochs", "1", "--bs", "1024", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["metrics"]["rmse"] < 1.05
    assert run(tmp_path, "biases").exit_code == 1
    res = run(tmp_path, "recommend", "--rate", "Star Wars (1977)=5")
    assert res.exit_code == 1 and "dot-product model" in res.output
    assert run(tmp_path, "recommend", "--user", "1", "--json").exit_code == 0


def test_user_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,4\n1,3,x\n")
    res = run(tmp_path, "train", "--data", str(bad))
    assert res.exit_code == 1 and f"{bad}:2: rating 'x' is not a number" in res.output
    assert "Traceback" not in res.output
    res = run(tmp_path, "similar", "Star Wars")
    assert res.exit_code == 1 and "no trained cf model 'movielens'" in res.output
    res = run(tmp_path, "train", "--data", str(tmp_path / "missing.tsv"))
    assert res.exit_code == 1 and "no such ratings file" in res.output
    res = run(tmp_path, "train", "--data", str(bad), "--split", "u7")
    assert res.exit_code == 1 and "unknown split" in res.output


def test_every_command_has_help():
    for cmd in ("train", "recommend", "similar", "biases", "plot", "explain"):
        res = CliRunner().invoke(main, ["cf", cmd, "--help"])
        assert res.exit_code == 0 and "--name" in res.output


def test_cli_start_does_not_import_torch():
    code = (
        "import sys\nfrom embedsearch.cli import main\n"
        "try:\n    main(['cf', 'train', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], check=True).stdout
    assert "--folds" in out
    assert out.split()[-2:] == ["False", "False"]


def test_too_few_optimizer_steps_is_one_clear_line(cli, home):
    """Huge batches for one epoch used to end in ZeroDivisionError inside OneCycleLR."""
    r = cli("cf", "train", "--data", ML100K, "--bs", "20000", "--epochs", "1", "--name", "few")
    assert r.exit_code == 1 and r.output.strip().splitlines() == [
        "Error: 80,000 ratings in batches of 20,000 for 1 epoch(s) make 4 optimizer steps; the one-cycle "
        "schedule needs at least 8: use a smaller --bs or more --epochs"]
    assert not (home / "few").exists()


def test_bad_numbers_and_names_are_one_clear_line_and_save_nothing(trained, tmp_path):
    """--ridge nan used to end in LinAlgError, --lr 1e30 saved a NaN model silently, and a
    model named tables.json broke every later `tables add`."""
    r = run(trained, "recommend", "--rate", "Star Wars (1977)=5", "--ridge", "nan")
    assert r.exit_code == 1 and r.output.startswith("Error: ridge must be a finite number")
    home = tmp_path / "home"
    r = run(home, "train", "--data", str(ML100K), "--epochs", "1", "--lr", "1e30", "--name", "nan")
    assert r.exit_code == 1 and "training diverged in epoch 1" in r.output and "nothing was saved" in r.output
    assert not (home / "nan").exists()
    r = run(home, "train", "--data", str(ML100K), "--name", "tables.json")
    assert r.exit_code == 1 and "the name of a file the index home keeps" in r.output


def test_a_damaged_rated_file_is_one_clear_line(trained, tmp_path):
    """rated.npz is read whole at load: a flipped byte is reported as damage, not met later
    as an internal error inside a command."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(trained, home)
    rated = home / "movielens" / "rated.npz"
    data = bytearray(rated.read_bytes())
    data[200] ^= 0xFF
    rated.write_bytes(bytes(data))
    res = run(home, "recommend", "--user", "1")
    assert res.exit_code == 1 and "is damaged" in res.output and "internal error" not in res.output, res.output
