"""A code or text index as one noun with the verbs a user says.

    from embedsearch import CodeIndex, Home

    home = Home("indexes")
    ix = CodeIndex.build(home, "faq", ["examples/embeddings_faq.jsonl"])
    for hit in ix.search("why do movies have a bias?", k=3):
        print(hit.score, hit.name)
    ix.update()                          # re-read the recorded sources; only changes are embedded
    assert ix.check().ok

Each verb calls the one library function that does the work (indexing.build_index,
search.search and search.similar, integrity.check and repair, store.describe,
store.remove_index), so the CLI, this class and the tests share one path. Outside a `with`
block a CodeIndex holds no open files between calls: every verb opens the current
generation. Inside one, searches keep the open generation and its query encoder (loaded
once, not per call) and reopen the generation when another process commits a new one
(a block belongs to the thread that entered it, as the SQLite connection it keeps does;
a multi-threaded server uses serving.Workspace, whose one worker thread owns its indexes):

    with CodeIndex(home, "faq") as ix:
        for q in questions:
            print(ix.search(q, k=1)[0].name)

The package holds everything about a code or text index: store.py (the folder, its
generations and every SQL statement on its items), indexing.py, search.py, rerank.py,
bm25.py (which reads FTS5's postings once), representation.py, filters.py, integrity.py,
shards.py, spark.py and table.py (the index as a Table).
"""

from __future__ import annotations

import os

from embedsearch.home import Home


class CodeIndex:
    """Index NAME under a home (it need not exist yet: `build` or `update` makes it)."""

    def __init__(self, home: Home | str | os.PathLike | None, name: str):
        self.home = Home.of(home)
        self.name = name
        self.home.folder(name)  # a clear error for an invalid name, here rather than later
        self.last_run = None  # what the last `build` or `update` of this object did
        self._held: _Held | None = None  # inside `with`: the open generation and its query encoder

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CodeIndex) and (other.home, other.name) == (self.home, self.name)

    def __hash__(self) -> int:
        return hash((self.home, self.name))

    def __enter__(self) -> "CodeIndex":
        from embedsearch.codeindex.store import Current

        if self._held is None:
            self._held = _Held(Current(self.home, self.name))
        self._held.depth += 1
        return self

    def __exit__(self, *exc) -> None:
        held = self._held
        held.depth -= 1
        if held.depth == 0:
            self._held = None
            held.current.close()

    def _open(self) -> "_Held | None":
        """The generation and query encoder a `with` block keeps (store.Current: reopened
        when another process commits, or removes the index and builds it again), or None
        outside one, for a sharded index (whose verbs open every shard) or a missing one (the
        plain path says what is wrong). The encoder is kept while the index names the same
        weights."""
        from embedsearch.codeindex.search import query_encoder
        from embedsearch.codeindex.shards import is_sharded

        held = self._held
        if held is None:
            return None
        if held.current.is_current():
            return held
        held.current.close()
        if self.home.peek(self.name) is None or is_sharded(self.home, self.name):
            return None
        index = held.current.get()
        built = index.manifest["encoder"]
        if held.encoder is None or (held.encoder.info.name, held.encoder.info.digest) != (built["name"],
                                                                                         built.get("digest")):
            held.encoder = query_encoder(index)
        return held

    @classmethod
    def build(cls, home: Home | str | os.PathLike | None, name: str, paths: list[str | os.PathLike],
              **options) -> "CodeIndex":
        """Create or update index NAME from `paths` (indexing.build_index's options: model,
        exclude, rebuild, ...) and return it; `last_run` says what was done."""
        ix = cls(home, name)
        ix.update(paths, **options)
        return ix

    def update(self, paths: list[str | os.PathLike] | None = None, **options):
        """Bring the index up to date with the sources it was built from (or `paths`, the
        same ones); `add=[...]`, `remove=[...]` or `replace=True` change them, `wait=`
        seconds waits for another writer (indexing.build_index). Returns the run's summary
        (counts of added, changed, removed, embedded chunks)."""
        from embedsearch.codeindex.indexing import build_index

        self.last_run = build_index(self.name, [str(p) for p in paths] if paths else None, self.home, **options)
        return self.last_run

    def search(self, query: str | list[str], k: int = 10, *, glob: str | list[str] = (), kind: str | list[str] = (),
               lang: str | list[str] = (), where: str | list[str] = (), min_score: float | None = None, **options):
        """Hits for one query (a list of Hit), or for each of several (a list of lists).
        Filters as the CLI's: `glob` ("json/", "*.py", "!tests/"), `kind` ("function"),
        `lang` ("python"), `where` ("topic=search" on records), `min_score`; each takes one
        value or a list. Other options as search.search (exact, lexical_weight, explain,
        rerank)."""
        from embedsearch.codeindex.search import search, search_index

        if "filters" not in options:
            options["filters"] = _filters(glob, kind, lang, where, min_score)
        held = self._open() if "model" not in options else None
        if held is not None:
            results = search_index(held.current.index, held.encoder, query, k=k, **options)
        else:
            results = search(self.home, self.name, query, k=k, **options)
        return results[0] if isinstance(query, str) else results

    def similar(self, path: str | os.PathLike | None = None, line: int | None = None,
                text: str | None = None, k: int = 10, exact: bool = False, *, id: int | None = None,
                glob: str | list[str] = (), kind: str | list[str] = (), lang: str | list[str] = (),
                where: str | list[str] = (), min_score: float | None = None):
        """(the chunk it starts from, or None for a `text`; the k chunks most like it): give
        `path` (and `line`), a hit's `id`, or a `text` snippet; filters as in `search`."""
        from embedsearch.codeindex.search import similar, similar_in

        path = str(path) if path is not None else None
        filters = _filters(glob, kind, lang, where, min_score)
        held = self._open()
        if held is not None:
            return similar_in(held.current.index, path, line, text, k=k, exact=exact, filters=filters, item_id=id,
                              encoder=held.encoder)
        return similar(self.home, self.name, path, line, text, k=k, exact=exact, filters=filters, item_id=id)

    def check(self, recall: bool = False):
        """A CheckReport: `.ok`, and `.problems` in words."""
        from embedsearch.codeindex.integrity import check

        return check(self.home, self.name, recall=recall)

    def repair(self, wait: float = 0.0) -> dict:
        """Write a whole generation from whatever is intact; returns what was done."""
        from embedsearch.codeindex.integrity import repair

        return repair(self.home, self.name, wait=wait)

    def info(self) -> dict:
        """What `embedsearch info` shows, as a dict with snake_case keys."""
        from embedsearch.codeindex.store import describe

        return describe(self.home, self.name)

    def table(self):
        """The index's vectors as a Table (keys are path:lines), for the table verbs."""
        from embedsearch.codeindex.table import index_table

        return index_table(self.home, self.name)

    def remove(self, wait: float = 0.0) -> None:
        """Delete the index and its files (waiting up to `wait` seconds for a writer)."""
        from embedsearch.codeindex.store import remove_index

        remove_index(self.home, self.name, wait=wait)

    def __repr__(self) -> str:
        return f"CodeIndex({str(self.home)!r}, {self.name!r})"


class _Held:
    """What a `with` block keeps open: the current generation (store.Current) and the query
    encoder; `depth` counts nested blocks."""

    def __init__(self, current) -> None:
        self.current = current
        self.encoder = None
        self.depth = 0


def _filters(glob, kind, lang, where, min_score):
    """filters.Filters from the keyword filters of `search` and `similar` (a str or a list each)."""
    from embedsearch.codeindex.filters import Filters

    def listed(value) -> list[str]:
        return [value] if isinstance(value, str) else list(value or ())

    return Filters.parse(paths=listed(glob), kinds=listed(kind), langs=listed(lang), where=listed(where),
                         min_score=min_score)
