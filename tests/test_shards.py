"""`index --from-parquet --shards N`: one name over N ordinary indexes. Search merges the
shards' answers exactly (dense, exact: the same hits as one index over the same vectors);
check, repair, list, info, similar and rm work on the set; a set whose shards disagree with
what it recorded is reported, never mixed. The dataset is written here with pyarrow in the
format `index --engine spark` writes (tests/test_spark.py runs Spark itself)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import copy_stdlib


@pytest.fixture(scope="module")
def dataset(stdlib_index, tmp_path_factory):
    """The stdlib index's chunks and vectors as a Parquet dataset with its sidecar."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from embedsearch.codeindex.spark import SIDECAR
    from embedsearch.codeindex.store import Index

    from embedsearch.codeindex.shards import shard_of

    home, name, indexed = stdlib_index
    out = tmp_path_factory.mktemp("ds") / "dataset"
    out.mkdir()
    with Index(home, name) as ix:
        items = ix.items(list(range(ix.count)))
        vectors = np.asarray(ix.vectors, dtype=np.float32)
        manifest = ix.manifest
    # A shard is chosen by a hash of the file's path, and pytest's temporary folders differ
    # from run to run: with a few files, one of three shards can come out empty, which
    # `--shards 3` refuses. So the same files are copied to a folder where all three get some.
    for _ in range(100):
        corpus = tmp_path_factory.mktemp("corpus") / "corpus"
        paths = [str(corpus) + it.path[len(str(indexed)):] for it in items]
        if len({shard_of(p, 3) for p in paths}) == 3:
            break
    copy_stdlib(corpus)
    items = [replace(it, path=p) for it, p in zip(items, paths)]
    half = len(items) // 2
    for part, rows in (("part-0.parquet", range(half)), ("part-1.parquet", range(half, len(items)))):
        pq.write_table(pa.table({
            "path": [items[i].path for i in rows], "start_line": pa.array([items[i].start_line for i in rows], pa.int32()),
            "end_line": pa.array([items[i].end_line for i in rows], pa.int32()), "kind": [items[i].kind for i in rows],
            "name": [items[i].name for i in rows], "text": [items[i].text for i in rows],
            "meta": [json.dumps(items[i].meta) for i in rows], "hash": [items[i].hash for i in rows],
            "vector": pa.array([vectors[i].tolist() for i in rows], pa.list_(pa.float32()))}), out / part)
    (out / SIDECAR).write_text(json.dumps({"format": 1, "encoder": manifest["encoder"], "sources": [str(corpus)],
                                           "options": manifest["options"]}))
    return out, len(items)


@pytest.fixture(scope="module")
def built(dataset, tmp_path_factory):
    from click.testing import CliRunner

    from embedsearch.cli import main

    path, n = dataset
    home = tmp_path_factory.mktemp("shards") / "home"
    run = lambda *a: CliRunner().invoke(main, ["--home", str(home), *map(str, a)])  # noqa: E731
    one = run("index", "--name", "whole", "--from-parquet", path, "--json")
    three = run("index", "--name", "split", "--from-parquet", path, "--shards", "3", "--json")
    assert one.exit_code == 0 and three.exit_code == 0, three.output
    assert json.loads(three.stdout)["chunks"] == n
    return home


def test_sharded_search_is_the_merge_of_one_index(cli, built):
    for q in ("serialize an object to a JSON formatted string", "wrap text to a width", "copy a directory tree"):
        args = ["-k", "10", "--dense", "--exact", "--json"]
        whole = [json.loads(x) for x in cli("--home", built, "search", "whole", q, *args).stdout.splitlines()]
        split = [json.loads(x) for x in cli("--home", built, "search", "split", q, *args).stdout.splitlines()]
        assert [(h["path"], h["start_line"], h["score"]) for h in split] == \
            [(h["path"], h["start_line"], h["score"]) for h in whole]
        assert [h["rank"] for h in split] == list(range(1, 11))
    default = cli("--home", built, "search", "split", "parse a CSV file", "-k", "5", "--json")
    assert default.exit_code == 0 and len(default.stdout.splitlines()) == 5


def test_the_set_lists_checks_and_answers_similar(cli, built):
    listed = [json.loads(x) for x in cli("--home", built, "list", "--json").stdout.splitlines()]
    assert sorted(e["name"] for e in listed) == ["split", "whole"]
    info = json.loads(cli("--home", built, "info", "split", "--json").stdout)
    assert info["kind"] == "sharded" and len(info["shards"]) == 3
    check = cli("--home", built, "check", "split", "--json")
    assert check.exit_code == 0 and json.loads(check.stdout)["ok"] is True
    hit = json.loads(cli("--home", built, "search", "whole", "wrap text to a width", "-k", "1",
                         "--json").stdout.splitlines()[0])
    args = ["--path", hit["path"], "--line", str(hit["start_line"]), "-k", "5", "--exact", "--json"]
    whole = [json.loads(x)["path"] + str(json.loads(x)["start_line"])
             for x in cli("--home", built, "similar", "whole", *args).stdout.splitlines()]
    split = [json.loads(x)["path"] + str(json.loads(x)["start_line"])
             for x in cli("--home", built, "similar", "split", *args).stdout.splitlines()]
    assert split == whole and len(split) == 5
    r = cli("--home", built, "similar", "split", "--id", "3")
    assert r.exit_code == 1 and "ids are per shard" in r.output


def test_a_shard_out_of_step_is_reported_and_rm_removes_the_set(cli, built, tmp_path):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(built, home)
    manifest = json.loads((home / "split" / "manifest.json").read_text())
    first = next(iter(manifest["shards"]))
    manifest["shards"][first] += 1  # as if a rebuild stopped between two shards
    (home / "split" / "manifest.json").write_text(json.dumps(manifest))
    r = cli("--home", home, "search", "split", "anything")
    assert r.exit_code == 1 and "inconsistent" in r.output and first in r.output
    c = cli("--home", home, "check", "split")
    assert c.exit_code != 0 and "inconsistent" in c.output
    assert cli("--home", home, "rm", "split").exit_code == 0
    assert sorted(p.name for p in home.iterdir() if not p.name.startswith(".")) == ["whole"]


def test_a_damaged_shard_is_repaired_and_the_set_stays_whole(cli, built, tmp_path):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(built, home)
    shard = next(iter(json.loads((home / "split" / "manifest.json").read_text())["shards"]))
    vectors = next((home / shard).glob("vectors-*.npy"))
    data = bytearray(vectors.read_bytes())
    data[len(data) // 2] ^= 0xFF
    vectors.write_bytes(bytes(data))
    bad = cli("--home", home, "check", "split")
    assert bad.exit_code == 1 and f"shard {shard}" in bad.output and "sha256" in bad.output
    fixed = cli("--home", home, "repair", "split")
    assert fixed.exit_code == 0 and "generation 2 written" in fixed.output
    assert cli("--home", home, "check", "split").exit_code == 0  # the set records the shards' new generations
    listed = [json.loads(x)["name"] for x in cli("--home", home, "list", "--json").stdout.splitlines()]
    assert sorted(listed) == ["split", "whole"]  # a repaired shard is still a shard, not an index of its own
    assert cli("--home", home, "search", "split", "copy a file", "-k", "3").exit_code == 0
