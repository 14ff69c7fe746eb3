"""The home's owner: names, manifests, the one lock convention, the one commit protocol, and
faults injected at every rename of each kind of write (strace)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embedsearch.errors import Busy, Damaged, EmbedsearchError, UnknownName
from embedsearch.home import Home

ROOT = Path(__file__).resolve().parents[1]
RENAMES = "rename,renameat,renameat2"


def test_a_home_is_given_as_str_path_or_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(tmp_path / "env"))
    assert Home().path == tmp_path / "env"
    assert Home(str(tmp_path)).path == Home(tmp_path).path == tmp_path
    home = Home(tmp_path)
    assert Home.of(home) is home and Home.of(str(tmp_path)) == home
    assert os.fspath(home) == str(tmp_path) and Path(home) == tmp_path
    monkeypatch.delenv("EMBEDSEARCH_HOME")
    monkeypatch.chdir(tmp_path)  # no ./indexes here: the user's data folder
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert Home().path == tmp_path / "data" / "embedsearch"
    (tmp_path / "indexes").mkdir()  # a project's own home wins where it exists
    assert Home().path == Path("indexes")


def test_names_manifests_and_their_errors(tmp_path):
    home = Home(tmp_path)
    for name, kind in (("code1", "code"), ("movies", "cf")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"format": 2, "kind": kind}))
    (tmp_path / ".code1.tmp-x").mkdir()  # a killed writer's leftover is not an entry
    (tmp_path / ".code1.tmp-x" / "manifest.json").write_text("{}")
    (tmp_path / "link").symlink_to(tmp_path / "code1")
    (tmp_path / "half").mkdir()
    assert home.names() == ["code1", "movies"] and home.names("cf") == ["movies"]
    with pytest.raises(UnknownName, match="did you mean 'code1'"):
        home.manifest("code")
    with pytest.raises(EmbedsearchError, match="has no manifest.json"):
        home.manifest("half")
    (tmp_path / "movies" / "manifest.json").write_text("{not json")
    with pytest.raises(Damaged, match="not valid JSON"):
        home.manifest("movies")
    assert home.peek("movies") is None and home.peek("code1")["kind"] == "code"
    for bad in ("../x", ".hidden", "tables.json", "", "a/b"):
        with pytest.raises(EmbedsearchError):
            home.folder(bad)
    # the longest model name still names its tables (NAME-items, NAME-users)
    longest = "m" * 100
    home.folder(longest, "model")
    assert home.table_rows(f"{longest}-items").name == f"{longest}-items"
    with pytest.raises(EmbedsearchError):
        home.folder("m" * 101, "model")


def test_one_lock_convention(tmp_path, monkeypatch):
    import embedsearch.home

    home = Home(tmp_path / "home")
    with home.lock("ix"):
        with pytest.raises(Busy, match="index 'ix' is being written"):
            with home.lock("ix"):
                pass
        with pytest.raises(Busy, match="model 'ix'"):  # one name, one lock, whatever writes it
            with home.lock("ix", "model", wait=0.1):
                pass
    with home.lock("ix"):  # released on leaving
        pass
    monkeypatch.setattr(embedsearch.home, "COMMIT_WAIT", 0.1)
    with home.registry_lock():
        with pytest.raises(Busy, match="table registry"):
            with home.registry_lock():
                pass
    (tmp_path / "file").write_text("")
    with pytest.raises(EmbedsearchError, match="cannot write index 'ix'.*unchanged"):
        with Home(tmp_path / "file" / "home").lock("ix"):
            pass


def test_the_commit_protocol_writes_only_under_the_home(tmp_path):
    home = Home(tmp_path / "home")
    home.write_text(home.registry, "{}")
    assert home.registry.read_text() == "{}" and not list(home.path.glob("*.tmp"))
    with pytest.raises(ValueError, match="not under the home"):
        home.write_text(tmp_path / "elsewhere.json", "{}")
    home.replace_folder(home.table_rows("t"), lambda tmp: (tmp / "a").write_text("1"))
    home.replace_folder(home.table_rows("t"), lambda tmp: (tmp / "b").write_text("2"))
    assert sorted(p.name for p in home.table_rows("t").iterdir()) == ["b"]
    umask = os.umask(0)
    os.umask(umask)
    assert home.table_rows("t").stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700


# ---------------------------------------------------------------- faults at every rename


needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (.ci/run installs it)")


def _child(*args: str, inject: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "tests.home_child", *args]
    if inject:
        cmd = ["strace", "-f", "--seccomp-bpf", "-qq", "-o", os.devnull, "-e", f"trace={RENAMES}", "-e",
               f"inject={RENAMES}:{inject}", *cmd]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _renames(*args: str) -> int:
    """How many renames one clean run of the child makes."""
    out = subprocess.run(["strace", "-f", "--seccomp-bpf", "-qq", "-e", f"trace={RENAMES}", "-o", "/dev/stdout",
                          sys.executable, "-m", "tests.home_child", *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return sum(1 for line in out.stdout.splitlines() if "rename" in line)


def _faults(tmp_path: Path, base: Path, args, settled) -> None:
    """For every rename of the write (args, with HOME in it), kill the writer at it, then
    make it fail with EIO there: each time the home is settled (`settled(home)` finds the old
    state or the new one, whole), the writer said one line or nothing, and the next clean
    write succeeds and is found whole."""
    work = tmp_path / "work"
    shutil.copytree(base, work)
    count = _renames(*[str(work if a == "HOME" else a) for a in args])
    shutil.rmtree(work)
    assert count >= 1
    seen = set()
    for n in range(1, count + 1):
        for fault in ("signal=SIGKILL", "error=EIO"):
            shutil.copytree(base, work)
            run = [str(work if a == "HOME" else a) for a in args]
            r = _child(*run, inject=f"{fault}:when={n}")
            assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
            if fault == "error=EIO":
                assert r.returncode == 0 or (r.returncode == 1 and r.stdout.startswith("error: ")), r.stdout + r.stderr
            seen.add(settled(Home(work)))
            again = _child(*run)
            assert again.returncode == 0, again.stdout + again.stderr
            assert settled(Home(work)) == "new"
            left = [p.name for p in work.rglob("*") if ".tmp" in p.name or ".old-" in p.name]
            assert not left, left  # the next write collected whatever the fault left
            shutil.rmtree(work)
    assert "old" in seen  # a fault before the commit point was seen to keep the old state


@needs_strace
def test_a_fault_at_any_rename_of_an_index_write_keeps_one_whole_generation(tmp_path):
    from tests.test_reliability import assert_whole

    base = tmp_path / "base"
    assert _child("index", str(base), "ix", "1").returncode == 0

    def settled(home: Home) -> str:
        assert_whole(home.path, "ix")
        from embedsearch.codeindex.store import Index

        with Index(home, "ix") as index:
            seed = index.db.execute("SELECT name FROM items LIMIT 1").fetchone()[0].split("_")[1]
        return {"1": "old", "2": "new"}[seed]

    _faults(tmp_path, base, ["index", "HOME", "ix", "2"], settled)


@needs_strace
def test_a_fault_at_any_rename_of_a_table_registration_keeps_old_or_new_rows(tmp_path):
    from embedsearch.tables.registry import open_table

    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text("apple 1 0 0\npear 0 1 0\n")
    new.write_text("cat 0 0 1\ndog 1 1 0\nemu 0 1 1\n")
    base = tmp_path / "base"
    assert _child("table", str(base), "w", str(old)).returncode == 0

    def settled(home: Home) -> str:
        t = open_table(home, "w")
        state = {("apple", "pear"): "old", ("cat", "dog", "emu"): "new"}[tuple(t.keys)]
        assert t.source.endswith(str({"old": old, "new": new}[state]))  # rows and entry agree
        expected = np.loadtxt({"old": old, "new": new}[state], usecols=(1, 2, 3))
        assert np.allclose(np.asarray(t.vectors), expected)
        return state

    _faults(tmp_path, base, ["table", "HOME", "w", str(new)], settled)


@needs_strace
def test_a_fault_at_any_rename_of_a_cf_save_keeps_old_or_new_model(tmp_path):
    import torch

    from embedsearch.cf.models import make_model
    from embedsearch.cf.saved import load_model
    from tests.cf_synthetic import write

    data = tmp_path / "data"
    write(data)
    base = tmp_path / "base"
    assert _child("cf", str(base), "m", str(data), "1").returncode == 0

    def settled(home: Home) -> str:
        saved = load_model(home, "m")
        seed = saved.manifest["options"]["seed"]
        torch.manual_seed(seed)
        fresh = make_model("dot", len(saved.user_keys), len(saved.item_keys), 4, (0.0, 5.5))
        assert torch.equal(fresh.item_factors.weight, saved.model.item_factors.weight)  # weights match manifest
        return {1: "old", 2: "new"}[seed]

    _faults(tmp_path, base, ["cf", "HOME", "m", str(data), "2"], settled)


@needs_strace
def test_a_fault_at_any_rename_of_an_onnx_export_leaves_none_or_a_whole_one(tmp_path):
    """The encoder's ONNX export (a tiny model, so each trial takes a second): killed or
    failing at any rename, the cache holds no export (queries keep torch) or a complete one
    that encodes as the model does, and the next export leaves no temporary behind."""
    from embedsearch.encoders import SentenceEncoder
    from embedsearch.onnx_encoder import cache_dir, cached_encoder
    from tests.tiny_model import make_tiny_model

    model = make_tiny_model(tmp_path / "tiny")
    encoder = SentenceEncoder(str(model))
    texts = ["split a string like a shell", "parse a date"]
    expected = encoder.encode(texts)
    base = tmp_path / "base"
    base.mkdir()

    def settled(home: Home) -> str:
        if not cache_dir(home, encoder.info.digest).exists():
            return "old"
        fast = cached_encoder(home, encoder.info.as_dict())
        assert fast is not None  # a folder in place is a complete, verified export
        assert np.allclose(fast.encode(texts), expected, atol=1e-5)
        return "new"

    _faults(tmp_path, base, ["onnx", "HOME", str(model)], settled)


def test_without_an_atomic_exchange_a_folder_moved_aside_is_put_back(tmp_path, monkeypatch):
    """Where renameat2(RENAME_EXCHANGE) is missing, a replacement renames twice; a kill
    between the two leaves the old folder aside, and the next replacement restores it before
    anything else, so a failing next write still leaves the old folder, never none."""
    import embedsearch.fileio as fileio

    monkeypatch.setattr(fileio, "exchange", lambda a, b: False)
    home = Home(tmp_path)
    target = home.table_rows("t")
    home.replace_folder(target, lambda tmp: (tmp / "v").write_text("old"))
    os.replace(target, target.parent / ".t.old-4242")  # as a kill after the first rename leaves it

    def fail(tmp: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        home.replace_folder(target, fail)
    assert (target / "v").read_text() == "old" and not list(target.parent.glob(".t.*"))
    home.replace_folder(target, lambda tmp: (tmp / "v").write_text("new"))
    assert (target / "v").read_text() == "new"


def test_a_planted_pickle_in_a_saved_model_is_refused_not_run(tmp_path):
    """Loading never unpickles arbitrary objects (torch.load(weights_only=True)): a
    weights.pt that would run code on load is reported as damaged, and the code never runs."""
    import pickle

    from embedsearch.cf.saved import load_model
    from tests.cf_synthetic import write

    data = tmp_path / "data"
    write(data)
    home = tmp_path / "home"
    assert _child("cf", str(home), "m", str(data), "1").returncode == 0
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (home / "m" / "weights.pt").write_bytes(pickle.dumps(Payload(), protocol=2))
    with pytest.raises(Damaged, match="damaged"):
        load_model(home, "m")
    assert not marker.exists()


def test_a_refused_writer_is_told_who_holds_the_lock(tmp_path):
    """The Busy line names the holder's pid, command and start time, from the record the
    holder keeps beside its lock while it holds it (and removes on release)."""
    home = Home(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from embedsearch.home import Home\n"
                               f"with Home({str(tmp_path)!r}).lock('ix'):\n    print('held', flush=True); "
                               "time.sleep(30)", "index", "src", "--name", "ix"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Busy, match=rf"another process \(pid {holder.pid}: -c index src --name ix, since "):
            with home.lock("ix"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with home.lock("ix"):  # a killed holder's record does not keep anyone out
        pass
    assert not (tmp_path / ".ix.lock.holder").exists()
