"""Crash safety, concurrent readers, full disks and read-only folders, damaged files."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from embedsearch.errors import EmbedsearchError
from embedsearch.codeindex.integrity import check, repair
from embedsearch.codeindex.store import Index
from tests.fake_encoder import FAKE

ROOT = Path(__file__).resolve().parents[1]


def child(home: Path, name: str, rounds: int, *extra: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.store_child", str(home), name, str(rounds), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def assert_whole(home: Path, name: str) -> int:
    """The index opens, and manifest, metadata, vectors and HNSW agree; returns the count."""
    index = Index(home, name)
    try:
        rows = index.db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        assert index.count == rows == index.vectors.shape[0] == index.hnsw.get_current_count()
        probe = [0, rows // 2, rows - 1]  # the graph holds the very rows of this generation
        assert np.allclose(np.asarray(index.hnsw.get_items(probe)), np.asarray(index.vectors[probe]), atol=1e-6)
        names = {r[0].split("_")[1] for r in index.db.execute("SELECT name FROM items")}
        assert len(names) == 1  # every row from the same generation, never a mix
    finally:
        index.close()
    assert check(home, name).ok
    return rows


def test_fifty_kills_leave_a_whole_index(tmp_path):
    """SIGKILL a writer at 50 random moments: the index is always the old or the new one.
    (Two homes, 25 kills each, side by side: the same kills in half the time.)"""
    from concurrent.futures import ThreadPoolExecutor

    def kills(home: Path, seed: int) -> int:
        name, rng, committed = "crash", random.Random(seed), 0
        for _ in range(25):
            proc = child(home, name, 1000)
            time.sleep(rng.uniform(0.05, 1.2))
            proc.send_signal(signal.SIGKILL)
            out, _ = proc.communicate()
            committed += out.count("wrote")
            if (home / name / "manifest.json").exists():
                assert_whole(home, name)
        done = child(home, name, 1)  # a re-run after a kill finishes the job
        assert done.wait(60) == 0
        assert assert_whole(home, name) >= 500
        return committed

    with ThreadPoolExecutor(2) as pool:
        committed = sum(pool.map(kills, [tmp_path / "a", tmp_path / "b"], [1234, 4321]))
    assert committed > 10  # the kills landed over many writes, not only at start-up


def test_readers_see_a_consistent_snapshot_during_updates(tmp_path):
    home, name = tmp_path / "home", "busy"
    assert child(home, name, 1).wait(60) == 0
    writer = child(home, name, 25)
    reads = 0
    while writer.poll() is None:
        assert_whole(home, name)  # never raises, never mixes generations
        reads += 1
    assert writer.returncode == 0 and reads > 5


def test_second_writer_fails_fast_with_a_clear_message(tmp_path, cli):
    from embedsearch.home import Home

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("def a():\n    return 1\n")
    with Home(tmp_path / "home").lock("held"):
        r = cli("--home", tmp_path / "home", "index", src, "--name", "held", "--model", FAKE)
    assert r.exit_code == 1 and "being written by another process" in r.output


def test_two_writer_processes_racing_take_turns_and_lose_nothing(tmp_path):
    """Two processes write the same index at once, five generations each (a lock wait of
    10 s): every write lands, one after the other, and the index is whole at the end."""
    home, name = tmp_path / "home", "race"
    procs = [child(home, name, 5), child(home, name, 5)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all(out.count("wrote") == 5 for out in outs)
    assert json.loads((home / name / "manifest.json").read_text())["generation"] == 10
    assert assert_whole(home, name) >= 500


def test_two_index_commands_racing_end_whole_or_refused_clearly(tmp_path):
    """Two real `embedsearch index` processes on the same name (the fake encoder, slowed so
    that the runs overlap: the lock is what this checks): each either writes the index or,
    when the other holds the lock, says so in one line; the index is whole."""
    from tests.conftest import copy_stdlib

    corpus = copy_stdlib(tmp_path / "src", ["shlex.py"])
    home = tmp_path / "home"
    cmd = [sys.executable, "-m", "tests.cli_child", "--encode-delay", "1", "--home", str(home), "index", str(corpus),
           "--model", FAKE, "--name", "both"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes in ([0, 0], [0, 1]), outs
    for p, out in zip(procs, outs):
        if p.returncode == 1:
            lines = out.strip().splitlines()  # one line, naming the holder when it has recorded itself
            assert len(lines) == 1 and re.fullmatch(
                r"Error: index 'both' is being written by another process( \(pid \d+: embedsearch --home \S+ "
                r"index \S+ --model \S+ --name both, since \d\d:\d\d:\d\d\))?; try again when it finishes \(or give --wait\)", lines[0]), lines
    assert check(home, "both").ok
    index = Index(home, "both")
    try:
        assert index.count == index.db.execute("SELECT COUNT(*) FROM items").fetchone()[0] > 10
    finally:
        index.close()


def test_full_disk_keeps_the_previous_index(tmp_path):
    home, name = tmp_path / "home", "full"
    assert child(home, name, 1).wait(60) == 0
    before = (home / name / "manifest.json").read_text()
    proc = child(home, name, 1, "40000")  # files may not grow past 40 kB: like a full disk
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "cannot write index 'full'" in out and "previous version of the index is unchanged" in out
    assert (home / name / "manifest.json").read_text() == before
    assert assert_whole(home, name) >= 500
    generation = json.loads(before)["generation"]
    assert not list((home / name).glob(f"*-{generation + 1}.*"))  # partial files removed


def test_read_only_folder_is_reported(tmp_path):
    home, name = tmp_path / "home", "ro"
    assert child(home, name, 1).wait(60) == 0
    before = (home / name / "manifest.json").read_text()
    folder = home / name
    if os.geteuid() == 0:  # root writes through permissions: mount the folder read-only instead
        if not shutil.which("unshare"):
            pytest.skip("running as root without unshare: cannot make a read-only folder")
        script = (f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder} && "
                  f"exec {sys.executable} -m tests.store_child {home} {name} 1")
        proc = subprocess.Popen(["unshare", "-m", "sh", "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    else:
        folder.chmod(0o555)
        proc = child(home, name, 1)
    out, _ = proc.communicate(timeout=60)
    folder.chmod(0o755)
    if "mount:" in out or "unshare:" in out:
        pytest.skip(f"cannot mount a read-only folder here: {out.strip()}")
    assert proc.returncode == 1 and "cannot write index 'ro'" in out
    assert "Read-only file system" in out or "Permission denied" in out
    assert (home / name / "manifest.json").read_text() == before
    assert_whole(home, name)


def test_check_and_repair_damaged_files(tmp_path, cli):
    home, name = tmp_path / "home", "dmg"
    assert child(home, name, 1).wait(60) == 0
    count = assert_whole(home, name)
    manifest = json.loads((home / name / "manifest.json").read_text())

    vectors = home / name / manifest["files"]["vectors"]["file"]
    data = bytearray(vectors.read_bytes())
    data[len(data) // 2] ^= 0x40  # one flipped bit
    vectors.write_bytes(bytes(data))
    index = Index(home, name)  # the graph is intact: opening and HNSW search need no vectors file
    with pytest.raises(EmbedsearchError, match="does not match its digest"):
        index.vectors  # ...which is verified the first time it is used
    index.close()
    r = cli("--home", home, "check", name)
    assert r.exit_code == 1 and "vectors file" in r.output and "corrupted" in r.output
    r = cli("--home", home, "repair", name)
    assert r.exit_code == 0 and "restored the vectors from the HNSW graph" in r.output
    assert assert_whole(home, name) == count

    manifest = json.loads((home / name / "manifest.json").read_text())
    graph = home / name / manifest["files"]["hnsw"]["file"]
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 3])  # truncated
    r = cli("--home", home, "search", name, "anything")
    assert r.exit_code == 1 and "truncated" in r.output and "Traceback" not in r.output
    done = repair(home, name)
    assert done["vectors"] == "kept the intact vectors file" and assert_whole(home, name) == count

    (home / name / "manifest.json").write_text("{garbage")
    assert not check(home, name).ok
    done = repair(home, name)  # the manifest is rebuilt from what the metadata DB remembers
    assert done["items"] == count and assert_whole(home, name) == count
    r = cli("--home", home, "check", name, "--recall", "--json")
    report = json.loads(r.output)
    assert r.exit_code == 0 and report["ok"] and report["facts"]["recall_at_10"] >= 0.9
    assert report["facts"]["filtered_recall_at_10"] >= 0.9 and 10 <= report["facts"]["filtered_rows"] < count / 5


def test_a_graph_known_intact_is_trusted_only_while_unchanged(tmp_path, monkeypatch):
    """Opening an index hashes its HNSW graph once and remembers it (stamps.py); a bit
    flipped after that, even with the old modification time put back, is still caught."""
    from embedsearch import stamps

    home, name = tmp_path / "home", "stamped"
    assert child(home, name, 1).wait(60) == 0
    manifest = json.loads((home / name / "manifest.json").read_text())
    graph = home / name / manifest["files"]["hnsw"]["file"]
    Index(home, name).close()  # written a moment ago: too fresh to stamp (racy timestamps)
    assert graph.name not in stamps._read(home / name)

    monkeypatch.setattr(stamps, "SETTLE_NS", 0)
    Index(home, name).close()
    remembered = stamps._read(home / name)[graph.name]
    assert remembered[-1] == manifest["files"]["hnsw"]["sha256"]

    st = graph.stat()
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0x01
    graph.write_bytes(bytes(data))
    os.utime(graph, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime: ctime still moves
    with pytest.raises(EmbedsearchError, match="hnsw file .* does not match its digest"):
        Index(home, name)


def _wait_for(condition, proc, timeout: float = 180.0) -> bool:
    """Poll until `condition()` holds while `proc` runs; False if it ended or time ran out."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def _lock_held(path: Path) -> bool:
    from filelock import FileLock, Timeout

    if not path.exists():
        return False
    try:
        FileLock(str(path), timeout=0).acquire().lock.release()
        return False
    except Timeout:
        return True


def test_killing_the_real_index_command_then_rerunning(tmp_path):
    """SIGKILL `embedsearch index` (real encoder) in observed phases, each asserted to be the
    phase the kill landed in: while the encoder loads and exports (writer's lock held, no
    export yet), while it embeds (export complete, no generation file yet), and during an
    update (the next generation's files appearing). Each time the index is whole or absent,
    and a rerun finishes the job."""
    from tests.conftest import copy_stdlib

    corpus = copy_stdlib(tmp_path / "src", ["textwrap.py", "shlex.py"])
    home = tmp_path / "home"
    cmd = [sys.executable, "-m", "embedsearch", "--home", str(home), "index", str(corpus), "--name", "k", "--json"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    exports = home / ".cache" / "onnx"

    def exported() -> bool:
        return any(exports.glob("*/encoder.json"))

    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert _wait_for(lambda: _lock_held(home / ".k.lock"), proc), "never saw the writer start"
    assert not exported()  # the kill lands while the encoder loads or exports
    proc.kill()
    proc.wait()
    assert not (home / "k" / "manifest.json").exists() and not list(home.glob("k/*-*.*"))

    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert _wait_for(exported, proc), "never saw the export finish"
    assert _lock_held(home / ".k.lock") and not list(home.glob("k/vectors-*"))  # embedding, nothing written
    proc.kill()
    proc.wait()
    assert not (home / "k" / "manifest.json").exists()

    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    assert first["chunks"] > 20 and check(home, "k").ok

    text = (corpus / "shlex.py").read_text()
    (corpus / "shlex.py").write_text(text + "\n\ndef brand_new_helper():\n    return 42\n")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    seen = _wait_for(lambda: (home / "k" / "vectors-2.npy").exists(), proc)
    proc.kill()
    proc.wait()
    generation = json.loads((home / "k" / "manifest.json").read_text())["generation"]
    assert seen or generation == 2  # killed while writing generation 2, or it had just committed
    assert check(home, "k").ok  # the old generation or the new one, whole
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0
    rerun = json.loads(done.stdout)
    assert rerun["up_to_date"] or (rerun["added"] >= 1 and rerun["embedded"] <= rerun["added"] + rerun["changed"])
    with Index(home, "k") as index:
        assert "brand_new_helper" in {i.name for i in index.all_items()}


def test_odd_queries_get_answers_or_one_line(stdlib_index, cli):
    home, name, _ = stdlib_index
    for query in ("😀🔥 delete", "удалить каталог рекурсивно", "删除目录", "x" * 100_000, "def f(:\n\t\x00"):
        r = cli("--home", home, "search", name, query, "-k", "3", "--json")
        assert r.exit_code == 0 and len(r.output.splitlines()) == 3
    for query in ("", "   \n\t "):
        r = cli("--home", home, "search", name, query)
        assert r.exit_code == 1 and r.output.strip().endswith("empty query: say what you are looking for")


def test_strange_files_are_handled_and_counted(tmp_path, cli):
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.py").write_text("def fine():\n    return 'fine'\n")
    (src / "nul.py").write_bytes(b"def a():\n    return 1\n" + b"\x00" * 10)
    (src / "longline.js").write_text("var x = '" + "a" * 200_000 + "';\n")
    (src / "crlf.py").write_bytes(b"def windows():\r\n\treturn 'crlf'\r\n")
    (src / "dangling.py").symlink_to(tmp_path / "nowhere.py")
    (src / "loop").symlink_to(src)
    os.mkfifo(src / "pipe.py")
    (src / "big.md").write_text("# big\n" + "word " * 300_000)
    r = cli("--home", tmp_path / "home", "index", src, "--name", "odd", "--json", "--model", FAKE)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["files_read"] == 3  # ok.py, longline.js, crlf.py
    assert summary["skipped"] == {"binary": 1, "broken link or unreadable": 1, "symlinked folder (not followed)": 1,
                                  "not a regular file": 1, "larger than 1,000,000 bytes": 1}
    rows = [json.loads(x) for x in cli("--home", tmp_path / "home", "search", "odd", "windows", "--json").output.splitlines()]
    assert {"fine", "windows"} <= {x["name"] for x in rows}
    long = next(x for x in rows if x["path"].endswith("longline.js"))
    assert len(long["text"]) > 200_000  # stored whole, though the encoder read only its start


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError])
def test_nothing_is_rolled_back_after_the_manifest_is_replaced(tmp_path, monkeypatch, failure):
    """Ctrl-C or an I/O error at the folder's fsync, just after the manifest rename: the new
    generation was committed and stays whole (it used to be deleted under a manifest that
    still named it, with "the previous version is unchanged" printed)."""
    import warnings

    import embedsearch.fileio as fileio
    from embedsearch.ann import HnswParams
    from embedsearch.codeindex.store import write_generation
    from tests.store_child import MANIFEST, generation

    home, name = tmp_path / "home", "commit"
    (home / name).mkdir(parents=True)
    vectors, rows = generation(1)
    write_generation(home, name, MANIFEST, vectors, rows, HnswParams(M=8, ef_construction=40))
    real = fileio.fsync_path

    def fail_on_folder(path):
        if Path(path).is_dir():
            raise failure() if failure is KeyboardInterrupt else OSError(5, "Input/output error")
        real(path)

    monkeypatch.setattr(fileio, "fsync_path", fail_on_folder)
    vectors, rows = generation(2)
    if failure is KeyboardInterrupt:
        with pytest.raises(KeyboardInterrupt):
            write_generation(home, name, MANIFEST, vectors, rows, HnswParams(M=8, ef_construction=40))
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            written = write_generation(home, name, MANIFEST, vectors, rows, HnswParams(M=8, ef_construction=40))
        assert written["generation"] == 2 and "was written (generation 2)" in str(caught[0].message)
    monkeypatch.setattr(fileio, "fsync_path", real)
    assert json.loads((home / name / "manifest.json").read_text())["generation"] == 2
    assert assert_whole(home, name) == len(rows)


def test_a_symlink_planted_at_the_manifest_temp_is_not_written_through(tmp_path):
    from embedsearch.ann import HnswParams
    from embedsearch.codeindex.store import write_generation
    from tests.store_child import MANIFEST, generation

    home, name = tmp_path / "home", "planted"
    (home / name).mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (home / name / "manifest.json.tmp").symlink_to(victim)
    vectors, rows = generation(3)
    write_generation(home, name, MANIFEST, vectors, rows, HnswParams(M=8, ef_construction=40))
    assert victim.read_text() == "precious"
    assert assert_whole(home, name) == len(rows)


@pytest.mark.parametrize("damage", ["delete", "truncate", "flip"])
def test_repair_never_pairs_one_generations_items_with_anothers_vectors(tmp_path, damage):
    """Update an index so ids shift, then damage the new generation's metadata DB: repair
    falls back to the previous generation's rows, and those rows must get their own vectors
    (that generation's two agreeing copies, or their texts embedded again), never the newer
    generation's vectors, whose row i is another chunk. It used to report success with a
    third of the rows carrying another chunk's vector ("split like a shell" answered `join`)."""
    from embedsearch.codeindex.indexing import build_index, chunk_vectors
    from embedsearch.codeindex.search import query_encoder
    from tests.conftest import copy_stdlib

    corpus = copy_stdlib(tmp_path / "src", ["shlex.py"])
    home = tmp_path / "home"
    build_index("ids", [str(corpus)], home, model=FAKE)  # the encoder is not what this checks
    source = corpus / "shlex.py"
    source.write_text('"""Shifted."""\n\ndef first():\n    """Comes first now."""\n    return 1\n\n\n'
                      + source.read_text())
    build_index("ids", None, home)
    manifest = json.loads((home / "ids" / "manifest.json").read_text())
    db = home / "ids" / manifest["files"]["items"]["file"]
    if damage == "delete":
        db.unlink()
    elif damage == "truncate":
        db.write_bytes(db.read_bytes()[:4096])
    else:
        data = bytearray(db.read_bytes())
        for i in range(100, len(data), 997):
            data[i] ^= 0xFF
        db.write_bytes(bytes(data))
    done = repair(home, "ids")
    assert done["from_generation"] == manifest["generation"] - 1 and "brings it up to date" in done["vectors"]
    assert check(home, "ids").ok
    index = Index(home, "ids")
    try:
        items = index.all_items()
        stored = np.asarray(index.vectors)
        fresh, _ = chunk_vectors(items, index.manifest["options"]["representation"], query_encoder(index))
    finally:
        index.close()
    assert float((stored * fresh).sum(axis=1).min()) > 0.999  # every row holds its own chunk's vector


def test_with_no_trustworthy_rows_repair_reads_the_recorded_sources_again(tmp_path, cli):
    """The only metadata DB has one altered byte (in a chunk's text): no row can be trusted,
    so repair makes the index again from the sources its manifest records (it used to
    refuse), and refuses in one line when those sources are gone."""
    from embedsearch.codeindex.indexing import build_index
    from tests.conftest import copy_stdlib

    corpus = copy_stdlib(tmp_path / "src", ["shlex.py"])
    home = tmp_path / "home"
    build_index("one", [str(corpus)], home, model=FAKE)
    db = home / "one" / "items-1.sqlite"
    data = bytearray(db.read_bytes())
    data[data.find(b"def split(") + 4] = ord("X")
    db.write_bytes(bytes(data))
    assert not check(home, "one").ok
    done = repair(home, "one")
    assert "recorded sources were read and embedded again" in done["vectors"] and done["generation"] == 2
    assert check(home, "one").ok
    with Index(home, "one") as index:
        (text,) = index.db.execute("SELECT text FROM items WHERE name = 'split'").fetchone()
    assert text.startswith("def split(")  # the text as the source has it, not the altered one
    db = home / "one" / "items-2.sqlite"
    data = bytearray(db.read_bytes())
    data[data.find(b"def split(") + 4] = ord("X")
    db.write_bytes(bytes(data))
    (home / "one" / "items-1.sqlite").unlink()
    shutil.rmtree(corpus)
    r = cli("--home", home, "repair", "one")
    assert r.exit_code == 1 and "sources are not known or gone" in r.output and len(r.output.splitlines()) == 1


def test_the_writer_holds_its_lock_for_the_whole_run(tmp_path, cli):
    """While an `index` run is embedding, a second `index` and an `rm` of the same name are
    refused at once (they used to be let through: the lock was taken only at commit, so an
    update could be lost and a removed index came back); afterwards the index is whole."""
    from filelock import FileLock, Timeout

    from tests.conftest import copy_stdlib

    from embedsearch.codeindex.indexing import build_index

    corpus = copy_stdlib(tmp_path / "src", ["shutil.py", "csv.py"])
    home = tmp_path / "home"
    build_index("busy", [str(corpus)], home, model=FAKE)  # the lock is what this checks, not the encoder
    cmd = [sys.executable, "-m", "tests.cli_child", "--encode-delay", "2", "--home", str(home), "index", str(corpus),
           "--name", "busy", "--rebuild"]
    writer = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    held = False
    deadline = time.monotonic() + 120
    while writer.poll() is None and time.monotonic() < deadline and not held:
        if (home / ".busy.lock").exists():
            try:
                FileLock(str(home / ".busy.lock"), timeout=0).acquire().lock.release()
            except Timeout:
                held = True
                break
        time.sleep(0.05)
    assert held, "the writer never held its lock while running"
    second = cli("--home", home, "index", corpus, "--name", "busy")
    removed = cli("--home", home, "rm", "busy")
    out, _ = writer.communicate(timeout=300)
    assert writer.returncode == 0, out
    assert second.exit_code == 1 and "being written by another process" in second.output
    assert removed.exit_code == 1 and "being written by another process" in removed.output
    assert (home / "busy" / "manifest.json").exists()
    assert check(home, "busy").ok


def test_a_failed_first_build_leaves_no_folder(tmp_path, cli):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli("--home", tmp_path / "home", "index", empty, "--name", "nothing", "--model", FAKE)
    assert r.exit_code == 1 and "no text to index" in r.output
    assert not (tmp_path / "home" / "nothing").exists()


def test_planted_home_contents_delete_nothing_outside_the_home(tmp_path, cli):
    """The home is untrusted input: a tables.json entry named "../../victim" makes `tables
    rm` forget the entry but delete nothing, and `rm` of an index folder that is a symlink
    is refused (it used to delete the files it points to)."""
    home = tmp_path / "home"
    home.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    (home / "tables.json").write_text(json.dumps({"../../victim": {"kind": "file", "path": "/x", "count": 1,
                                                                   "dim": 1}}))
    r = cli("--home", home, "tables", "rm", "../../victim")
    assert (victim / "keep.txt").read_text() == "precious"
    assert "Traceback" not in r.output
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "manifest.json").write_text("{}")
    (elsewhere / "data.bin").write_text("precious")
    (home / "linked").symlink_to(elsewhere)
    r = cli("--home", home, "rm", "linked")
    assert r.exit_code == 1 and "symbolic link" in r.output
    assert (elsewhere / "data.bin").read_text() == "precious"


def test_check_sees_an_edited_manifest_and_repair_restores_it(tmp_path, cli):
    """An edited encoder digest in manifest.json: search refuses, and check must say so
    (it used to say ok); repair puts back what the writer recorded."""
    from embedsearch.codeindex.indexing import build_index
    from tests.conftest import copy_stdlib

    home = tmp_path / "home"
    build_index("ed", [str(copy_stdlib(tmp_path / "src", ["shlex.py"]))], home, model=FAKE)  # any recorded digest
    path = home / "ed" / "manifest.json"
    manifest = json.loads(path.read_text())
    digest = manifest["encoder"]["digest"]
    manifest["encoder"]["digest"] = "0" * len(digest)
    path.write_text(json.dumps(manifest))
    r = cli("--home", home, "check", "ed")
    assert r.exit_code == 1 and "the manifest's encoder is not what the writer recorded" in r.output
    cli("--home", home, "repair", "ed")
    assert json.loads(path.read_text())["encoder"]["digest"] == digest
    assert check(home, "ed").ok
    r = cli("--home", home, "search", "ed", "a lexical analyzer for shell-like syntaxes", "-k", "1", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["name"]  # the encoder matches again: answered


def test_leftovers_of_killed_saves_and_exports_are_collected(tmp_path):
    """A killed `cf train` leaves `.m.old-*`/`.m.tmp-*` folders (they used to be listed as
    models forever) and a killed ONNX export a 50-90 MB temp folder: neither is listed, and
    the next save or export removes them."""
    import time

    from embedsearch.onnx_encoder import STALE_EXPORT_SECONDS, collect_stale_exports
    from embedsearch.home import Home

    home = tmp_path / "home"
    for leftover in (".m.old-123", ".m.tmp-abc"):
        (home / leftover).mkdir(parents=True)
        (home / leftover / "manifest.json").write_text(json.dumps({"kind": "cf", "format": 1}))
    assert Home(home).names() == []
    cache = home / ".cache" / "onnx"
    stale, fresh = cache / ".d1g3st-old", cache / ".d1g3st-new"
    for p in (stale, fresh):
        p.mkdir(parents=True)
        (p / "model.onnx.data").write_bytes(b"x" * 10)
    past = time.time() - STALE_EXPORT_SECONDS - 60
    os.utime(stale, (past, past))
    assert collect_stale_exports(cache) == [stale] and fresh.exists() and not stale.exists()


def test_a_cf_save_collects_a_killed_saves_folders(tmp_path):
    from embedsearch.cf.workflow import TrainRequest, train_and_save
    from embedsearch.cf.train import TrainOptions
    from tests.cf_synthetic import write

    home = tmp_path / "home"
    (home / ".syn.old-999").mkdir(parents=True)
    (home / ".syn.tmp-xyz").mkdir()
    ratings, items, _, _ = write(tmp_path / "data")
    train_and_save(home, TrainRequest(data=str(ratings), items=str(items), name="syn",
                                      options=TrainOptions(epochs=4, bs=64)))
    assert not (home / ".syn.old-999").exists() and not (home / ".syn.tmp-xyz").exists()
    assert (home / "syn" / "manifest.json").exists()


def test_an_altered_chunk_text_is_never_served_or_kept(tmp_path, cli):
    """A flipped byte inside a stored chunk's text leaves the SQLite file valid; readers used
    to serve it and repair kept it. Now opening refuses (the items DB's digest), check says
    so, and repair goes back to the previous generation's rows instead of keeping it."""
    from embedsearch.errors import Damaged
    from embedsearch.codeindex.indexing import build_index
    from tests.conftest import copy_stdlib

    corpus = copy_stdlib(tmp_path / "src", ["shlex.py"])
    home = tmp_path / "home"
    build_index("alt", [str(corpus)], home, model=FAKE)
    (corpus / "shlex.py").write_text((corpus / "shlex.py").read_text() + "\n\ndef extra():\n    return 1\n")
    build_index("alt", None, home)
    manifest = json.loads((home / "alt" / "manifest.json").read_text())
    db = home / "alt" / manifest["files"]["items"]["file"]
    data = db.read_bytes()
    at = data.index(b"punctuation_chars")
    db.write_bytes(data[:at] + b"PUNCTUATION_CHARS" + data[at + len(b"punctuation_chars"):])
    with pytest.raises(Damaged, match="items file"):
        Index(home, "alt")
    r = cli("--home", home, "check", "alt")
    assert r.exit_code == 1 and "items file" in r.output
    done = repair(home, "alt")
    assert done["from_generation"] == manifest["generation"] - 1
    with Index(home, "alt") as index:
        texts = " ".join(i.text for i in index.all_items())
    assert "PUNCTUATION_CHARS" not in texts and "punctuation_chars" in texts


def test_a_manifest_missing_its_fields_is_damaged_not_an_internal_error(tmp_path, cli):
    from embedsearch.codeindex.indexing import build_index
    from tests.conftest import copy_stdlib

    home = tmp_path / "home"
    build_index("mf", [str(copy_stdlib(tmp_path / "src", ["shlex.py"]))], home, model=FAKE)
    path = home / "mf" / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["files"]
    path.write_text(json.dumps(manifest))
    for args in (("search", "mf", "split"), ("check", "mf"), ("info", "mf")):
        r = cli("--home", home, *args)
        assert r.exit_code == 1 and "lacks files" in r.output and "internal error" not in r.output, args
    r = cli("--home", home, "repair", "mf")
    assert r.exit_code == 0 and "newest metadata was damaged" not in r.output
    assert check(home, "mf").ok


def test_registry_and_stamp_writes_leave_no_temps_and_wait_in_one_line(tmp_path, monkeypatch):
    """Failed or killed registry writes used to leave `.tables.json.PID.tmp` files and
    killed readers `.verified.json*` temps; the registry now writes through the one atomic
    write, stale stamp temps are collected, and a registry writer that waits too long for
    another is one Busy line, not a filelock traceback."""

    from filelock import FileLock

    from embedsearch import stamps
    from embedsearch.errors import Busy
    from embedsearch.tables import registry

    home = tmp_path / "home"
    words = tmp_path / "w.txt"
    words.write_text("2 2\nking 1 0\nqueen 0 1\n")
    registry.add_file(home, "w", words)
    registry.remove(home, "w")
    assert not [p.name for p in home.iterdir() if p.name.endswith(".tmp")]

    folder = tmp_path / "idx"
    folder.mkdir()
    stale, fresh = folder / f"{stamps.STAMPS}abc123", folder / f"{stamps.STAMPS}def456"
    stale.write_text("{}")
    fresh.write_text("{}")
    past = time.time() - 3600
    os.utime(stale, (past, past))
    stamps._write(folder, {})
    assert not stale.exists() and fresh.exists() and (folder / stamps.STAMPS).exists()

    import embedsearch.home

    monkeypatch.setattr(embedsearch.home, "COMMIT_WAIT", 0.1)
    with FileLock(str(home / ".tables.json.lock")):
        with pytest.raises(Busy, match="table registry"):
            registry.add_file(home, "w2", words)


def test_repair_keeps_no_vectors_that_are_not_their_texts(tmp_path):
    """A generation whose two copies of the vectors agree with each other and with the
    manifest but belong to other rows (as a buggy writer would leave it) passes every digest;
    repair re-encodes a sample, sees the mismatch and embeds the texts again instead of
    keeping the pairing."""
    from embedsearch.ann import HnswParams
    from embedsearch.codeindex.indexing import build_index, chunk_vectors
    from embedsearch.codeindex.search import query_encoder
    from embedsearch.codeindex.store import read_items, write_generation
    from tests.conftest import copy_stdlib

    home = tmp_path / "home"
    build_index("rot", [str(copy_stdlib(tmp_path / "src", ["shlex.py"]))], home, model=FAKE)
    with Index(home, "rot") as index:
        manifest, vectors = index.manifest, np.roll(np.asarray(index.vectors), 1, axis=0)
        rows = read_items(home / "rot" / manifest["files"]["items"]["file"])
    base = {k: manifest[k] for k in ("kind", "encoder", "sources", "options", "created")}
    write_generation(home, "rot", base, vectors, rows, HnswParams.from_dict(manifest["hnsw"]))
    assert check(home, "rot").ok  # nothing on disk can tell
    done = repair(home, "rot")
    assert "disagreed with their re-encoded texts" in done["vectors"]
    with Index(home, "rot") as index:
        items = index.all_items()
        fresh, _ = chunk_vectors(items, index.manifest["options"]["representation"], query_encoder(index))
        assert float((np.asarray(index.vectors) * fresh).sum(axis=1).min()) > 0.999


def test_repair_passes_over_metadata_whose_rows_do_not_parse(tmp_path):
    """The previous generation's items DB is sound to SQLite but one row's metadata is not
    JSON, and the current DB is gone: repair must not take (and crash on) that DB; with no
    metadata left to trust it reads the recorded sources again."""
    import sqlite3

    from embedsearch.codeindex.indexing import build_index
    from tests.conftest import copy_stdlib

    corpus = copy_stdlib(tmp_path / "src", ["shlex.py"])
    home = tmp_path / "home"
    build_index("meta", [str(corpus)], home, model=FAKE)
    (corpus / "shlex.py").write_text((corpus / "shlex.py").read_text() + "\n\ndef added():\n    return 1\n")
    build_index("meta", None, home)
    db = sqlite3.connect(home / "meta" / "items-1.sqlite")
    db.execute("UPDATE items SET meta = '{not json' WHERE id = 3")
    db.commit()
    db.close()
    (home / "meta" / "items-2.sqlite").unlink()
    done = repair(home, "meta")
    assert "read and embedded again" in done["vectors"]
    assert check(home, "meta").ok
    with Index(home, "meta") as index:
        assert "added" in {i.name for i in index.all_items()}


def test_repair_with_a_manifest_entry_missing_its_file_name(tmp_path):
    """Found by the property test: damaged vectors and a manifest whose graph entry lost its
    `file` made repair fail with KeyError; an incomplete entry vouches for nothing."""
    from embedsearch.codeindex.indexing import build_index
    from tests.conftest import copy_stdlib

    home = tmp_path / "home"
    build_index("gap", [str(copy_stdlib(tmp_path / "src", ["shlex.py"]))], home, model=FAKE)
    path = home / "gap" / "manifest.json"
    manifest = json.loads(path.read_text())
    vectors = home / "gap" / manifest["files"]["vectors"]["file"]
    vectors.write_bytes(vectors.read_bytes()[:-64] + bytes(64))
    del manifest["files"]["hnsw"]["file"]
    path.write_text(json.dumps(manifest))
    done = repair(home, "gap")
    assert "re-embedded the stored texts" in done["vectors"] and check(home, "gap").ok
