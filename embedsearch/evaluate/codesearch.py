"""Code search quality on any Python source tree, two ways.

Docstrings (the CodeSearchNet way): each documented function or method becomes a query
(the first paragraph of its docstring); the code that gets indexed is a copy with every
docstring removed, so a hit must come from the code itself.

Questions: hand-written questions from a TSV file (`question<TAB>path:name[,name]`, see
bench/questions/README.md) over the code as it is, docstrings kept: how people search.

The report gives MRR@10, Recall@1 and Recall@10.
"""

from __future__ import annotations

import ast
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from embedsearch.chunking.python import definitions
from embedsearch.errors import EmbedsearchError
from embedsearch.codeindex.indexing import LEXICAL_WEIGHT
from embedsearch.codeindex.representation import PLAIN, SUMMARISED, clean_query, first_paragraph
from embedsearch.walk import discover

if TYPE_CHECKING:
    from embedsearch.codeindex.store import Index

TEST_PATTERNS = ["test/", "tests/", "test_*.py", "*_test.py", "site-packages/"]
MIN_QUERY_WORDS = 3
DEFAULT_LABEL = "default"


@dataclass
class Query:
    """A query and where its answer is: a file (absolute, or relative to an indexed folder)
    and the qualified names that count as right there."""

    text: str
    path: str
    names: tuple[str, ...]


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
    queries_from: str = "docstrings"  # or the questions file
    representation: str = ""
    lexical_weight: float = 0.0
    misses: list[dict] = field(default_factory=list)
    ranks: list[int | None] = field(default_factory=list)  # each query's first right answer, None past k

    def as_dict(self) -> dict:
        return asdict(self)


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
    try:
        nodes = [(tree, "", "module")] + list(definitions(tree))
    except RecursionError:  # generated code nested deeper than the recursion limit
        return None
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
        queries.extend(Query(q, str(copy), (name,)) for name, q in file_queries)
    return queries


def query_key(text: str) -> str:
    """What makes two queries the same one: the words, case and spacing aside."""
    return " ".join(text.lower().split())


def docstring_texts(paths: list[str], include_tests: bool = False) -> set[str]:
    """The query_keys of the docstring queries `prepare_corpus` would make of `paths`
    (without writing the copies): what a leakage guard compares between training,
    validation and held-out corpora, which vendored or copied code can share verbatim."""
    out: set[str] = set()
    for path in discover(paths, exclude=[] if include_tests else TEST_PATTERNS).files:
        if path.suffix != ".py":
            continue
        try:
            result = strip_docstrings(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
        if result is not None:
            out.update(query_key(q) for _, q in result[1])
    return out


def read_questions(path: str | Path) -> list[Query]:
    """The questions of a TSV file: `question<TAB>path:name[,name]` per line, `#` comments.
    Bad lines are reported with their line numbers, all at once."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()  # -sig: a BOM from a Windows editor
    except (OSError, UnicodeDecodeError) as exc:
        raise EmbedsearchError(f"cannot read questions file {path}: {exc}") from None
    queries, bad = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        question, _, answer = line.partition("\t")
        file, _, names = answer.strip().rpartition(":")
        names = tuple(n.strip() for n in names.split(",") if n.strip())
        if not question.strip() or not file or not names:
            bad.append(n)
            continue
        queries.append(Query(question.strip(), file, names))
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
        raise EmbedsearchError(f"{path}: line(s) {shown} are not 'question<TAB>path:name[,name]'")
    if not queries:
        raise EmbedsearchError(f"{path} holds no questions")
    return queries


@dataclass(frozen=True)
class Method:
    """One way of searching: how chunks are represented, how much BM25 is fused in, whether
    queries lose their markup, the best candidates are re-ranked (rerank.py) and nested
    functions fold into their enclosing ones, and whether queries pass the query adapter
    (adapter.py) where one fits the index."""

    label: str
    representation: str
    lexical_weight: float
    clean_queries: bool = False
    fold_nested: bool = False
    rerank: bool = False
    adapt: bool = True


DEFAULT = Method(DEFAULT_LABEL, SUMMARISED, LEXICAL_WEIGHT, clean_queries=True, fold_nested=True, rerank=True)  # = `search`
BASELINE = Method("baseline (plain dense)", PLAIN, 0.0)


def evaluate(paths: list[str], home: Path | None = None, index_name: str | None = None,
             model: str | None = None, k: int = 10, exact: bool = False, include_tests: bool = False,
             progress=None, misses: int = 0, methods: tuple[Method, ...] = (DEFAULT,),
             questions: list[Query] | None = None, questions_from: str = "questions",
             exclude_texts: set[str] | frozenset[str] = frozenset()) -> list[CodeSearchReport]:
    """Score every query with each method; one report per method, in the order given.
    Queries whose query_key is in `exclude_texts` (text a ranking was fit or chosen on)
    are left out, so a held-out score never counts a question the ranking has seen.

    Without `questions`, the queries are the docstrings and the index is of a docstring-free
    copy of `paths`; with questions (read_questions), they are asked of `paths` as they are.
    The corpus is indexed once per representation, in a temporary home unless `index_name`
    names one to keep (re-runs then embed nothing new)."""
    from embedsearch.codeindex.indexing import build_index
    from embedsearch.codeindex.store import Index

    with tempfile.TemporaryDirectory(prefix="embedsearch-eval-") as tmp:
        if questions is None:
            corpus = [str(Path(tmp) / "corpus")]
            queries = prepare_corpus(paths, Path(corpus[0]), include_tests)
            queries = [q for q in queries if query_key(q.text) not in exclude_texts]
            if not queries:
                raise EmbedsearchError(f"no documented Python functions under {', '.join(paths)}")
        else:
            corpus = [str(Path(p).expanduser().absolute()) for p in paths]
            queries = questions
        eval_home = home if index_name else Path(tmp) / "home"
        base = (index_name or "codesearch") + ("" if questions is None else "-questions")
        reports = []
        for method in methods:
            started = time.perf_counter()
            name = f"{base}-{method.representation}"
            exclude = [] if questions is None or include_tests else TEST_PATTERNS  # the copy has no tests
            build_index(name, corpus, eval_home, model=model, progress=progress, exclude=exclude, replace=True,
                        representation=method.representation, lexical_weight=method.lexical_weight)
            index = Index(eval_home, name)
            try:
                wanted = answers(index, queries, strict=questions is not None, fold=method.fold_nested)
                hits, encoder_name = _answer(index, queries, k, exact, method)
                mrr, r1, rk, missed, ranks = _score(queries, hits, wanted, k, misses)
                candidates = index.count
            finally:
                index.close()
            reports.append(CodeSearchReport(
                [str(p) for p in paths], len(queries), candidates, mrr, r1, rk,
                seconds=round(time.perf_counter() - started, 1), encoder=encoder_name, exact=exact,
                method=method.label, queries_from="docstrings" if questions is None else questions_from,
                representation=method.representation, lexical_weight=method.lexical_weight, misses=missed,
                ranks=ranks))
    return reports


def answers(index: Index, queries: list[Query], strict: bool = False, fold: bool = False) -> list[set[int]]:
    """For each query, the ids of the indexed definitions that answer it: same qualified
    name, in the query's file (the same path, or one ending in it: `json/__init__.py`, or
    `__init__.py` where that is enough to tell). With `fold`, a function nested in another
    is answered by its outermost owner, as a folding search shows it. With `strict`, a
    query none of whose names is in the index is an error that names it (a typo in a
    questions file would otherwise just count as a miss)."""
    by_name: dict[str, list[tuple[int, str]]] = {}
    for row in index.definitions():
        by_name.setdefault(row[2], []).append((row[0], row[1]))
    out, unknown_targets = [], []
    for q in queries:
        tail = "/" + (q.path[2:] if q.path.startswith("./") else q.path.lstrip("/"))
        found = {i for n in q.names for i, p in by_name.get(n, ()) if p == q.path or p.endswith(tail)}
        if not found:
            unknown_targets.append(f"{q.path}:{','.join(q.names)}")
        out.append(found)
    if strict and unknown_targets:
        shown = "; ".join(unknown_targets[:5]) + (f" and {len(unknown_targets) - 5} more" if len(unknown_targets) > 5 else "")
        raise EmbedsearchError(f"{len(unknown_targets)} answer(s) are not defined in index {index.name!r}: {shown} "
                               f"(paths are relative to an indexed folder, names are qualified: Class.method)")
    if fold:
        outer = index.outermost_functions(sorted({i for ids in out for i in ids}))
        out = [{outer.get(i, i) for i in ids} for ids in out]
    return out


def _answer(index, queries: list[Query], k: int, exact: bool, method: Method):
    """The hits for every query, ranked as `method` says (DEFAULT: as `embedsearch search`)."""
    from embedsearch.codeindex.search import answer, nearest, query_encoder, query_vectors

    encoder = query_encoder(index)
    texts = [clean_query(q.text) if method.clean_queries else q.text for q in queries]
    vectors = query_vectors(index, encoder, texts, adapt=method.adapt)
    if method.lexical_weight <= 0 and not method.fold_nested:  # plain dense HNSW, k deep
        return nearest(index, vectors, k, exact), encoder.info.name
    return [answer(index, t, v, k, method.lexical_weight, exact, fold=method.fold_nested, rerank=method.rerank)
            for t, v in zip(texts, vectors)], encoder.info.name


def _score(queries: list[Query], hits, wanted: list[set[int]], k: int, misses: int):
    """MRR@k, Recall@1, Recall@k, the first `misses` queries whose target was not found,
    and each query's rank of its first right answer (None when not in the top k)."""
    rr, at1, atk, missed, ranks = 0.0, 0, 0, [], []
    for q, row, want in zip(queries, hits, wanted):
        rank = next((h.rank for h in row if h.id in want), None)
        ranks.append(rank)
        if rank is not None:
            rr += 1.0 / rank
            at1 += rank == 1
            atk += rank <= k
        elif len(missed) < misses:
            missed.append({"query": q.text, "wanted": ",".join(q.names), "got": [h.name for h in row[:3]]})
    n = len(queries)
    return round(rr / n, 4), round(at1 / n, 4), round(atk / n, 4), missed, ranks
