"""The home folder and everything under it: the one owner of its paths, names, locks and
writes.

    HOME/NAME/               a code or text index (store.py) or a CF model (cf/saved.py),
                             each with a manifest.json that says which
    HOME/.NAME.lock          the lock of NAME's writer, beside the folder
    HOME/tables.json         registered and derived tables (tables/registry.py)
    HOME/.tables.json.lock   its writers' lock
    HOME/.tables/NAME/       a table's parsed rows and the HNSW graphs built for it
    HOME/.cache/KIND/        what can be rebuilt at any time (the encoder's ONNX export)

Where: --home, else $EMBEDSEARCH_HOME, else ./indexes if it exists, else the user's data
folder (platformdirs). Nothing outside this module spells
a path under the home; code asks `Home` for the folder, lock or write it needs.

One lock convention: every writer takes `lock(name)`, a file lock beside what it writes;
a writer of a named folder (an index, a model) gives up at once when another holds it
(or waits, when asked to), while a writer of the small shared registry or of a cache
waits for the other; either way a refusal is one `Busy` line naming the holder. One commit protocol: whatever is written goes to a fresh temporary
name beside its target, is fsynced, and is renamed over the target (`os.replace`, atomic
within a folder), after which the folder is fsynced; a reader sees the old version or the
new one, never a mix, and a killed writer leaves only temporaries the next writer removes.
An index adds generations on top (store.py), committing by the same rename of its
manifest.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from embedsearch.errors import Busy, Damaged, EmbedsearchError, unknown

MANIFEST = "manifest.json"
REGISTRY = "tables.json"
TABLES = ".tables"
CACHE = ".cache"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# a table may be named after a model or index plus "-items" / "-users"
TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,109}$")
RESERVED = {REGISTRY, "README.md"}  # files the home itself keeps (registry, the shipped README)
COMMIT_WAIT = 60.0  # seconds a writer whose work is done waits for another's commit (it takes seconds)


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    """The index home folder (not created here; writers create it when they need it): the
    one given, else $EMBEDSEARCH_HOME, else ./indexes when that folder exists (a project's
    own home), else the user's data folder (platformdirs: ~/.local/share/embedsearch on
    Linux), so indexes follow the user wherever a command is run."""
    if home:
        return Path(home).expanduser()
    env = os.environ.get("EMBEDSEARCH_HOME")
    if env:
        return Path(env).expanduser()
    if Path("indexes").is_dir():
        return Path("indexes")
    import platformdirs

    return Path(platformdirs.user_data_dir("embedsearch"))


def check_name(name: str, what: str = "index") -> str:
    """A name for something under the home (an index, a CF model, a table), safe as a folder
    name: letters, digits, '.', '_' and '-', not starting with '.' or '-', not a file the
    home keeps itself."""
    if name in RESERVED:
        raise EmbedsearchError(f"{name!r} is the name of a file the index home keeps; choose another {what} name")
    if not isinstance(name, str) or not (TABLE_NAME_RE if what == "table" else NAME_RE).match(name or ""):
        raise EmbedsearchError(
            f"invalid {what} name {name!r}: use letters, digits, '.', '_' and '-' (not starting with '.' or '-')"
        )
    return name


def _command() -> str:
    """This process's command line as a user typed it (`embedsearch index src --name x`)."""
    import shlex
    import sys

    first = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return shlex.join(["embedsearch" if first in ("__main__.py", "embedsearch") else first, *sys.argv[1:]])


def _holder(path: Path) -> str:
    """Who holds a lock, as its holder recorded it: " (pid 1234: embedsearch index src
    --name x, since 10:02:03)", or "" when nothing readable was recorded. A holder that
    took the lock a moment ago may not have written its record yet: wait up to 0.2 s."""
    for _ in range(10):
        try:
            who = json.loads(path.read_text(encoding="utf-8"))
            return f" (pid {int(who['pid'])}: {who['command']}, since {who['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            time.sleep(0.02)
    return ""


class Home:
    """A home folder. `Home(path)` with a str, a Path or None (then $EMBEDSEARCH_HOME or
    ./indexes); `os.fspath(home)` is its path, so it goes wherever a path does."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = resolve_home(path)

    @classmethod
    def of(cls, home: "Home | str | os.PathLike | None") -> "Home":
        """`home` itself when it is a Home, else a Home at that path: what every library
        function taking a home does first, so callers may pass a str, a Path or a Home."""
        return home if isinstance(home, Home) else cls(home)

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"Home({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Home) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # ------------------------------------------------------------ named folders

    def folder(self, name: str, what: str = "index") -> Path:
        """HOME/NAME for a valid name (nothing is created)."""
        return self.path / check_name(name, what)

    def names(self, kind: str | None = None) -> list[str]:
        """Names of the folders that hold a manifest (of the given kind: "code", "text",
        "cf"). Folders whose names are not valid names (a writer's `.NAME.tmp-*` or
        `.NAME.old-*` left by a kill) and symlinks are not entries, whatever they hold."""
        if not self.path.is_dir():
            return []
        out = []
        for d in sorted(self.path.iterdir()):
            if NAME_RE.match(d.name) and not d.is_symlink() and (d / MANIFEST).is_file():
                if kind is None or (self.peek(d.name) or {}).get("kind") == kind:
                    out.append(d.name)
        return out

    def manifest(self, name: str, what: str = "index") -> dict:
        """NAME's manifest as stored, or one clear error: an unknown name (with close
        matches), a folder without one, a file that is not a manifest."""
        folder = self.folder(name, what)
        path = folder / MANIFEST
        if not path.is_file():
            if folder.is_dir():
                article = "an" if what[0] in "aeiou" else "a"
                raise EmbedsearchError(f"{what} {name!r} at {folder} has no {MANIFEST}: it is incomplete or not "
                                       f"{article} {what}")
            raise unknown(what, name, self.names())
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise Damaged(f"{what} {name!r} is damaged: {path} is not valid JSON ({exc})") from None
        if not isinstance(manifest, dict) or "format" not in manifest:
            raise Damaged(f"{what} {name!r} is damaged: {path} is not an embedsearch manifest")
        return manifest

    def peek(self, name: str) -> dict | None:
        """NAME's manifest, or None when it is missing or unreadable (listings that must not
        fail on one bad entry)."""
        try:
            data = json.loads((self.path / name / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def manifest_identity(self, name: str) -> tuple[int, int, int, int] | None:
        """Which manifest file NAME has now (device, inode, size, mtime), or None when there is
        none (or NAME is not a valid name): how a long-lived reader notices a commit by
        another process. Every commit renames a new file into place, so the identity changes
        even when a removed index is built again with the same generation number."""
        try:
            st = os.stat(self.folder(name) / MANIFEST)
        except (OSError, ValueError, EmbedsearchError):
            return None
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    # ------------------------------------------------------------ other places

    @property
    def registry(self) -> Path:
        """HOME/tables.json."""
        return self.path / REGISTRY

    @property
    def tables_root(self) -> Path:
        """HOME/.tables: one folder per table that keeps rows or graphs (table_rows)."""
        return self.path / TABLES

    def table_rows(self, name: str) -> Path:
        """HOME/.tables/NAME: a table's parsed rows and its HNSW graphs."""
        return self.tables_root / check_name(name, "table")

    def owns_table_rows(self, folder: Path) -> bool:
        """Whether `folder` is a real folder directly under HOME/.tables (a name read from
        tables.json is untrusted: never delete where a symlink or "../x" points)."""
        return (TABLE_NAME_RE.match(folder.name) is not None and not folder.is_symlink() and folder.is_dir()
                and folder.parent.resolve() == self.tables_root.resolve())

    def cache(self, kind: str) -> Path:
        """HOME/.cache/KIND: files that can be rebuilt whenever they are missing."""
        return self.path / CACHE / kind

    # ------------------------------------------------------------ the lock

    @contextmanager
    def lock(self, name: str, what: str = "index", wait: float = 0.0,
             on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold NAME's writer lock (HOME/.NAME.lock), waiting at most `wait` seconds for
        another writer (`math.inf`: until it finishes; `on_wait` is told once, with the
        holder's name, when the wait begins). Refused: `Busy`. A home that cannot be
        written: one error line saying the previous version is unchanged."""
        check_name(name, what)
        with self._file_lock(f".{name}.lock", wait,
                             f"{what} {name!r} is being written by another process; try again when it finishes "
                             "(or give --wait)", f"cannot write {what} {name!r} in {self.path}", on_wait):
            yield

    @contextmanager
    def registry_lock(self) -> Iterator[None]:
        """The lock of tables.json's writers (they wait up to COMMIT_WAIT seconds)."""
        with self._file_lock(f".{REGISTRY}.lock", COMMIT_WAIT,
                             f"the table registry {self.registry} is being written by another process; "
                             "try again when it finishes", f"cannot write the table registry in {self.path}"):
            yield

    @contextmanager
    def cache_lock(self, kind: str, wait: float = COMMIT_WAIT) -> Iterator[None]:
        """The lock of HOME/.cache/KIND's writers (one export at a time; another waits for
        it and then finds its result)."""
        with self._file_lock(f"{CACHE}/.{kind}.lock", wait,
                             f"the {kind} cache in {self.path} is being written by another process; "
                             "try again when it finishes", f"cannot write the {kind} cache in {self.path}"):
            yield

    @contextmanager
    def _file_lock(self, filename: str, wait: float, busy: str, unwritable: str,
                   on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        import math

        from filelock import FileLock, Timeout

        holder = self.path / f"{filename}.holder"  # who holds it: for the refusal's message
        try:
            holder.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.path / filename))
            try:
                lock.acquire(timeout=0 if on_wait is not None else (-1 if math.isinf(wait) else wait))
            except Timeout:
                if on_wait is None or wait <= 0:
                    raise
                who = _holder(holder)
                on_wait(f"waiting for the other writer{who or ''} to finish")
                lock.acquire(timeout=-1 if math.isinf(wait) else wait)
        except Timeout:
            message = busy.replace("another process", "another process" + _holder(holder), 1)
            raise Busy(message if wait <= 0 else message.replace(" (or give --wait)", "")
                       .replace("; try again", f" (waited {wait:g} s); try again")) from None
        except OSError as exc:
            raise EmbedsearchError(f"{unwritable}: {exc.strerror or exc}; the previous version is unchanged") from None
        try:
            try:
                holder.write_text(json.dumps({"pid": os.getpid(), "command": _command(),
                                              "since": time.strftime("%H:%M:%S")}), encoding="utf-8")
            except OSError:
                pass
            yield
        finally:
            holder.unlink(missing_ok=True)
            lock.release()

    # ------------------------------------------------------------ the commit protocol

    def write_text(self, path: Path, text: str) -> None:
        """Replace one file under the home by the commit protocol (fileio.atomic_write_text)."""
        from embedsearch.fileio import atomic_write_text

        self._inside(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)

    def commit_file(self, tmp: Path, path: Path) -> None:
        """Put a file written elsewhere (by a library that only writes to a path: hnswlib)
        in place by the commit protocol: fsync it, rename it over `path`, fsync the folder."""
        from embedsearch.fileio import commit_file

        commit_file(tmp, self._inside(path))

    def replace_folder(self, target: Path, write: Callable[[Path], None]) -> Path:
        """Replace a whole folder by the commit protocol (fileio.replace_folder); the caller
        holds the folder's lock."""
        from embedsearch.fileio import replace_folder

        return replace_folder(self._inside(target), write)

    def _inside(self, path: Path) -> Path:
        path = Path(path)
        try:
            path.absolute().relative_to(self.path.absolute())
        except ValueError:
            raise ValueError(f"{path} is not under the home {self.path}") from None
        return path
