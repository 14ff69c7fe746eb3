"""Remember which index files (and tables' cached HNSW graphs) were found intact, so each
query need not re-hash them.

Opening an index checks its files against the sha256 digests in the manifest: a damaged
HNSW graph is reported instead of crashing hnswlib. Hashing the 40 MB graph of a
23,000-chunk index takes ~40 ms of every cold query, and generation files never change
once written. So after a file hashes correctly, its stat identity (size, mtime, ctime,
inode, device) is recorded beside it in `.verified.json`; while the identity is the same,
the file is the same. Any write to a file through the file system moves its ctime, which
user space cannot set back, so a file edited, truncated, replaced or restored from a copy
is hashed again (git trusts its index the same way).

A file changed less than SETTLE_NS ago is never stamped: timestamps are kept to a coarse
clock tick, and a second write within the tick of the first would go unseen ("racy git").
The stamp file is a cache: written atomically when it can be, silently not written when
it cannot (a read-only index), and a missing or unreadable one only costs a re-hash.
`embedsearch check` never uses it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from embedsearch.fileio import stream_digest

STAMPS = ".verified.json"
SETTLE_NS = 1_000_000_000


def digest_matches(fh: BinaryIO, sha256: str, folder: Path) -> bool:
    """Whether the open file `fh` (a file of index folder `folder`) has digest `sha256`,
    hashing it only when it is not known intact from an earlier check."""
    name = os.path.basename(fh.name)
    before = _identity(fh)
    stamps = _read(folder)
    if stamps.get(name) == [*before, sha256]:
        return True
    if stream_digest(fh) != sha256:
        return False
    settled = time.time_ns() - max(before[1], before[2]) > SETTLE_NS
    if settled and _identity(fh) == before:
        stamps[name] = [*before, sha256]
        _write(folder, {n: s for n, s in stamps.items() if (folder / n).exists()})
    return True


def _identity(fh: BinaryIO) -> list[int]:
    st = os.fstat(fh.fileno())
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _read(folder: Path) -> dict:
    try:
        stamps = json.loads((folder / STAMPS).read_text())
    except (OSError, ValueError):
        return {}
    return stamps if isinstance(stamps, dict) else {}


STALE_TEMP_NS = 60 * 10**9  # a stamp write takes microseconds: a temp this old was left by a kill


def _write(folder: Path, stamps: dict) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=STAMPS, dir=folder)
    except OSError:  # a read-only index: verify every time
        return
    now = time.time_ns()
    for old in folder.glob(f"{STAMPS}?*"):  # temps of readers killed mid-write, never a live one
        try:
            if str(old) != tmp and now - old.stat().st_mtime_ns > STALE_TEMP_NS:
                old.unlink()
        except OSError:
            continue
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(stamps, out)
        os.replace(tmp, folder / STAMPS)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
