"""Small file helpers shared by everything that writes durably or checks what it reads."""

from __future__ import annotations

import hashlib
import os
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
