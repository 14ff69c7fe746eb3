"""Which files get read, and every skip counted by reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedsearch.errors import EmbedsearchError
from embedsearch.walk import discover


def write(path: Path, content: str | bytes = "x = 1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def test_walk_skips_vcs_venvs_gitignored_large_and_unknown_files(tmp_path: Path):
    write(tmp_path / "pkg" / "a.py")
    write(tmp_path / "pkg" / "notes.md", "# hi\n")
    write(tmp_path / ".git" / "config.py")
    write(tmp_path / "env" / "pyvenv.cfg", "home = /usr\n")
    write(tmp_path / "env" / "lib" / "b.py")
    write(tmp_path / ".gitignore", "build/\n*.gen.py\n")
    write(tmp_path / "build" / "c.py")
    write(tmp_path / "pkg" / "d.gen.py")
    write(tmp_path / "pkg" / "sub" / ".gitignore", "local.py\n")
    write(tmp_path / "pkg" / "sub" / "local.py")
    write(tmp_path / "pkg" / "sub" / "kept.py")
    write(tmp_path / "pkg" / "image.png", b"\x89PNG\x00\x00")
    write(tmp_path / "pkg" / "big.py", "x = 1\n" * 1000)

    walk = discover([tmp_path], max_bytes=2000)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in walk.files)
    assert names == ["pkg/a.py", "pkg/notes.md", "pkg/sub/kept.py"]
    assert walk.skipped["version-control or cache folder"] == 1
    assert walk.skipped["virtual environment"] == 1
    assert walk.skipped["ignored by .gitignore"] == 3
    assert walk.skipped["unsupported file type"] >= 1
    assert walk.skipped["larger than 2,000 bytes"] == 1


def test_explicit_file_is_read_whatever_its_suffix(tmp_path: Path):
    f = write(tmp_path / "script.weird", "echo hi\n")
    assert discover([f]).files == [f.absolute()]


def test_missing_path_is_a_clear_error(tmp_path: Path):
    with pytest.raises(EmbedsearchError, match="no such file or folder"):
        discover([tmp_path / "nope"])


def test_exclude_patterns_and_symlink_loops(tmp_path: Path):
    write(tmp_path / "src" / "a.py")
    write(tmp_path / "src" / "tests" / "test_a.py")
    (tmp_path / "src" / "loop").symlink_to(tmp_path / "src")
    walk = discover([tmp_path], exclude=["tests/"])
    assert [p.name for p in walk.files] == ["a.py"]
    assert walk.skipped["excluded by --exclude"] == 1
    assert walk.skipped["symlinked folder (not followed)"] == 1


def test_file_symlinks_leaving_the_tree_are_not_followed(tmp_path):
    """A planted `tree/passwd.md -> /etc/passwd` is skipped and counted; a link to a file
    inside the tree is read as before."""
    outside = tmp_path / "secret.md"
    outside.write_text("# secret\nnot for the index\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "notes.md").write_text("# notes\nkept\n")
    (tree / "leak.md").symlink_to(outside)
    (tree / "alias.md").symlink_to(tree / "notes.md")
    walk = discover([str(tree)])
    names = sorted(p.name for p in walk.files)
    assert names == ["alias.md", "notes.md"]
    assert walk.skipped["symlink out of the indexed folder (not followed)"] == 1
