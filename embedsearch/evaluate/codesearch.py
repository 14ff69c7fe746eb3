"""Code search quality measured the CodeSearchNet way, on any Python source tree.

Each documented function or method becomes a query (the first paragraph of its
docstring); the code that gets indexed is a copy with every docstring removed, so a hit
must come from the code itself. The report gives MRR@10, Recall@1 and Recall@10.
"""

from __future__ import annotations

import ast
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from embedsearch.chunking.python import definitions
from embedsearch.errors import EmbedsearchError
from embedsearch.indexing import LEXICAL_WEIGHT
from embedsearch.representation import NAMED, PLAIN, clean_query
from embedsearch.walk import discover

if TYPE_CHECKING:
    from embedsearch.store import Index

TEST_PATTERNS = ["test/", "tests/", "test_*.py", "*_test.py", "site-packages/"]
MIN_QUERY_WORDS = 3
DEFAULT_LABEL = "default"


@dataclass
class Query:
    text: str
    path: str  # the stripped copy's path
    name: str


@dataclass
class CodeSearchReport:
    paths: list[str]
    queries: int
    candidates: int
    mrr_at_10: float
    recall_at_1: float
    recall_at_10: float
    seconds: float
    encoder: str
    exact: bool
    method: str = DEFAULT_LABEL
    representation: str = ""
    lexical_weight: float = 0.0
    misses: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def first_paragraph(doc: str) -> str:
    """The docstring's first paragraph on one line: what CodeSearchNet uses as the query."""
    para = re.split(r"\n\s*\n", doc.strip(), maxsplit=1)[0]
    return " ".join(para.split())


def strip_docstrings(source: str) -> tuple[str, list[tuple[str, str]]] | None:
    """(source without any docstring, [(qualified name, query)]) or None if unparseable.

    A docstring that is a body's only statement becomes `pass` so the copy still parses;
    line numbers change, names do not."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return None
    lines = source.splitlines()
    drop: dict[int, str | None] = {}  # line number -> replacement (None = delete)
    queries: list[tuple[str, str]] = []
    nodes = [(tree, "", "module")] + list(definitions(tree))
    for node, qualname, kind in nodes:
        body = getattr(node, "body", [])
        if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            continue
        doc = body[0]
        if kind != "module" and doc.lineno == node.lineno:
            continue  # one-line `def f(): "doc"`: cannot strip by lines
        if kind in ("function", "method"):
            q = first_paragraph(doc.value.value)
            if len(q.split()) >= MIN_QUERY_WORDS:
                queries.append((qualname, q))
        indent = lines[doc.lineno - 1][:doc.col_offset]
        for ln in range(doc.lineno, doc.end_lineno + 1):
            drop[ln] = None
        if len(body) == 1:
            drop[doc.lineno] = f"{indent}pass"
    out = [drop.get(i, line) for i, line in enumerate(lines, 1)]
    return "\n".join(line for line in out if line is not None) + "\n", queries


def prepare_corpus(paths: list[str], workdir: Path, include_tests: bool = False) -> list[Query]:
    """Write docstring-free copies of every Python file under `paths` into workdir and
    return the queries that point into them."""
    walk = discover(paths, exclude=[] if include_tests else TEST_PATTERNS)
    queries: list[Query] = []
    for n, path in enumerate(p for p in walk.files if p.suffix == ".py"):
        try:
            result = strip_docstrings(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
        if result is None:
            continue
        stripped, file_queries = result
        copy = workdir / f"{n:05d}" / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(stripped, encoding="utf-8")
        queries.extend(Query(q, str(copy), name) for name, q in file_queries)
    return queries


@dataclass(frozen=True)
class Method:
    """One way of searching: how chunks are represented, how much BM25 is fused in, whether
    queries lose their markup, the best candidates are re-ranked (rerank.py) and nested
    functions fold into their enclosing ones."""

    label: str
    representation: str
    lexical_weight: float
    clean_queries: bool = False
    fold_nested: bool = False
    rerank: bool = False


DEFAULT = Method(DEFAULT_LABEL, NAMED, LEXICAL_WEIGHT, clean_queries=True, fold_nested=True, rerank=True)  # = `search`
BASELINE = Method("baseline (plain dense)", PLAIN, 0.0)


def evaluate(paths: list[str], home: Path | None = None, index_name: str | None = None,
             model: str | None = None, k: int = 10, exact: bool = False, include_tests: bool = False,
             progress=None, misses: int = 0, methods: tuple[Method, ...] = (DEFAULT,)) -> list[CodeSearchReport]:
    """Index the docstring-free corpus once per representation (in a temporary home unless
    `index_name` names one to keep, which makes re-runs cheap) and score every docstring
    query with each method. One report per method, in the order given."""
    from embedsearch.indexing import build_index
    from embedsearch.store import Index

    with tempfile.TemporaryDirectory(prefix="embedsearch-eval-") as tmp:
        corpus = Path(tmp) / "corpus"
        queries = prepare_corpus(paths, corpus, include_tests)
        if not queries:
            raise EmbedsearchError(f"no documented Python functions under {', '.join(paths)}")
        eval_home = home if index_name else Path(tmp) / "home"
        reports = []
        for method in methods:
            started = time.perf_counter()
            name = f"{index_name or 'codesearch'}-{method.representation}"
            build_index(name, [str(corpus)], eval_home, model=model, progress=progress,
                        representation=method.representation, lexical_weight=method.lexical_weight)
            index = Index(eval_home, name)
            try:
                hits, encoder_name = _answer(index, queries, k, exact, method)
                mrr, r1, rk, missed = _score(queries, hits, targets(index), k, misses)
                candidates = index.count
            finally:
                index.close()
            reports.append(CodeSearchReport(
                [str(p) for p in paths], len(queries), candidates, mrr, r1, rk,
                seconds=round(time.perf_counter() - started, 1), encoder=encoder_name, exact=exact,
                method=method.label, representation=method.representation,
                lexical_weight=method.lexical_weight, misses=missed))
    return reports


def targets(index: Index) -> dict[tuple[str, str], set[int]]:
    """(path, qualified name) -> the ids a query for that function or method should find."""
    found: dict[tuple[str, str], set[int]] = {}
    for row in index.db.execute("SELECT id, path, name FROM items WHERE kind IN ('function', 'method')"):
        found.setdefault((row[1], row[2]), set()).add(row[0])
    return found


def _answer(index, queries: list[Query], k: int, exact: bool, method: Method):
    """The hits for every query, ranked as `method` says (DEFAULT: as `embedsearch search`)."""
    from embedsearch.search import answer, nearest, query_encoder

    encoder = query_encoder(index)
    texts = [clean_query(q.text) if method.clean_queries else q.text for q in queries]
    vectors = encoder.encode(texts)
    if method.lexical_weight <= 0 and not method.fold_nested:  # plain dense HNSW, k deep
        return nearest(index, vectors, k, exact), encoder.name
    return [answer(index, t, v, k, method.lexical_weight, exact, fold=method.fold_nested, rerank=method.rerank)
            for t, v in zip(texts, vectors)], encoder.name


def _score(queries: list[Query], hits, targets, k: int, misses: int):
    """MRR@k, Recall@1, Recall@k, and the first `misses` queries whose target was not found."""
    rr, at1, atk, missed = 0.0, 0, 0, []
    for q, row in zip(queries, hits):
        want = targets.get((q.path, q.name), set())
        rank = next((h.rank for h in row if h.id in want), None)
        if rank is not None:
            rr += 1.0 / rank
            at1 += rank == 1
            atk += rank <= k
        elif len(missed) < misses:
            missed.append({"query": q.text, "wanted": q.name, "got": [h.name for h in row[:3]]})
    n = len(queries)
    return round(rr / n, 4), round(at1 / n, 4), round(atk / n, 4), missed
