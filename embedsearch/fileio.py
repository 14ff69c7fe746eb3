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
    commit_file(tmp, path)


def commit_file(tmp: Path, path: Path) -> None:
    """The commit protocol for one file written to a temporary name beside `path`: fsync
    it, rename it over `path` (atomic within a folder), fsync the folder so the rename
    itself survives a power cut."""
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent)


def replace_folder(target: Path, write: Callable[[Path], None]) -> Path:
    """Replace the folder `target` as one unit: `write(tmp)` fills a fresh temporary folder
    beside it, every file is fsynced, and the new folder takes the old one's place in one
    atomic exchange (Linux `renameat2(RENAME_EXCHANGE)`), so a reader finds the old folder
    or the new one, never a mix and never none. Where the exchange is not supported, the
    old folder is moved aside first (`.NAME.old-PID`) and the new one renamed in; a kill
    between those two renames leaves no `target`, and the next replacement puts the old
    folder back before anything else. Leftovers of a killed earlier replacement are then
    removed. The caller holds the lock that serialises writers of `target`."""
    parent, name = target.parent, target.name
    parent.mkdir(parents=True, exist_ok=True)
    restore_aside(target)
    for leftover in [*parent.glob(f".{name}.tmp-*"), *parent.glob(f".{name}.old-*")]:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would hide the folder from other users of the home
        write(tmp)
        for f in tmp.iterdir():
            fsync_path(f)
        fsync_path(tmp)
        if target.exists() and exchange(tmp, target):
            fsync_path(parent)  # tmp now holds the old folder, removed below
        elif target.exists():
            old = parent / f".{name}.old-{os.getpid()}"
            os.replace(target, old)
            try:
                os.replace(tmp, target)
            except BaseException:
                if not target.exists():
                    os.replace(old, target)  # interrupted between the two renames: the old folder returns
                raise
            fsync_path(parent)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
            fsync_path(parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def restore_aside(target: Path) -> bool:
    """Put back the folder a replacement moved aside (`.NAME.old-PID`) when it was killed
    before renaming the new one in (only where `exchange` is unsupported). Call under the
    writer's lock. Returns whether one was restored."""
    if target.exists() or target.is_symlink():
        return False
    aside = [p for p in target.parent.glob(f".{target.name}.old-*") if p.is_dir() and not p.is_symlink()]
    if not aside:
        return False
    os.replace(max(aside, key=lambda p: p.stat().st_mtime_ns), target)
    fsync_path(target.parent)
    return True


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 with RENAME_EXCHANGE). False where the
    system or file system does not support it (the caller then falls back); other errors
    are raised as OSError."""
    import ctypes
    import errno

    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def pid_alive(pid: int | str) -> bool:
    """Whether process `pid` is running on this machine: a temporary file a writer named
    by its pid is work in progress while it lives, and a kill's leftover to collect after.
    (A pid reused since keeps a leftover until that process ends too: harmless.)"""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # someone else's process: alive
        pass
    return True
