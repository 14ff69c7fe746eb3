"""Which items a search may answer with: paths, kinds, languages, record fields, a score floor.

    Filters(paths=("json/*", "!*/tests/*"), kinds=("function",), where=(("topic", "search"),))

A path pattern is a shell glob matched against the item's full path, or against any tail of
it ("json/*" matches /usr/lib/python3.11/json/decoder.py); a pattern ending in "/" means
everything under that folder; a leading "!" excludes. Several include patterns, kinds or
languages are alternatives (any may match); every `where` pair must hold. The search keeps
its recall under a filter by searching only rows that pass (search.py), not by dropping
hits after an unfiltered search.
"""

from __future__ import annotations

import json

import os
from dataclasses import dataclass
from fnmatch import fnmatchcase

from embedsearch.chunking import CONFIG_NAMES, is_prose_name
from embedsearch.chunking.treesitter import NAMED_FILES
from embedsearch.errors import EmbedsearchError, unknown

KINDS = ("function", "method", "class", "type", "module", "section", "record", "cell", "window")
LANGUAGES = {
    "python": (".py", ".pyi"), "go": (".go",), "rust": (".rs",), "javascript": (".js", ".jsx", ".mjs", ".cjs"),
    "typescript": (".ts", ".tsx", ".mts", ".cts"), "java": (".java",), "c": (".c", ".h"),
    "cpp": (".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx"), "csharp": (".cs",), "ruby": (".rb", ".rake"),
    "php": (".php",), "kotlin": (".kt", ".kts"), "bash": (".sh", ".bash"), "notebook": (".ipynb",),
    "markdown": (".md", ".markdown"), "text": (".txt", ".rst"), "jsonl": (".jsonl", ".ndjson"),
    "csv": (".csv", ".tsv"), "config": (".json", ".yaml", ".yml", ".toml", ".ini", ".cfg"),
}


def language_of(path: str) -> str | None:
    """The --lang name of a file: by its suffix, or by its name when the name says it
    (`README`: text, `Makefile`: config, `Rakefile`: ruby; the chunkers' own lists)."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    if name in CONFIG_NAMES:
        return "config"
    if is_prose_name(name):
        return "text"
    lower = NAMED_FILES.get(name, name.lower())
    return next((lang for lang, suffixes in LANGUAGES.items() if lower.endswith(suffixes)), None)


@dataclass(frozen=True)
class Filters:
    paths: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    where: tuple[tuple[str, str], ...] = ()
    min_score: float | None = None

    @classmethod
    def parse(cls, paths=(), kinds=(), langs=(), where=(), min_score: float | None = None) -> "Filters":
        """Filters from what a user typed (`--where FIELD=VALUE`), each part checked."""
        for kind in kinds:
            if kind not in KINDS:
                raise unknown("kind", kind, KINDS)
        for lang in langs:
            if lang not in LANGUAGES:
                raise unknown("language", lang, LANGUAGES)
        pairs = []
        for item in where:
            field, sep, value = item.partition("=")
            if not sep or not field.strip():
                raise EmbedsearchError(f"--where takes FIELD=VALUE, got {item!r}")
            pairs.append((field.strip(), value))
        for p in paths:
            if not p.lstrip("!"):
                raise EmbedsearchError(f"empty --glob pattern {p!r}")
        return cls(tuple(paths), tuple(kinds), tuple(langs), tuple(pairs), min_score)

    def restricts_rows(self) -> bool:
        """Whether some items are left out (a score floor alone leaves every row searchable)."""
        return bool(self.paths or self.kinds or self.langs or self.where)

    def admits(self, path: str, kind: str, meta: dict) -> bool:
        """Whether an item passes the row filters."""
        if self.kinds and kind not in self.kinds:
            return False
        if self.langs and language_of(path) not in self.langs:
            return False
        for field, value in self.where:
            if field not in meta or value not in (str(meta[field]), json.dumps(meta[field])):
                return False  # (a JSON true is typed `true`, as JSON spells it, or `True`)
        includes = [p for p in self.paths if not p.startswith("!")]
        if includes and not any(_matches(path, p) for p in includes):
            return False
        return not any(_matches(path, p[1:]) for p in self.paths if p.startswith("!"))


def _matches(path: str, pattern: str) -> bool:
    if pattern.endswith("/"):
        pattern += "*"
    path = path.replace(os.sep, "/")
    return fnmatchcase(path, pattern) or fnmatchcase(path, "*/" + pattern.lstrip("/"))
