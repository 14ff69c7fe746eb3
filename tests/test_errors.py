"""Library callers tell failures apart by type, not by reading messages; the CLI still
prints one line for each."""

from __future__ import annotations

import pytest

from embedsearch.errors import Busy, Damaged, EmbedsearchError, UnknownName
from embedsearch.codeindex.search import search
from embedsearch.home import Home
from embedsearch.codeindex.store import Index
from tests.fake_encoder import FAKE


def test_typed_errors_for_unknown_busy_and_damaged(tmp_path, cli):
    from embedsearch.codeindex.indexing import build_index
    from tests.conftest import copy_stdlib

    home = tmp_path / "home"
    build_index("shl", [str(copy_stdlib(tmp_path / "src", ["shlex.py"]))], home, model=FAKE)
    with pytest.raises(UnknownName, match="did you mean 'shl'"):
        search(home, "shlx", ["split"])
    with Home(home).lock("shl"):
        with pytest.raises(Busy):
            build_index("shl", None, home, rebuild=True)
    with Index(home, "shl") as index:  # a context manager: closed on leaving
        graph = home / "shl" / index.manifest["files"]["hnsw"]["file"]
    graph.write_bytes(graph.read_bytes()[:1000])
    with pytest.raises(Damaged) as caught:
        search(home, "shl", ["split"])
    assert isinstance(caught.value, EmbedsearchError)
    r = cli("--home", home, "search", "shl", "split", "--json")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1 and r.output.startswith("Error: ")
