"""A long-lived view of a home, for processes that answer many requests (the web server,
the MCP server): the encoder is loaded once, indexes and tables are opened on first use and
kept, and every answer comes from the generation that was current when it was asked.

An index is reopened when another process has committed a new generation (its manifest
names another one): the old generation's files stay open until then, so a request never
reads a half-written generation, and an update is seen on the next request without a
restart. Tables are reloaded when what they are made from changed (tables.json, the CF
model's or the index's manifest). Every verb is one library call; a Workspace is used
from one thread at a time (the server runs all calls on one worker thread).
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from embedsearch.errors import EmbedsearchError
from embedsearch.codeindex.filters import Filters
from embedsearch.home import Home

MAX_K = 100
MAX_MAP_KEYS = 20_000


def check_k(k: int, most: int = MAX_K, what: str = "k") -> int:
    """k (or another count) as an int between 1 and `most`, or one clear error."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= most:
        raise EmbedsearchError(f"{what} must be a whole number from 1 to {most:,}, got {k!r}")
    return k


@dataclass
class Answer:
    """What a search or similar request returns: the hits, and the generation of the index
    they all come from (one request never mixes generations)."""

    index: str
    generation: int
    item: object  # search.Hit asked about (similar), else None
    hits: list


class Workspace:
    """Indexes, tables and encoders of one home, kept open between requests."""

    def __init__(self, home: Home | str | os.PathLike | None = None):
        self.home = Home.of(home)
        self._indexes: dict = {}  # name -> store.Current (its open generation)
        self._encoders: dict = {}  # (name, digest) -> encoder
        self._tables: dict = {}  # name -> (stamp, Table)
        self._derived: dict = {}  # (what, args, stamps) -> result (maps, comparisons)

    # ------------------------------------------------------------ what is kept

    def index(self, name: str):
        """The open current generation of index NAME (reopened when a writer committed another,
        or removed the index and built it again)."""
        from embedsearch.codeindex.store import Current

        # vectors checked once per generation, so each query reads rows from the file, not the graph (Index.rows)
        current = self._indexes.get(name) or Current(self.home, name, prepare=lambda index: index.vectors)
        index = current.get()
        self._indexes[name] = current  # (kept once it opened: a request for a name that fails leaves nothing)
        return index

    def encoder(self, index):
        """The query encoder of an open index, loaded once per encoder."""
        from embedsearch.codeindex.search import query_encoder

        built = index.manifest["encoder"]
        key = (built["name"], built.get("digest"))
        if key not in self._encoders:
            self._encoders[key] = query_encoder(index, long_lived=True)
        return self._encoders[key]

    def _stamp(self, name: str) -> tuple:
        """What a table named NAME is made from, as file times: reload when one changes."""
        try:
            registry = os.stat(self.home.registry).st_mtime_ns
        except OSError:
            registry = None
        return registry, self.home.manifest_identity(name), self.home.manifest_identity(name.rsplit("-", 1)[0])

    def table(self, name: str):
        """Table NAME (tables.registry.open_table), kept while its sources are unchanged."""
        from embedsearch.tables.registry import open_table

        stamp = self._stamp(name)
        kept = self._tables.get(name)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        t = open_table(self.home, name)
        self._tables[name] = (stamp, t)
        return t

    def _cached(self, key: tuple, make):
        if key not in self._derived:
            if len(self._derived) > 64:
                self._derived.clear()
            self._derived[key] = make()
        return self._derived[key]

    def warm(self) -> None:
        """Load now what the first requests would: each index's query encoder, and torch when
        the home has a CF model (its tables load weights with it). Errors are left for the
        request that meets them."""
        for entry in self.indexes():
            try:
                if entry.get("kind") in ("code", "text"):
                    self.encoder(self.index(entry["name"]))
                elif entry.get("kind") == "cf":
                    importlib.import_module("torch")
            except Exception:  # a damaged index answers its own requests with the error
                continue

    def close(self) -> None:
        for current in self._indexes.values():
            current.close()
        self._indexes.clear()

    # ------------------------------------------------------------ verbs

    def indexes(self) -> list[dict]:
        """Every index and CF model in the home (catalog.list_entries)."""
        from embedsearch.catalog import list_entries

        return list_entries(self.home)

    def info(self, name: str) -> dict:
        from embedsearch.codeindex.store import describe

        return describe(self.home, name)

    def tables(self) -> list[dict]:
        from embedsearch.tables.registry import list_tables

        return [t.as_dict() for t in list_tables(self.home)]

    def search(self, name: str, query: str, k: int = 10, exact: bool = False, lexical_weight: float | None = None,
               rerank: bool | None = None, explain: bool = False, filters: Filters = Filters()) -> Answer:
        """Hits for one query (search.search_index on the kept index and encoder)."""
        from embedsearch.codeindex.search import search, search_index
        from embedsearch.codeindex.shards import is_sharded

        check_k(k)
        if is_sharded(self.home, name):  # each shard opened per request: a sharded index is for batch sizes
            hits = search(self.home, name, [query], k, exact, None, lexical_weight, explain, filters, rerank)[0]
            return Answer(name, int(self.home.manifest(name)["generation"]), None, hits)
        ix = self.index(name)
        self._hold_lexical(ix)
        hits = search_index(ix, self.encoder(ix), [query], k, exact, lexical_weight, explain, filters, rerank)[0]
        return Answer(name, int(ix.manifest["generation"]), None, hits)

    def _hold_lexical(self, ix) -> None:
        """On an index's first search, read its BM25 postings into memory in the background
        (about 4 s for 24,000 chunks; FTS5 answers until then): only indexes that are
        searched, one reader each, on the generation being searched."""
        if getattr(ix, "_holding", False):
            return
        ix._holding = True
        threading.Thread(target=_quietly, args=(ix.hold_lexical,), daemon=True, name=f"bm25-{ix.name}").start()

    def similar(self, name: str, item_id: int | None = None, path: str | None = None, line: int | None = None,
                text: str | None = None, k: int = 10, exact: bool = False, filters: Filters = Filters()) -> Answer:
        """The item asked about (None for a snippet) and the hits like it: search.similar_in
        on the kept index."""
        from embedsearch.codeindex.search import similar_in

        check_k(k)
        ix = self.index(name)
        item, hits = similar_in(ix, path, line, text, k, exact, filters, item_id,
                                encoder=self.encoder(ix) if text is not None else None)
        return Answer(name, int(ix.manifest["generation"]), item, hits)

    def neighbours(self, table: str, key: str, k: int = 10, exact: bool = False) -> list[dict]:
        """The k keys nearest to KEY (HNSW, built into the home on first use, or `exact`)."""
        from embedsearch.tables.ops import neighbours

        check_k(k)
        t = self.table(table)
        return [h.as_dict() for h in neighbours(t, key, None, k, exact=exact, home=self.home)]

    def analogy(self, table: str, a: str, b: str, c: str, k: int = 5) -> dict:
        from embedsearch.tables.ops import analogy

        check_k(k)
        return analogy(self.table(table), a, b, c, k).as_dict()

    def lookup(self, table: str, key: str) -> dict:
        from embedsearch.tables.ops import lookup

        return lookup(self.table(table), key).as_dict()

    def map(self, table: str, limit: int = 3000) -> dict:
        """A 2-D PCA map of a table (tables.compare.table_map), kept while the table is unchanged."""
        from embedsearch.tables.compare import table_map

        check_k(limit, MAX_MAP_KEYS, "limit")
        t = self.table(table)
        return self._cached(("map", table, limit, self._stamp(table)), lambda: table_map(t, limit))

    def compare(self, a: str, b: str, k: int = 10, limit: int = 3000) -> dict:
        """Two linked maps of the keys two tables share (tables.compare.side_by_side)."""
        from embedsearch.tables.compare import side_by_side

        check_k(k)
        check_k(limit, MAX_MAP_KEYS, "limit")
        ta, tb = self.table(a), self.table(b)
        return self._cached(("compare", a, b, k, limit, self._stamp(a), self._stamp(b)),
                            lambda: side_by_side(ta, tb, k, limit))


def location(hit) -> str:
    """path:start-end as the CLI prints a hit."""
    shown = hit.display or hit.path
    return f"{shown}:{hit.start_line}" if hit.start_line == hit.end_line else f"{shown}:{hit.start_line}-{hit.end_line}"


def highlighted(path: str, text: str) -> str:
    """The chunk's text as HTML with inline colours (pygments, lexer by file name), for the page."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_for_filename(Path(path).name, stripnl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False)
    return highlight(text, lexer, HtmlFormatter(noclasses=True, nowrap=True))


def _quietly(fn) -> None:
    """Run `fn` for what it speeds up: when it fails, requests go the slower way and meet
    the error themselves, if it is theirs to meet."""
    try:
        fn()
    except Exception:
        pass


class Worker:
    """One thread that runs every library call of a server, in order (an open index's
    SQLite connection belongs to the thread that opened it); `await worker.run(fn, ...)`
    from async code."""

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedsearch")

    async def run(self, fn, *args, **kwargs):
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False)
