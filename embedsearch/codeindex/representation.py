"""What text stands for a chunk: for the encoder, and for lexical (BM25) matching.

Measured on docstring-to-code search (bench/README.md, "Search quality"): putting the
chunk's kind and its qualified name split into words in front of the code
("method message parser parse" before `def parse(self, fp): ...`) raises MRR@10 by about a
tenth on its own, and fusing dense scores with BM25 over names, paths and identifiers
(split the same way) adds as much again. Representations are versioned: an index records
the one it was built with, and a change re-embeds.
"""

from __future__ import annotations

import ast
import hashlib
import re
import textwrap
from pathlib import Path

from embedsearch.chunking import PYTHON_SUFFIXES, Chunk, treesitter

NAMED = "named-v1"  # kind + split qualified name, then the code
SUMMARISED = "summarised-v1"  # the default: named-v1 blended with a summary (see summary_text)
PLAIN = "plain"  # the chunk's text as-is: the baseline every change is measured against
REPRESENTATIONS = (SUMMARISED, NAMED, PLAIN)
CODE_KINDS = ("function", "method", "class")  # chunks a summary can be written for
SUMMARY_WORDS = 60  # a summary's docstring part: MiniLM was trained on 128-token inputs

_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_NON_WORD = re.compile(r"[^A-Za-z0-9]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
STOPWORDS = frozenset(
    "a an the of to in for and or is are be by with from on as at it this that its if into "
    "return returns given use used".split())
# How people frame a question to a search box ("how do I ...", "which function ..."): no
# definition is named by these. Dropped from what the re-ranker reads as asked; kept in the
# BM25 query, where dropping them changed nothing measurable (bench/README.md, "Questions").
QUESTION_WORDS = frozenset("how do does can could should i my me we you what which where way function "
                           "method code want need python".split())


def words(text: str) -> str:
    """Identifiers split into lower-case words: parse_qsl -> "parse qsl", readLine ->
    "read line", HTTPServer -> "http server"."""
    text = _ACRONYM.sub(r"\1 \2", _CAMEL.sub(r"\1 \2", text))
    return " ".join(w.lower() for w in _NON_WORD.split(text) if w)


def embed_text(chunk: Chunk, representation: str = NAMED) -> str:
    """The main text the encoder sees for a chunk (the code, named)."""
    if representation == PLAIN or chunk.kind in ("record", "section", "cell", "window"):
        return chunk.text
    return f"{chunk.kind} {words(chunk.name)}\n{chunk.text}"


def embed_texts(chunk: Chunk, representation: str = NAMED) -> tuple[str, ...]:
    """Every text whose vectors are blended into a chunk's one stored vector: the main text,
    and under SUMMARISED, for a function, method or class, its summary too."""
    main = embed_text(chunk, representation)
    if representation == SUMMARISED and chunk.kind in CODE_KINDS:
        return main, summary_text(chunk)
    return (main,)


def summary_text(chunk: Chunk) -> str:
    """What a definition is for, in a sentence the encoder reads well: its kind and its
    qualified name in words, then its docstring's first paragraph without reST roles,
    backticks and directives ("function dumps: Serialize obj to a JSON formatted str."),
    or, with no docstring, its parameters in words ("function parse qs (qs keep blank
    values)").

    Why: a chunk's code text is up to 256 word pieces of signature, docstring detail and
    body, and MiniLM was trained on short inputs, so the chunk vector hardly sees what the
    function is for. A question asked with task words ("serialize an object to a JSON
    string") is far closer to this sentence (cosine 0.79 against 0.21 for json.dumps);
    blending the two vectors keeps what the code says and adds what it is for
    (bench/README.md, "Questions")."""
    doc, params = chunk.doc, chunk.params
    if (doc is None or params is None) and Path(chunk.path).suffix.lower() not in PYTHON_SUFFIXES and \
            treesitter.supports(chunk.path):  # rebuilt from stored rows: its leading doc comment
        doc, params = treesitter.chunk_doc(chunk.path, chunk.text), ()
    elif doc is None or params is None:  # rebuilt from stored rows: read the text
        from embedsearch.chunking.python import facts

        node = _definition(chunk.text)
        doc, params = facts(node) if node is not None else ("", ())
    head = f"{chunk.kind} {words(chunk.name)}"
    doc = first_paragraph(doc, SUMMARY_WORDS)
    if doc:  # parameter words would dilute the sentence: cosine 0.47 against 0.62 for json.dumps
        return f"{head}: {clean_query(doc)}"
    return f"{head} ({' '.join(words(p) for p in params)})" if params else head


def first_paragraph(doc: str, max_words: int | None = None) -> str:
    """A docstring's first paragraph on one line (at most `max_words` words): what
    CodeSearchNet uses as the query, and what a summary says a definition is for."""
    para = re.split(r"\n\s*\n", doc.strip(), maxsplit=1)[0]
    return " ".join(para.split()[:max_words])


def _definition(code: str) -> ast.AST | None:
    """The first def or class in a chunk's text. Methods are indented: dedented first, and
    where a string reaching column 0 defeats that, parsed inside an `if 1:` block."""
    for source, in_block in ((textwrap.dedent(code), False), ("if 1:\n" + code, True)):
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        body = tree.body[0].body if in_block and tree.body else tree.body
        return next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))), None)
    return None


_DEF = re.compile(r"^[ \t]*(?:async[ \t]+)?(?:def|class)\b", re.M)
_FIRST_STRING = re.compile(r"(?:[ \t]*(?:#[^\n]*)?\r?\n)*[ \t]*[rRuU]?[\"']")


def documented(code: str) -> bool:
    """Whether the first def or class in `code` starts its body with a string (a docstring).
    A scan, not a parse, because the re-ranker asks it of 30 candidates a query: past the
    signature (brackets balanced, strings and comments skipped) to the colon that ends it,
    then the first statement. Agrees with `ast.get_docstring` on every definition of the
    test corpus (tests/test_rerank.py)."""
    m = _DEF.search(code)
    if not m:
        return False
    depth, quote, i, end = 0, "", m.end(), min(len(code), m.end() + 4000)
    while i < end:
        ch = code[i]
        if quote:
            if ch == "\\":
                i += 1
            elif code.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
        elif ch in "\"'":
            quote = code[i:i + 3] if code[i:i + 3] in ('"""', "'''") else ch
            i += len(quote) - 1
        elif ch == "#":
            newline = code.find("\n", i)
            i = end if newline < 0 else newline - 1
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == ":" and depth == 0:
            return bool(_FIRST_STRING.match(code, i + 1))
        i += 1
    return False


def embed_hash(chunk: Chunk, representation: str = NAMED) -> str:
    """Decides whether a chunk's stored vector can be reused: same representation, same texts."""
    data = "\0".join((representation,) + embed_texts(chunk, representation)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:32]


def lexical_fields(path: str, name: str, text: str) -> tuple[str, str, str]:
    """(name words, path words, identifier words of the text) for the BM25 table."""
    return words(name), words(Path(path).stem), words(" ".join(_IDENT.findall(text)))


_DIRECTIVE = re.compile(r"\.\.\s+[A-Za-z-]+::.*")  # reST: .. versionchanged:: 2.0 ...
_ROLE = re.compile(r":(?:[A-Za-z]+:)*[A-Za-z]+:`~?!?([^`]*)`")  # reST: :meth:`~pkg.Class.run` -> pkg.Class.run
_TICKS = re.compile(r"`+")


def clean_query(query: str) -> str:
    """The query without reST/Markdown markup (roles, backticks, directives), which says
    nothing about what is wanted and adds noise words ("meth", "class") to both rankings.
    Left unchanged when nothing would remain."""
    text = _TICKS.sub("", _ROLE.sub(r"\1", _DIRECTIVE.sub(" ", query)))
    text = " ".join(text.split())
    return text or query


def lexical_terms(query: str) -> list[str]:
    """The query's content words (identifiers split too), once each: what BM25 matches,
    any of them; empty when nothing is left to match."""
    return [w for w in dict.fromkeys(words(query).split()) if w not in STOPWORDS and len(w) > 1]


def fts_query(terms: list[str]) -> str:
    """An FTS5 query matching any of `terms` (lexical_terms: letters and digits only)."""
    return " OR ".join(f'"{t}"' for t in terms)


def lexical_query(query: str) -> str | None:
    """The FTS5 query of `query`'s lexical_terms; None when nothing is left to match."""
    return fts_query(lexical_terms(query)) or None
