"""Small file helpers shared by everything that writes durably or checks what it reads."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks."""
    with open(path, "rb") as fh:
        return stream_digest(fh, algorithm)


def stream_digest(fh: BinaryIO, algorithm: str = "sha256") -> str:
    """Hex digest of an open binary file from its start, read in 1 MiB blocks."""
    h = hashlib.new(algorithm)
    fh.seek(0)
    for block in iter(lambda: fh.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()


def fsync_path(path: Path) -> None:
    """Flush a file's (or a folder's) data to disk, so a rename after it is durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to a temporary name, fsync it, rename it over `path`, fsync the folder:
    a reader sees the old file or the new one, never a torn write. The temporary file is
    created new (O_EXCL | O_NOFOLLOW) after removing whatever had its name, so a symlink
    planted there is removed, never written through."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def replace_folder(target: Path, write: Callable[[Path], None]) -> Path:
    """Replace the folder `target` as one unit: `write(tmp)` fills a fresh temporary folder
    beside it, every file is fsynced, the old folder is moved aside and the new one renamed
    into place; an interruption between the two renames puts the old one back, so a reader
    finds the old folder or the new one, never a mix. Leftovers of a killed earlier
    replacement (`.NAME.tmp-*`, `.NAME.old-*`) are removed first. The caller holds the lock
    that serialises writers of `target`."""
    parent, name = target.parent, target.name
    parent.mkdir(parents=True, exist_ok=True)
    for leftover in [*parent.glob(f".{name}.tmp-*"), *parent.glob(f".{name}.old-*")]:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=parent))
    try:
        write(tmp)
        for f in tmp.iterdir():
            fsync_path(f)
        old = None
        if target.exists():
            old = parent / f".{name}.old-{os.getpid()}"
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except BaseException:
            if old is not None and not target.exists():
                os.replace(old, target)  # interrupted between the two renames: the old folder returns
            raise
        fsync_path(parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
