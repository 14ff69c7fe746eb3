"""Which files an index reads: folders are walked, version-control folders, virtual
environments and .gitignore'd paths are skipped, and every skip is counted by reason so
the summary can say what was left out instead of leaving it out silently."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from embedsearch.chunking import CONFIG_NAMES, PYTHON_SUFFIXES, RECORD_SUFFIXES, TEXT_SUFFIXES, is_prose_name
from embedsearch.chunking.treesitter import GRAMMARS, NAMED_FILES
from embedsearch.errors import EmbedsearchError

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".tox", ".nox",
             ".mypy_cache", ".pytest_cache", ".ruff_cache", ".eggs", ".idea", ".vscode"}
CODE_SUFFIXES = {
    ".ts", ".tsx", ".cpp", ".cc", ".cxx", ".hpp", ".hh", ".cs", ".rb", ".php", ".kt",
    ".swift", ".scala", ".lua", ".r", ".jl", ".sh", ".bash", ".zsh", ".sql", ".pl", ".m",
    ".toml", ".cfg", ".ini", ".yaml", ".yml", ".html", ".css", ".scss", ".el", ".hs", ".ml",
    ".json", ".ipynb", ".kts", ".mts", ".cts", ".hxx", ".rake", ".gradle", ".proto", ".tf",
}
INDEXED_SUFFIXES = PYTHON_SUFFIXES | TEXT_SUFFIXES | RECORD_SUFFIXES | set(GRAMMARS) | CODE_SUFFIXES
INDEXED_NAMES = CONFIG_NAMES | set(NAMED_FILES)  # and prose by name (chunking.is_prose_name)
SKIP_NAMES = {"package-lock.json", "npm-shrinkwrap.json", "composer.lock", "Cargo.lock", "poetry.lock"}  # generated
MAX_FILE_BYTES = 1_000_000


@dataclass
class Walk:
    """The files to read, and what was skipped (reason -> count, with a few examples)."""

    files: list[Path] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, path: Path | str) -> None:
        self.skipped[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 3:
            self.examples[reason].append(str(path))


def discover(paths: list[str | Path], max_bytes: int = MAX_FILE_BYTES,
             exclude: list[str] = ()) -> Walk:
    """Every indexable file under `paths`, absolute and sorted, without duplicates.

    A file named directly is read whatever its suffix; inside folders only known source,
    text and record suffixes are. `exclude` holds extra .gitignore-style patterns."""
    walk = Walk()
    seen: set[Path] = set()
    extra = _spec(list(exclude)) if exclude else None
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists() and not p.is_symlink():
            raise EmbedsearchError(f"no such file or folder: {raw}")
        if p.is_dir():
            _walk_dir(p.resolve(), walk, seen, max_bytes, extra)
        else:
            _consider(p.absolute(), walk, seen, max_bytes, explicit=True)
    walk.files.sort()
    return walk


def _walk_dir(root: Path, walk: Walk, seen: set[Path], max_bytes: int, extra) -> None:
    # (folder, its ignore spec, reason), outermost first; --exclude patterns apply from the root
    specs: list[tuple[Path, object, str]] = [(root, extra, "excluded by --exclude")] if extra is not None else []

    def onerror(err: OSError) -> None:
        walk.skip("unreadable folder", err.filename)

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        here = Path(dirpath)
        specs[:] = [s for s in specs if s[0] == here or s[0] in here.parents]
        spec = _gitignore(here / ".gitignore")
        if spec is not None:
            specs.append((here, spec, "ignored by .gitignore"))
        keep = []
        for d in sorted(dirnames):
            full = here / d
            if d in SKIP_DIRS:
                walk.skip("version-control or cache folder", full)
            elif (full / "pyvenv.cfg").exists():
                walk.skip("virtual environment", full)
            elif full.is_symlink():
                walk.skip("symlinked folder (not followed)", full)
            elif reason := _ignored(full, specs, is_dir=True):
                walk.skip(reason, full)
            else:
                keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            full = here / f
            if reason := _ignored(full, specs, is_dir=False):
                walk.skip(reason, full)
            elif full.is_symlink() and not _inside(full, root):
                walk.skip("symlink out of the indexed folder (not followed)", full)
            elif f in SKIP_NAMES:
                walk.skip("generated lock file", full)
            elif full.suffix.lower() not in INDEXED_SUFFIXES and f not in INDEXED_NAMES and not is_prose_name(f):
                walk.skip("unsupported file type", full)
            else:
                _consider(full, walk, seen, max_bytes, explicit=False)


def _inside(link: Path, root: Path) -> bool:
    """Whether a symlink's final target lies inside `root` (a link to /etc/passwd planted
    in a repository must not be indexed and served)."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):
        return True  # broken or looping: _consider reports it
    return target == root or root in target.parents


def _consider(path: Path, walk: Walk, seen: set[Path], max_bytes: int, explicit: bool) -> None:
    try:
        size = path.stat().st_size
    except OSError:
        walk.skip("broken link or unreadable", path)
        return
    if not path.is_file():
        walk.skip("not a regular file", path)
    elif size > max_bytes:
        walk.skip(f"larger than {max_bytes:,} bytes", path)
    elif path not in seen:
        seen.add(path)
        walk.files.append(path)


def _gitignore(path: Path):
    if not path.is_file():
        return None
    try:
        return _spec(path.read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError:
        return None


def _spec(lines: list[str]):
    import pathspec

    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except ValueError as exc:
        raise EmbedsearchError(f"bad ignore pattern: {exc}") from None


def _ignored(path: Path, specs: list, is_dir: bool) -> str | None:
    """The reason `path` is ignored, or None."""
    for base, spec, reason in specs:
        rel = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        if spec.match_file(rel):
            return reason
    return None
