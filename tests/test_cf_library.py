"""The CF library functions on real ml-100k and on a synthetic matrix with known structure."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest

from embedsearch.cf import data as cfdata
from embedsearch.cf.data import Ratings, load_dataset, random_split, read_ratings_file
from embedsearch.cf.foldin import fold_in, predict_all
from embedsearch.cf.lookup import resolve, resolve_user
from embedsearch.cf.metrics import mae, rmse, top_n_metrics
from embedsearch.cf.saved import load_model, save_model
from embedsearch.cf.train import TrainOptions, fit, predict
from embedsearch.errors import EmbedsearchError
from tests import cf_synthetic
from tests.conftest import SHARED_DATA

ML100K = SHARED_DATA / "ml-100k"
SYN_OPTS = TrainOptions(factors=8, epochs=30, lr=0.03, wd=0.01, bs=32, seed=1)


@pytest.fixture(scope="module")
def ml100k():
    return load_dataset(ML100K)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("syn")
    ratings, items, truth, groups = cf_synthetic.write(folder)
    ds = load_dataset(ratings, items)
    train, valid = random_split(ds.ratings, 0.2, seed=0)
    result = fit(train, valid, SYN_OPTS)
    return ds, train, valid, result, truth, groups


# --- reading ratings -------------------------------------------------------------------


def test_ml100k_loads_with_titles_and_official_counts(ml100k):
    r = ml100k.ratings
    assert len(r) == 100_000 and len(r.user_keys) == 943
    # 1,682 ids, but duplicate titles are merged as in fastbook
    assert 1600 < len(r.item_keys) < 1682
    assert "Star Wars (1977)" in r.item_keys
    counts = dict(zip(*np.unique(r.ratings, return_counts=True)))
    assert counts == {1.0: 6110, 2.0: 11370, 3.0: 27144, 4.0: 34175, 5.0: 21201}


def test_official_fold_is_keyed_like_the_full_data(ml100k):
    train, test = ml100k.fold("u1")
    assert (len(train), len(test)) == (80_000, 20_000)
    assert train.item_keys is ml100k.ratings.item_keys
    with pytest.raises(EmbedsearchError, match="u1, u2"):
        ml100k.fold("u9")


@pytest.mark.parametrize(
    "body, message",
    [
        ("1\t2\t4\n3\t4\tgood\n", r"ratings.tsv:2: rating 'good' is not a number"),
        ("1\t2\t4\n1\t2\n", r"ratings.tsv:2: expected user, item, rating"),
        ("1\t2\t4\n1\t3\t4\n5\t6\t9\n", r"ratings.tsv:3: rating 9 is outside the range 0..5.5"),
        ("1\t2\t-1\n", r"ratings.tsv:1: rating -1 is outside"),
        ("1\t2\tnan\n", r"ratings.tsv:1: rating nan is outside"),
    ],
)
def test_malformed_lines_are_reported_with_file_and_line(tmp_path, body, message):
    path = tmp_path / "ratings.tsv"
    path.write_text(body)
    with pytest.raises(EmbedsearchError, match=message):
        read_ratings_file(path)
    with pytest.raises(EmbedsearchError, match=message):
        load_dataset(path)  # and nothing is half-loaded


def test_csv_with_header_and_timestamp(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("userId,movieId,rating,timestamp\n1,10,4.5,100\n2,10,3,101\n2,11,0.5,102\n")
    ds = load_dataset(path)
    assert ds.ratings.user_keys == ["1", "2"] and ds.ratings.item_keys == ["10", "11"]
    assert ds.ratings.ratings.tolist() == [4.5, 3.0, 0.5]
    with pytest.raises(EmbedsearchError, match="official folds need"):
        ds.fold("u1")


def test_archive_extraction_checks_the_udata_digest(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as z:
        z.write(ML100K / "u.data", "ml-100k/u.data")
        z.write(ML100K / "u.item", "ml-100k/u.item")
    folder = cfdata.extract_ml100k(good, tmp_path / "cache")
    assert cfdata.md5_of(folder / "u.data") == cfdata.ML100K_UDATA_MD5
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("ml-100k/u.data", "1\t2\t3\t4\n")
    with pytest.raises(EmbedsearchError, match="published md5"):
        cfdata.extract_ml100k(bad, tmp_path / "cache2")


# --- names ---------------------------------------------------------------------------


def test_titles_resolve_the_way_people_type_them(ml100k):
    keys = ml100k.ratings.item_keys
    assert keys[resolve("Silence of the Lambs", keys)] == "Silence of the Lambs, The (1991)"
    assert keys[resolve("the silence of the lambs", keys)] == "Silence of the Lambs, The (1991)"
    assert keys[resolve("star wars", keys)] == "Star Wars (1977)"
    with pytest.raises(EmbedsearchError, match=r"ambiguous.*Godfather, The \(1972\).*Godfather: Part II"):
        resolve("Godfather", keys)
    with pytest.raises(EmbedsearchError, match=r"unknown movie 'Starwars'; did you mean 'Star Wars \(1977\)'"):
        resolve("Starwars", keys)
    with pytest.raises(EmbedsearchError, match="unknown user '9999'"):
        resolve_user("9999", ml100k.ratings.user_keys)


# --- metrics ---------------------------------------------------------------------------


def test_rating_errors():
    assert rmse(np.array([1.0, 3.0]), np.array([2.0, 5.0])) == pytest.approx(np.sqrt(2.5))
    assert mae(np.array([1.0, 3.0]), np.array([2.0, 5.0])) == pytest.approx(1.5)


def test_top_n_by_hand():
    keys_u, keys_i = ["a"], [str(i) for i in range(5)]
    train = Ratings(np.array([0]), np.array([0]), np.array([5.0], np.float32), keys_u, keys_i)
    valid = Ratings(np.array([0, 0, 0]), np.array([1, 3, 4]), np.array([5, 4, 2], np.float32), keys_u, keys_i)
    # item 0 scores best but was rated in train, so it must not count; then 1, 2, 3 ...
    scores = lambda rows: np.array([[9.0, 8.0, 7.0, 6.0, 5.0]])
    m = top_n_metrics(scores, train, valid, k=2)
    assert m["precision_at_k"] == pytest.approx(0.5)  # top 2 = items 1, 2; only 1 relevant
    assert m["recall_at_k"] == pytest.approx(0.5)  # relevant: 1 and 3
    assert m["ndcg_at_k"] == pytest.approx(1.0 / (1.0 + 1 / np.log2(3)))


# --- training --------------------------------------------------------------------------


def test_synthetic_structure_is_recovered(synthetic):
    ds, train, valid, result, truth, groups = synthetic
    baseline = rmse(np.full(len(valid), train.ratings.mean()), valid.ratings)
    assert result.metrics["rmse"] < 0.35 * baseline
    # neighbours by cosine over item factors stay within the true group
    from embedsearch.ann import exact_query, normalise

    f = normalise(result.model.item_factors.weight.detach().numpy())
    ids, _ = exact_query(f, f, 4)
    group_of = {k: int(k.split()[1].split("-")[0]) for k in ds.ratings.item_keys}
    own = [group_of[ds.ratings.item_keys[i]] for i in range(len(f))]
    same = [own[n] == own[j] for n in range(len(f)) for j in ids[n, 1:]]
    assert np.mean(same) > 0.95


def test_training_is_reproducible(synthetic):
    ds, train, valid, result, *_ = synthetic
    again = fit(train, valid, SYN_OPTS, top_n=False)
    for a, b in zip(result.model.state_dict().values(), again.model.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy())
    other = fit(train, valid, TrainOptions(**{**vars(SYN_OPTS), "seed": 2}), top_n=False)
    assert not np.array_equal(other.model.item_factors.weight.detach().numpy(),
                              result.model.item_factors.weight.detach().numpy())


@pytest.mark.parametrize("kind, reg", [("dot", 0.0), ("nn", 0.0), ("bias", 0.01)])
def test_other_models_learn_the_synthetic_matrix(synthetic, kind, reg):
    _, train, valid, *_ = synthetic
    res = fit(train, valid, TrainOptions(**{**vars(SYN_OPTS), "model": kind, "reg": reg}), top_n=False)
    baseline = rmse(np.full(len(valid), train.ratings.mean()), valid.ratings)
    assert res.metrics["rmse"] < 0.6 * baseline
    assert predict(res.model, valid).shape == (len(valid),)


def test_real_ml100k_beats_the_global_mean(ml100k):
    train, valid = ml100k.fold("u1")
    res = fit(train, valid, TrainOptions(epochs=2, bs=512, lr=0.02, wd=0.2))
    baseline = rmse(np.full(len(valid), train.ratings.mean()), valid.ratings)
    assert baseline > 1.1
    assert res.metrics["rmse"] < 0.97
    assert res.history[-1].valid_rmse == pytest.approx(res.metrics["rmse"])
    # popular-and-liked movies found for held-out users well above chance (10/1664 items)
    assert res.metrics["precision_at_k"] > 0.05 and 0 < res.metrics["ndcg_at_k"] <= 1


def test_bad_options_are_user_errors(synthetic):
    _, train, valid, *_ = synthetic
    with pytest.raises(EmbedsearchError, match="--factors"):
        fit(train, valid, TrainOptions(factors=0))
    with pytest.raises(EmbedsearchError, match="must not be negative"):
        fit(train, valid, TrainOptions(reg=-1))
    with pytest.raises(EmbedsearchError, match="--bias-wd"):
        fit(train, valid, TrainOptions(bias_wd=-1))
    with pytest.raises(EmbedsearchError, match="unknown model"):
        fit(train, valid, TrainOptions(model="svd"))


# --- fold-in ---------------------------------------------------------------------------


def test_fold_in_reproduces_a_known_user(synthetic):
    ds, train, valid, result, truth, groups = synthetic
    m = result.model
    q = m.item_factors.weight.detach().numpy()
    b = m.item_bias.weight.detach().numpy()[:, 0]
    user = 3
    rows = train.items[train.users == user]
    p, c = fold_in(q, b, rows, train.ratings[train.users == user], m.y_range, ridge=0.1)
    folded = predict_all(q, b, p, c, m.y_range)
    uid = int(ds.ratings.user_keys[user][1:])
    true = np.array([truth[uid, int(k.split("-")[1].split()[0])] for k in ds.ratings.item_keys])
    assert np.corrcoef(folded, true)[0, 1] > 0.9


def test_fold_in_needs_ratings():
    with pytest.raises(EmbedsearchError, match="at least one rating"):
        fold_in(np.zeros((3, 2)), None, np.array([], int), np.array([]), None)


# --- saving ----------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path, synthetic):
    ds, train, valid, result, *_ = synthetic
    path = save_model(tmp_path, "syn", result.model, SYN_OPTS.as_dict(), result.metrics, "test", ds.ratings)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == 2 and manifest["kind"] == "cf" and manifest["model"] == "bias"
    loaded = load_model(tmp_path, "syn")
    assert np.array_equal(predict(loaded.model, valid), predict(result.model, valid))
    assert loaded.item_keys == ds.ratings.item_keys
    # saving again replaces the model and leaves no temporary folders behind
    save_model(tmp_path, "syn", result.model, SYN_OPTS.as_dict(), result.metrics, "test", ds.ratings)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["syn"]


def test_damaged_or_missing_models_are_user_errors(tmp_path, synthetic):
    ds, train, valid, result, *_ = synthetic
    with pytest.raises(EmbedsearchError, match="no trained cf model 'movielens'.*cf train"):
        load_model(tmp_path, "movielens")
    path = save_model(tmp_path, "syn", result.model, SYN_OPTS.as_dict(), {}, "test", ds.ratings)
    with pytest.raises(EmbedsearchError, match="saved cf models: syn"):
        load_model(tmp_path, "other")
    (path / "weights.pt").write_bytes(b"not torch")
    with pytest.raises(EmbedsearchError, match="damaged"):
        load_model(tmp_path, "syn")
    shutil.rmtree(path)
