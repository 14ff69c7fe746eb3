"""Shell and editor use: --format grep / paths, queries from standard input, `embed`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def test_grep_and_paths_formats_point_at_real_lines(stdlib_index, cli):
    home, name, _ = stdlib_index
    r = cli("--home", home, "search", name, "recursively delete a directory tree", "-k", "4", "--format", "grep")
    lines = r.output.splitlines()
    assert r.exit_code == 0 and len(lines) == 4
    for line in lines:
        location, rest = line.split(": ", 1)
        path, number = location.rsplit(":", 1)
        assert Path(path).is_file() and int(number) <= len(Path(path).read_text().splitlines())
        assert rest.split()[0] and float(rest.split()[-1])
    assert "rmtree" in lines[0]
    r = cli("--home", home, "search", name, "recursively delete a directory tree", "-k", "10", "--format", "paths")
    paths = r.output.splitlines()
    assert len(paths) == len(set(paths)) >= 1 and all(Path(p).is_file() for p in paths)
    r = cli("--home", home, "search", name, "x", "--format", "grep", "--json")
    assert r.exit_code == 2
    r = cli("--home", home, "search", name, "x", "--format", "paths", "--explain")  # was silently dropped
    assert r.exit_code == 2 and "no room for --explain" in r.output


def test_grep_lines_say_which_query_they_answer(stdlib_index, cli):
    home, name, _ = stdlib_index
    r = cli("--home", home, "search", name, "--queries", "-", "-k", "2", "--format", "grep",
            input="recursively delete a directory tree\nwrap text to a width\n")
    lines = r.output.splitlines()
    assert r.exit_code == 0 and len(lines) == 4
    assert [line.rsplit("  [", 1)[1] for line in lines] == ["recursively delete a directory tree]"] * 2 + [
        "wrap text to a width]"] * 2


def test_queries_from_standard_input(stdlib_index, cli):
    home, name, _ = stdlib_index
    r = cli("--home", home, "search", name, "--queries", "-", "-k", "1", "--json",
            input="recursively delete a directory tree\nwrap text to a width\n")
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert [row["query"] for row in rows] == ["recursively delete a directory tree", "wrap text to a width"]


def test_embed_prints_the_vectors_an_index_uses(stdlib_index, cli, tmp_path):
    from embedsearch.codeindex.search import query_encoder
    from embedsearch.codeindex.store import Index

    home, name, _ = stdlib_index
    r = cli("--home", home, "embed", "split a string like a shell", "parse a date")
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert [row["text"] for row in rows] == ["split a string like a shell", "parse a date"]
    with Index(home, name) as index:
        expected = query_encoder(index).encode(["split a string like a shell"])[0]
    got = np.asarray(rows[0]["vector"])
    assert rows[0]["encoder"] == index.manifest["encoder"]["name"] and got.shape == expected.shape
    assert float(got @ expected) > 0.9999
    out = tmp_path / "v.npy"
    r = cli("--home", home, "embed", "-", "--out", out, input="one\n\ntwo\n")
    assert r.exit_code == 0 and np.load(out).shape == (2, expected.shape[0])
    r = cli("--home", home, "embed", "  ")
    assert r.exit_code == 1 and "nothing to embed" in r.output


def test_similar_by_id_matches_similar_by_location(stdlib_index, cli):
    home, name, corpus = stdlib_index
    r = cli("--home", home, "search", name, "wrap text to a width", "-k", "1", "--json")
    hit = json.loads(r.output.splitlines()[0])
    by_id = cli("--home", home, "similar", name, "--id", hit["id"], "-k", "3", "--json")
    by_place = cli("--home", home, "similar", name, "--path", hit["path"], "--line", hit["start_line"], "-k", "3",
                   "--json")
    assert by_id.exit_code == 0 and [json.loads(x)["id"] for x in by_id.output.splitlines()] == \
        [json.loads(x)["id"] for x in by_place.output.splitlines()]
    assert hit["id"] not in [json.loads(x)["id"] for x in by_id.output.splitlines()]
    r = cli("--home", home, "similar", name, "--id", "999999")
    assert r.exit_code == 1 and "has no item 999999" in r.output
    r = cli("--home", home, "similar", name, "--id", "1", "--text", "x")
    assert r.exit_code == 2
