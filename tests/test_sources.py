"""What an index holds (issue 15, item 3) and writers of one index in two processes
(issue 13): --add, --remove and --replace change the sources explicitly, a re-run keeps the
recorded sources and options unless others are given, and writers that overlap in time
never lose an update."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from embedsearch.codeindex.store import Index
from tests.fake_encoder import FAKE

ROOT = Path(__file__).resolve().parents[1]


def tree(folder: Path, stem: str, n: int = 2) -> Path:
    """A folder of n small Python files, each with one function named after `stem`."""
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"{stem}_{i}.py").write_text(
            f'def {stem}_function_{i}(value):\n    """Handle {stem} number {i}."""\n    return value + {i}\n')
    return folder


def paths_of(home: Path, name: str) -> set[str]:
    with Index(home, name) as index:
        return {Path(p).parent.name for (p,) in index.db.execute("SELECT DISTINCT path FROM items")}


def sources(home: Path, name: str) -> list[str]:
    return json.loads((home / name / "manifest.json").read_text())["sources"]


def test_add_remove_replace(tmp_path, cli):
    home = tmp_path / "home"
    a, b, c = (tree(tmp_path / x, x) for x in "abc")
    assert cli("--home", home, "index", a, "--name", "ix", "--model", FAKE).exit_code == 0
    # a different PATH on an existing index no longer silently replaces what it held
    r = cli("--home", home, "index", b, "--name", "ix")
    assert r.exit_code == 1 and "--add PATH, --remove PATH, or --replace" in r.output and str(a) in r.output
    assert paths_of(home, "ix") == {"a"}
    r = cli("--home", home, "index", "--name", "ix", "--add", b, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["added"] == 2
    assert paths_of(home, "ix") == {"a", "b"} and sources(home, "ix") == [str(a), str(b)]
    # the same PATHs as recorded are an update, not a change of sources
    assert cli("--home", home, "index", b, a, "--name", "ix").exit_code == 0
    r = cli("--home", home, "index", "--name", "ix", "--remove", c)
    assert r.exit_code == 1 and "is not a source of index 'ix'" in r.output and "--exclude" in r.output
    r = cli("--home", home, "index", "--name", "ix", "--remove", a, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["removed"] == 2 and paths_of(home, "ix") == {"b"}
    r = cli("--home", home, "index", "--name", "ix", "--remove", b)
    assert r.exit_code == 1 and "embedsearch rm ix" in r.output and paths_of(home, "ix") == {"b"}
    r = cli("--home", home, "index", "--name", "ix", "--replace")
    assert r.exit_code == 1 and "--replace needs the PATHs" in r.output


def test_replace_asks_before_dropping_most_of_the_index(tmp_path, cli):
    home = tmp_path / "home"
    big, small = tree(tmp_path / "big", "big", 6), tree(tmp_path / "small", "small", 1)
    assert cli("--home", home, "index", big, "--name", "ix", "--model", FAKE).exit_code == 0
    r = cli("--home", home, "index", small, "--name", "ix", "--replace")  # nobody at a terminal to answer
    assert r.exit_code == 1 and "drop 6 of its 6 chunks" in r.output and "--yes" in r.output
    assert paths_of(home, "ix") == {"big"}
    r = cli("--home", home, "index", small, "--name", "ix", "--replace", "--yes", "--json")
    assert r.exit_code == 0 and paths_of(home, "ix") == {"small"} and sources(home, "ix") == [str(small)]


def test_a_rerun_keeps_recorded_options_and_applies_given_ones(tmp_path, cli):
    home = tmp_path / "home"
    src = tree(tmp_path / "src", "src", 3)
    (src / "notes.md").write_text("# Notes\n\nA short note about handling values.\n")
    assert cli("--home", home, "index", src, "--name", "ix", "--model", FAKE, "--exclude", "*.md").exit_code == 0
    assert all(not p.endswith(".md") for p in _files(home))
    assert json.loads(cli("--home", home, "index", "--name", "ix", "--json").output)["up_to_date"]
    assert all(not p.endswith(".md") for p in _files(home))  # the recorded --exclude still applies
    r = cli("--home", home, "index", "--name", "ix", "--exclude", "src_0.py", "--json")  # a new one applies
    assert r.exit_code == 0 and json.loads(r.output)["added"] >= 1
    files = {Path(p).name for p in _files(home)}
    assert "notes.md" in files and "src_0.py" not in files
    manifest = json.loads((home / "ix" / "manifest.json").read_text())
    assert manifest["options"]["exclude"] == ["src_0.py"]
    r = cli("--home", home, "index", "--name", "ix", "--max-file-size", "20", "--json")  # every file is larger
    assert r.exit_code == 1 and "no text to index" in r.output and "larger than" in r.output


def _files(home: Path) -> set[str]:
    with Index(home, "ix") as index:
        return {p for (p,) in index.db.execute("SELECT DISTINCT path FROM items")}


def child(home: Path, *args, delay: float = 0.4) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tests.cli_child", "--encode-delay", str(delay), "--home", str(home), *map(str, args)]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_twenty_overlapping_writer_pairs_never_lose_an_update(tmp_path):
    """Twenty pairs of real `index --add ... --wait` processes, the second started at a
    random offset while the first embeds: every update lands (41 sources, every file's
    chunks), the generations count one commit per writer, and each writer's summary
    describes the state it committed (it started from its predecessor's commit: its chunk
    count is one folder more than the one before)."""
    rng = random.Random(13)
    home = tmp_path / "home"
    base = tree(tmp_path / "base", "base", 1)
    assert child(home, "index", base, "--name", "ix", "--model", FAKE, delay=0).wait(60) == 0
    folders = [tree(tmp_path / f"t{i}", f"t{i}", 1) for i in range(40)]
    counts, waited = [], 0
    for i in range(20):
        first = child(home, "index", "--name", "ix", "--add", folders[2 * i], "--wait", "--json")
        time.sleep(rng.uniform(0.0, 0.25))
        second = child(home, "index", "--name", "ix", "--add", folders[2 * i + 1], "--wait", "--json")
        for proc in (first, second):
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            counts.append(json.loads(out)["chunks"])
            waited += "waiting for the other writer" in err
    assert sorted(counts) == list(range(2, 42))  # each run saw every commit before its own
    assert waited >= 10, waited  # the pairs did overlap (the later one waited)
    assert len(sources(home, "ix")) == 41 and paths_of(home, "ix") == {"base", *(f.name for f in folders)}
    assert json.loads((home / "ix" / "manifest.json").read_text())["generation"] == 41


def test_a_refused_writer_without_wait_is_told_about_it(tmp_path):
    home = tmp_path / "home"
    src = tree(tmp_path / "src", "src", 1)
    assert child(home, "index", src, "--name", "ix", "--model", FAKE, delay=0).wait(60) == 0
    holder = child(home, "index", "--name", "ix", "--rebuild", delay=3)
    deadline = time.monotonic() + 60
    while not (home / ".ix.lock.holder").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    refused = child(home, "rm", "ix", delay=0)
    out, err = refused.communicate(timeout=60)
    assert refused.returncode == 1 and "(or give --wait)" in err and "pid" in err
    waiting = child(home, "rm", "ix", "--wait", delay=0)
    out, err = waiting.communicate(timeout=60)
    assert holder.wait(60) == 0
    assert waiting.returncode == 0 and "waiting for the other writer (pid" in err and "removed ix" in out
    assert not (home / "ix").exists()


def test_one_source_however_it_is_spelled(tmp_path, cli, monkeypatch):
    """`a`, `./a/`, `../x/a` and a symlink to it are one source: recorded once, removed
    wholly, and not a 'different PATH'."""
    home = tmp_path / "home"
    a, b = tree(tmp_path / "a", "a"), tree(tmp_path / "b", "b")
    (tmp_path / "link").symlink_to(a)
    monkeypatch.chdir(tmp_path)
    assert cli("--home", home, "index", "a", "./a/", "b", "--name", "ix", "--model", FAKE).exit_code == 0
    assert sources(home, "ix") == [str(a), str(b)]
    assert cli("--home", home, "index", f"../{tmp_path.name}/a", "b/", "--name", "ix").exit_code == 0  # same ones
    r = cli("--home", home, "index", "--name", "ix", "--add", "link", "--add", "a/../a", "--json")
    assert r.exit_code == 0 and sources(home, "ix") == [str(a), str(b)]
    r = cli("--home", home, "index", "--name", "ix", "--remove", "link", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["removed"] == 2 and paths_of(home, "ix") == {"b"}


def test_requests_that_cannot_be_meant_are_refused(tmp_path, cli):
    home = tmp_path / "home"
    a, b = tree(tmp_path / "a", "a"), tree(tmp_path / "b", "b")
    r = cli("--home", home, "index", "--name", "new", "--add", a)
    assert r.exit_code == 1 and "does not exist yet; give its PATHs to create it" in r.output
    assert cli("--home", home, "index", a, b, "--name", "ix", "--model", FAKE).exit_code == 0
    (home / "ix" / "manifest.json").write_text("{broken")
    r = cli("--home", home, "index", "--name", "ix", "--rebuild", "--add", tmp_path)
    assert r.exit_code == 1 and "its sources are unknown" in r.output
    assert cli("--home", home, "repair", "ix").exit_code == 0
    r = cli("--home", home, "index", a, b, "--name", "ix", "--replace", "--rebuild", "--json")  # drops nothing: no question
    assert r.exit_code == 0 and json.loads(r.output)["chunks"] == 4
    shutil.rmtree(b)
    r = cli("--home", home, "index", "--name", "ix")
    assert r.exit_code == 1 and f"{b}, a source of index 'ix', no longer exists" in r.output and "--remove" in r.output
    assert cli("--home", home, "index", "--name", "ix", "--remove", b).exit_code == 0
    assert cli("--home", home, "index", a, "--name", "ix", "--exclude", "a_0.py").exit_code == 0
    assert paths_of(home, "ix") == {"a"} and len(_files(home)) == 1
    assert cli("--home", home, "index", "--name", "ix", "--no-exclude").exit_code == 0 and len(_files(home)) == 2
    assert cli("--home", home, "index", "--name", "ix", "--no-exclude", "--exclude", "x").exit_code == 2


def test_a_damaged_index_can_still_be_removed(tmp_path, cli):
    home = tmp_path / "home"
    assert cli("--home", home, "index", tree(tmp_path / "a", "a"), "--name", "ix", "--model", FAKE).exit_code == 0
    (home / "ix" / "manifest.json").write_text("{broken")
    r = cli("--home", home, "rm", "ix")
    assert r.exit_code == 0 and not (home / "ix").exists()
    (home / "mine").mkdir()
    (home / "mine" / "notes.txt").write_text("not an index")
    r = cli("--home", home, "rm", "mine")
    assert r.exit_code == 1 and (home / "mine" / "notes.txt").exists()


def test_rm_wait_waits_for_a_first_build(tmp_path):
    home = tmp_path / "home"
    src = tree(tmp_path / "src", "src", 1)
    builder = child(home, "index", src, "--name", "ix", "--model", FAKE, delay=3)
    deadline = time.monotonic() + 60
    while not (home / ".ix.lock.holder").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    waiting = child(home, "rm", "ix", "--wait", delay=0)
    out, err = waiting.communicate(timeout=60)
    assert builder.wait(60) == 0
    assert waiting.returncode == 0 and "removed ix" in out and not (home / "ix").exists()


def test_a_path_inside_a_source_is_not_a_second_source(tmp_path, cli):
    home = tmp_path / "home"
    prose = tree(tmp_path / "prose", "p")
    (prose / "notes.md").write_text("# Notes\n\nSome words.\n")
    assert cli("--home", home, "index", prose, "--name", "ix", "--model", FAKE).exit_code == 0
    assert cli("--home", home, "index", "--name", "ix", "--add", prose / "notes.md").exit_code == 0
    assert sources(home, "ix") == [str(prose)]
    other = tree(tmp_path / "other", "o")
    assert cli("--home", home, "index", "--name", "ix", "--add", other / "o_0.py").exit_code == 0
    r = cli("--home", home, "index", "--name", "ix", "--remove", other, "--json")  # takes what is inside it too
    assert r.exit_code == 0 and sources(home, "ix") == [str(prose)] and paths_of(home, "ix") == {"prose"}
