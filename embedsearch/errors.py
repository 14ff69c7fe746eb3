"""The one exception family that means "the user asked for something we cannot do".

The CLI turns it into a single line on stderr and a non-zero exit; anything else is a bug
and is reported as such (with the traceback under --debug).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EmbedsearchError(Exception):
    """A problem the user can fix: bad input, unknown name, damaged index. The subclasses
    below let library code tell the common cases apart without reading the message."""


class UnknownName(EmbedsearchError):
    """No index, model, table, key or command of that name (the message suggests close ones)."""


class Busy(EmbedsearchError):
    """Another process is writing it; try again when that one finishes."""


class Damaged(EmbedsearchError):
    """Stored data failed a check (size, digest, format): `check` explains, `repair` fixes
    what it can."""


def suggest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Close matches for an unknown name: exact case-folded matches first, then fuzzy ones."""
    candidates = list(candidates)
    folded = [c for c in candidates if c.casefold() == name.casefold()]
    contains = [c for c in candidates if name.casefold() in c.casefold() and c not in folded]
    fuzzy = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    out: list[str] = []
    for c in folded + fuzzy + sorted(contains, key=len):
        if c not in out:
            out.append(c)
    return out[:n]


def unknown(what: str, name: str, candidates: Iterable[str]) -> EmbedsearchError:
    """An error for an unknown name that lists close matches, as every lookup should."""
    return UnknownName(f"unknown {what} {name!r}{did_you_mean(suggest(name, candidates))}")


def did_you_mean(close: list[str]) -> str:
    """The tail of an unknown-name message: "; did you mean 'a', 'b'?" (empty without any)."""
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
