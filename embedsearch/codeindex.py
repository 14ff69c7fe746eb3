"""A code or text index as one noun with the verbs a user says.

    from embedsearch import CodeIndex, Home

    home = Home("indexes")
    ix = CodeIndex.build(home, "faq", ["examples/embeddings_faq.jsonl"])
    for hit in ix.search("why do movies have a bias?", k=3):
        print(hit.score, hit.name)
    ix.update()                          # re-read the recorded sources; only changes are embedded
    assert ix.check().ok

Each verb calls the one library function that does the work (indexing.build_index,
search.search and search.similar, integrity.check and repair, catalog.describe,
store.remove_index), so the CLI, this class and the tests share one path. A CodeIndex holds
no open files between calls: every verb opens the current generation, which is what
makes a long-lived CodeIndex see updates made by other processes.
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
        from embedsearch.indexing import build_index

        self.last_run = build_index(self.name, [str(p) for p in paths] if paths else None, self.home, **options)
        return self.last_run

    def search(self, query: str | list[str], k: int = 10, **options):
        """Hits for one query (a list of Hit), or for each of several (a list of lists);
        options as search.search (exact, lexical_weight, explain)."""
        from embedsearch.search import search

        results = search(self.home, self.name, query, k=k, **options)
        return results[0] if isinstance(query, str) else results

    def similar(self, path: str | os.PathLike | None = None, line: int | None = None,
                text: str | None = None, k: int = 10, exact: bool = False):
        """(the chunk at path:line or None for a text, the k chunks most like it)."""
        from embedsearch.search import similar

        return similar(self.home, self.name, str(path) if path is not None else None, line, text, k=k, exact=exact)

    def check(self, recall: bool = False):
        """A CheckReport: `.ok`, and `.problems` in words."""
        from embedsearch.integrity import check

        return check(self.home, self.name, recall=recall)

    def repair(self, wait: float = 0.0) -> dict:
        """Write a whole generation from whatever is intact; returns what was done."""
        from embedsearch.integrity import repair

        return repair(self.home, self.name, wait=wait)

    def info(self) -> dict:
        """What `embedsearch info` shows, as a dict with snake_case keys."""
        from embedsearch.catalog import describe

        return describe(self.home, self.name)

    def table(self):
        """The index's vectors as a Table (keys are path:lines), for the table verbs."""
        from embedsearch.tables.registry import open_table

        return open_table(self.home, self.name)

    def remove(self, wait: float = 0.0) -> None:
        """Delete the index and its files (waiting up to `wait` seconds for a writer)."""
        from embedsearch.store import remove_index

        remove_index(self.home, self.name, wait=wait)

    def __repr__(self) -> str:
        return f"CodeIndex({str(self.home)!r}, {self.name!r})"

