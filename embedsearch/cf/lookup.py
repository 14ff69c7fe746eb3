"""Finding a movie or a user by what a person types.

Titles are the keys, but nobody types "Silence of the Lambs, The (1991)". A query resolves,
in order, to: the exact key; the key equal ignoring case; the key equal ignoring case, the
year and a leading/trailing article ("The Silence of the Lambs" = "Silence of the Lambs,
The"); the only key that contains it. Several candidates, or none, is an error that lists them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from embedsearch.errors import EmbedsearchError, unknown

_YEAR = re.compile(r"\s*\(\d{4}\)\s*$")
_ARTICLE_END = re.compile(r",\s*(the|a|an|la|le|les|il|das|der|die|el)$")
_ARTICLE_START = re.compile(r"^(the|a|an|la|le|les|il|das|der|die|el)\s+")


def _plain(title: str) -> str:
    """Case-folded title without year, with a trailing ", The" moved to the front."""
    t = _YEAR.sub("", title.casefold().strip())
    m = _ARTICLE_END.search(t)
    if m:
        t = f"{m.group(1)} {t[: m.start()]}"
    return " ".join(t.split())


def resolve(query: str, keys: Sequence[str], what: str = "movie") -> int:
    """The row of the key the query names; an EmbedsearchError listing candidates otherwise."""
    if not query.strip():
        raise EmbedsearchError(f"empty {what} name")
    try:
        return list(keys).index(query)
    except ValueError:
        pass
    folded = query.casefold().strip()
    for stage in (
        lambda k: k.casefold() == folded,
        lambda k: _plain(k) == _plain(query),
    ):
        hits = [n for n, k in enumerate(keys) if stage(k)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            return _ambiguous(what, query, [keys[n] for n in hits])
    bare = _ARTICLE_START.sub("", _plain(query))
    hits = [n for n, k in enumerate(keys) if folded in k.casefold() or (bare and bare in _plain(k))]
    if len(hits) == 1:
        return hits[0]
    if hits:
        return _ambiguous(what, query, [keys[n] for n in hits])
    raise unknown(what, query, keys)


def _ambiguous(what: str, query: str, candidates: list[str]) -> int:
    shown = ", ".join(repr(c) for c in sorted(candidates)[:10])
    more = f" and {len(candidates) - 10} more" if len(candidates) > 10 else ""
    raise EmbedsearchError(f"{what} {query!r} is ambiguous; it matches {shown}{more}")


def resolve_user(user: str, keys: Sequence[str]) -> int:
    """The row of a user id (exact match only: ids are not guessed at)."""
    try:
        return list(keys).index(str(user).strip())
    except ValueError:
        raise unknown("user", str(user), keys) from None
