"""What text stands for a chunk: for the encoder, and for lexical (BM25) matching.

Measured on docstring-to-code search (bench/README.md, "Search quality"): putting the
chunk's kind and its qualified name split into words in front of the code
("method message parser parse" before `def parse(self, fp): ...`) raises MRR@10 by about a
tenth on its own, and fusing dense scores with BM25 over names, paths and identifiers
(split the same way) adds as much again. Representations are versioned: an index records
the one it was built with, and a change re-embeds.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from embedsearch.chunking import Chunk

NAMED = "named-v1"  # the default: kind + split qualified name, then the code
PLAIN = "plain"  # the chunk's text as-is: the baseline every change is measured against
REPRESENTATIONS = (NAMED, PLAIN)

_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_NON_WORD = re.compile(r"[^A-Za-z0-9]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
STOPWORDS = frozenset(
    "a an the of to in for and or is are be by with from on as at it this that its if into "
    "return returns given use used".split())


def words(text: str) -> str:
    """Identifiers split into lower-case words: parse_qsl -> "parse qsl", readLine ->
    "read line", HTTPServer -> "http server"."""
    text = _ACRONYM.sub(r"\1 \2", _CAMEL.sub(r"\1 \2", text))
    return " ".join(w.lower() for w in _NON_WORD.split(text) if w)


def embed_text(chunk: Chunk, representation: str = NAMED) -> str:
    """The text the encoder sees for a chunk."""
    if representation == PLAIN or chunk.kind in ("record", "section", "window"):
        return chunk.text
    return f"{chunk.kind} {words(chunk.name)}\n{chunk.text}"


def embed_hash(chunk: Chunk, representation: str = NAMED) -> str:
    """Decides whether a chunk's stored vector can be reused: same representation, same text."""
    data = f"{representation}\0{embed_text(chunk, representation)}".encode("utf-8", "surrogatepass")
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


def lexical_query(query: str) -> str | None:
    """An FTS5 query matching any of the query's content words (identifiers split too);
    None when nothing is left to match."""
    terms = [w for w in dict.fromkeys(words(query).split()) if w not in STOPWORDS and len(w) > 1]
    return " OR ".join(f'"{t}"' for t in terms) or None
