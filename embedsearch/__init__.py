"""embedsearch: nearest-neighbour search in embedding spaces.

Every space the tool works with is a lookup table keyed by something a person can name
(a function, a movie, a word); see docs/ARCHITECTURE.md for how the pieces fit.

    import embedsearch

    home = embedsearch.Home("indexes")                     # --home; a str or Path works too
    ix = embedsearch.CodeIndex.build(home, "mine", ["src/"])
    hits = ix.search("parse a date from a string", k=5)    # list of Hit: path, lines, name, score
    words = embedsearch.open_table(home, "glove-6B-50d")   # any table: words, tokens, CF factors, indexes

Errors a caller can fix are EmbedsearchError, with UnknownName, Busy and Damaged to catch
by type.
"""

__version__ = "0.1.0"

# The names a library user imports. Loaded on first use, so `import embedsearch` (and the
# CLI's start) stays free of numpy, torch and the rest until they are needed.
_EXPORTS = {
    "Home": "embedsearch.home",
    "CodeIndex": "embedsearch.codeindex",
    "Table": "embedsearch.tables.base",
    "open_table": "embedsearch.tables.registry",
    "list_tables": "embedsearch.tables.registry",
    "register_encoder": "embedsearch.encoders",
    "EmbedsearchError": "embedsearch.errors",
    "UnknownName": "embedsearch.errors",
    "Busy": "embedsearch.errors",
    "Damaged": "embedsearch.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'embedsearch' has no attribute {name!r}")
