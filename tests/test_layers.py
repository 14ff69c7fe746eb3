"""The import graph of the package has no circles, counting imports inside functions too
(docs/ARCHITECTURE.md draws the layers)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "embedsearch"


def import_graph() -> dict[str, set[str]]:
    modules = {".".join(f.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): f
               for f in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in modules and node.module != mod:
                graph[mod].add(node.module)
            elif isinstance(node, ast.Import):
                graph[mod] |= {a.name for a in node.names if a.name in modules and a.name != mod}
    return graph


def test_no_import_circles():
    graph = import_graph()
    assert len(graph) > 40
    done: set[str] = set()

    def visit(mod: str, path: list[str]) -> None:
        if mod in path:
            raise AssertionError("import circle: " + " -> ".join(path[path.index(mod):] + [mod]))
        if mod in done:
            return
        for nxt in sorted(graph[mod]):
            visit(nxt, path + [mod])
        done.add(mod)

    for mod in sorted(graph):
        visit(mod, [])


def test_the_lowest_layer_imports_nothing_above_it():
    graph = import_graph()
    bottom = {"embedsearch.errors", "embedsearch.fileio", "embedsearch.home", "embedsearch.correlation"}
    for mod in bottom:
        assert graph[mod] <= bottom, (mod, graph[mod] - bottom)


def test_the_code_index_package_imports_only_what_lies_below_it():
    """embedsearch/codeindex holds everything about a code index; it may use the encoders,
    chunkers, the file walk, HNSW and the home below it (and the Table record, which it
    produces), never the layers that use it: tables' registry, CF, the CLI, the server."""
    below = {"embedsearch.errors", "embedsearch.fileio", "embedsearch.home", "embedsearch.ann",
             "embedsearch.encoders", "embedsearch.encoding", "embedsearch.onnx_encoder", "embedsearch.walk",
             "embedsearch.stamps", "embedsearch.spark_session", "embedsearch.tables.base"}
    graph = import_graph()
    package = {m for m in graph if m == "embedsearch.codeindex" or m.startswith("embedsearch.codeindex.")}
    assert len(package) >= 12
    for mod in package:
        outside = {m for m in graph[mod] - package - below if not m.startswith("embedsearch.chunking")}
        assert not outside, (mod, outside)
